import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis import io
from analysis.panel import build, read_panel, write


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    dest = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        with io.atomic_path(dest) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_replaces_existing(tmp_path):
    dest = tmp_path / "a.txt"
    dest.write_text("old")
    io.write_text(dest, "new")
    assert dest.read_text() == "new" and len(list(tmp_path.iterdir())) == 1


def test_atomic_dir_keeps_previous_output_on_failure(tmp_path):
    out = tmp_path / "panel"
    write(build(seed=1), out)
    before = sorted(p.name for p in out.iterdir())
    original = (out / "panel.csv").read_text()

    class Boom(Exception):
        pass

    res = build(seed=2)
    res.report.write = lambda d: (_ for _ in ()).throw(Boom())  # fail half-way through writing
    with pytest.raises(Boom):
        write(res, out)
    assert sorted(p.name for p in out.iterdir()) == before
    assert (out / "panel.csv").read_text() == original
    assert [p.name for p in tmp_path.iterdir()] == ["panel"]  # no temp dirs left behind


def test_write_table_formats(tmp_path):
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y & z"]})
    paths = io.write_table(df, tmp_path / "t")
    assert {p.suffix for p in paths} == {".parquet", ".csv"}
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), df)


def test_outputs_are_readable_by_others_like_any_written_file(tmp_path):
    import os
    import stat

    from analysis import io

    mask = os.umask(0o022)
    try:
        f = io.write_text(tmp_path / "a.txt", "x")
        with io.atomic_dir(tmp_path / "d") as d:
            (d / "b.txt").write_text("y")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(f.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


# ----------------------------------------------------------------------------- crash debris (issue 13, class 7)


def _dead_pid() -> int:
    """The id of a process that has exited (so it cannot be writing anything)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_unfinished_temporaries_of_a_killed_run_are_removed(tmp_path, caplog):
    out = tmp_path / "panel"
    write(build(seed=1), out)
    before = (out / "panel.parquet").read_bytes()
    pid = _dead_pid()
    debris = [tmp_path / f".panel.tmp-{pid}-k3j2", tmp_path / ".panel.a1b2c3d4"]  # ours, and an older version's
    for d in debris:
        d.mkdir()
        (d / "panel.parquet").write_bytes(b"PAR1 half")  # an unreadable parquet
    with caplog.at_level(logging.INFO, logger="svi"):
        done = io.recover(out)
    assert len(done) == 2 and all(not d.exists() for d in debris)
    assert "unfinished output" in caplog.text and str(pid) in caplog.text
    assert (out / "panel.parquet").read_bytes() == before
    # a single file's temporary (e.g. fit/posterior.nc) is removed by the next writer of that file
    single = tmp_path / f".gate.json.tmp-{pid}-xyz.json"
    single.write_text("half")
    io.write_json(tmp_path / "gate.json", {"passed": True})
    assert not single.exists() and (tmp_path / "gate.json").exists()


def test_kill_between_the_two_renames_restores_the_previous_output(tmp_path, caplog):
    out = tmp_path / "panel"
    write(build(seed=1), out)
    before = (out / "panel.parquet").read_bytes()
    pid = _dead_pid()
    os.replace(out, tmp_path / f".panel.old-{pid}")  # the state a kill between the renames leaves
    (tmp_path / f".panel.tmp-{pid}-abcd").mkdir()
    with caplog.at_level(logging.INFO, logger="svi"):
        panel = read_panel(out)  # a reader recovers it too
    assert len(panel) == 129 and (out / "panel.parquet").read_bytes() == before
    assert "restored" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["panel"]


def test_old_copy_beside_a_complete_new_output_is_removed(tmp_path):
    out = tmp_path / "panel"
    write(build(seed=1), out)
    old = tmp_path / f".panel.old-{_dead_pid()}"
    shutil.copytree(out, old)
    write(build(seed=2), out)  # the next writer cleans up first
    assert not old.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["panel"]


def test_a_live_writers_temporaries_are_left_alone(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        tmp = tmp_path / f".panel.tmp-{child.pid}-live"
        tmp.mkdir()
        assert io.recover(tmp_path / "panel") == [] and tmp.exists()
    finally:
        child.kill()
        child.wait()


def test_sigkill_while_writing_then_next_run_cleans_up(tmp_path, capsys):
    """A real SIGKILL in the middle of writing a panel directory."""
    out = tmp_path / "panel"
    write(build(seed=1), out)
    code = ("import sys, time; from analysis import io\n"
            f"with io.atomic_dir({str(out)!r}, owner='svi data build') as t:\n"
            "    (t / 'panel.parquet').write_bytes(b'PAR1 half written')\n"
            "    print('ready', flush=True); time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[2])
    assert child.stdout.readline().strip() == "ready"
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert any(p.name.startswith(f".panel.tmp-{child.pid}-") for p in tmp_path.iterdir())
    from analysis.cli import main

    assert main(["data", "build", "--out", str(out)]) == 0
    assert "svi: note: removed" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["panel"]

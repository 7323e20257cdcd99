import pandas as pd
import pytest

from analysis import io
from analysis.panel import write, build


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

"""The panel's output directory: `--out` never deletes what `svi data build` did not write (issue 13, class 1), and
the same data give byte-identical outputs from any path (class 8)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from analysis import io
from analysis.cli import main
from analysis.errors import OutputError
from analysis.panel import build_and_write
from tests.analysis.rawfixture import make_raw, relax_minimums


def _tree(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------- class 1: --out never loses data

def _results_dir(root: Path) -> Path:
    out = root / "results"
    for part in ("fit", "tables", "reports"):
        (out / part).mkdir(parents=True)
    (out / "fit" / "posterior.nc").write_bytes(b"the user's fit")
    (out / "tables" / "value_index.csv").write_text("org_code\nRAA\n")
    return out


def test_results_directory_as_out_is_refused(tmp_path, capsys):
    out = _results_dir(tmp_path)
    before = _tree(out)
    assert main(["data", "build", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "results directory" in err and "fit/posterior.nc" in err and f"{out / 'panel'}" in err
    assert "Nothing was changed" in err and "Traceback" not in err
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # no temporary directory left beside it


def test_ordinary_file_as_out_is_refused(tmp_path, capsys):
    f = tmp_path / "notes.txt"
    f.write_text("precious")
    assert main(["data", "build", "--out", str(f)]) == 2
    assert "is an existing file" in capsys.readouterr().err
    assert f.read_text() == "precious"
    # a file where a parent directory should be
    assert main(["data", "build", "--out", str(f / "panel")]) == 2
    assert f.read_text() == "precious"


def test_foreign_directory_is_refused_and_empty_one_accepted(tmp_path, capsys):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "thesis.docx").write_bytes(b"x")
    assert main(["data", "build", "--out", str(d)]) == 2
    assert "thesis.docx" in capsys.readouterr().err
    assert (d / "thesis.docx").read_bytes() == b"x"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["data", "build", "--out", str(empty)]) == 0
    assert (empty / "panel.parquet").exists()


def test_own_panel_is_replaced_but_not_files_added_to_it(tmp_path, capsys):
    out = tmp_path / "panel"
    assert main(["data", "build", "--out", str(out)]) == 0
    marker = json.loads((out / io.MARKER).read_text())
    assert marker["written_by"] == "svi data build" and "panel.parquet" in marker["files"]
    assert main(["data", "build", "--out", str(out), "--seed", "3"]) == 0  # ours: replaced
    (out / "my_notes.md").write_text("keep me")
    capsys.readouterr()
    assert main(["data", "build", "--out", str(out)]) == 2
    assert "my_notes.md" in capsys.readouterr().err
    assert (out / "my_notes.md").read_text() == "keep me"


def test_panel_of_an_older_version_is_recognised(tmp_path):
    out = tmp_path / "panel"
    build_and_write(out=out)
    (out / io.MARKER).unlink()  # as written before the marker existed
    build_and_write(out=out, seed=5)
    assert (out / io.MARKER).exists()
    (out / io.MARKER).unlink()
    (out / "stray.txt").write_text("x")  # not only panel files: not recognised as a panel
    with pytest.raises(OutputError):
        build_and_write(out=out)


def test_run_writes_only_its_parts_of_a_results_directory(tmp_path):
    out = _results_dir(tmp_path)
    assert main(["run", "--out", str(out), "--no-fit"]) == 0
    assert (out / "fit" / "posterior.nc").read_bytes() == b"the user's fit"
    assert (out / "tables" / "value_index.csv").exists() and (out / "panel" / "panel.parquet").exists()


def test_other_owners_directories_are_refused(tmp_path):
    d = tmp_path / "tables"
    with io.atomic_dir(d, owner="svi fit/summarise") as tmp:
        (tmp / "a.csv").write_text("1")
    with pytest.raises(OutputError, match="written by svi fit/summarise, not by svi data build"):
        with io.atomic_dir(d, owner="svi data build"):
            pass
    assert (d / "a.csv").read_text() == "1"


# ----------------------------------------------------------------------------- class 8: path independence

def test_same_data_from_another_path_gives_identical_files(tmp_path, monkeypatch):
    relax_minimums(monkeypatch)
    a = make_raw(tmp_path / "here")
    b = tmp_path / "elsewhere" / "deeper" / "copy"
    shutil.copytree(a, b)
    build_and_write(a, tmp_path / "out_a")
    monkeypatch.chdir(tmp_path / "elsewhere")
    build_and_write(Path("deeper/copy"), Path("out_b"))  # relative paths, another working directory
    ta, tb = _tree(tmp_path / "out_a"), _tree(tmp_path / "elsewhere" / "out_b")
    assert ta == tb
    text = b"".join(ta.values()).decode("utf-8", "replace")
    assert str(tmp_path) not in text and "deeper" not in text


def test_manifest_records_inputs_not_paths(tmp_path, monkeypatch):
    relax_minimums(monkeypatch)
    raw = make_raw(tmp_path / "d")
    build_and_write(raw, tmp_path / "p")
    doc = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert "data_dir" not in doc
    tp = doc["inputs"]["trustpulse/trust_profiles.csv"]
    assert tp["rows"] == 4 and len(tp["sha256"]) == 64
    assert all(not os.path.isabs(k) for k in doc["inputs"])


def test_build_twice_is_byte_identical(tmp_path, monkeypatch):
    relax_minimums(monkeypatch)
    raw = make_raw(tmp_path / "d")
    build_and_write(raw, tmp_path / "p1")
    build_and_write(raw, tmp_path / "p2")
    assert _tree(tmp_path / "p1") == _tree(tmp_path / "p2")

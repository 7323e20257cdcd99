"""Quarto documents: plain Quarto sources, shortcodes, and the Quarto engine (a fake ``quarto`` on PATH)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from analysis.errors import SVIError
from tests.analysis.report.conftest import REPO, _lookup

pytest.importorskip("typst")
pytest.importorskip("pypandoc")
pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed")

from analysis import report as rep  # noqa: E402


# ----------------------------------------------------------------------------- sources

def test_qmd_sources_are_plain_quarto():
    for name in ("methodology.qmd", "slide.qmd", "appendix.qmd", "handout.qmd"):
        text = (REPO / "papers" / name).read_text()
        front, body = rep.read_qmd(REPO / "papers" / name)
        assert "params" in front and front["metadata-files"] == ["_data.yml"]
        assert "typst" in front["format"]
        assert not re.search(r"```\{(python|r|julia|ojs)", text)  # no executable cells: no Jupyter needed
        kinds = set(re.findall(r"\{\{<\s*(\w+)", body))
        assert kinds <= {"meta", "include"}


def test_shortcodes_resolve_and_unknown_keys_fail(tmp_path):
    (tmp_path / "t.md").write_text("included {{< meta svi.a >}}\n")
    meta = {"svi": {"a": "Ashby \\& Vale", "b": "2"}}
    out = rep.resolve_shortcodes("x {{< meta svi.b >}} {{< include t.md >}}", meta, tmp_path)
    assert out == "x 2 included Ashby \\& Vale\n"
    with pytest.raises(SVIError, match="svi.c"):
        rep.resolve_shortcodes("{{< meta svi.c >}}", meta, tmp_path)
    with pytest.raises(SVIError, match="not supported"):
        rep.resolve_shortcodes("{{< video x >}}", meta, tmp_path)

def test_quarto_path_renders_through_quarto(quarto_run):
    out, code, written, calls = quarto_run
    assert written["engine"] == "quarto"
    got = sorted((Path(c["cwd"]).name, *c["args"]) for c in calls)
    assert got == sorted([
        ("paper", "render", "methodology.qmd", "--to", "html"),
        ("paper", "render", "methodology.qmd", "--to", "typst"),
        (code, "render", "slide.qmd", "--to", "typst"),
        (code, "render", "appendix.qmd", "--to", "typst"),
        (code, "render", "handout.qmd", "--to", "typst"),
    ])
    for c in calls:  # run where the staged source is, on that source
        assert (c["tree"] / c["args"][1]).is_file()
        assert Path(c["cwd"]).name == ("paper" if c["args"][1] == "methodology.qmd" else code)
    # each output collected from Quarto's output file and moved into place
    reports = out / "reports"
    assert (reports / "methodology.html").read_text() == "<html>fake quarto: methodology.qmd --to html\n"
    assert (reports / "methodology.pdf").read_text() == "%PDF-1.4\n% fake quarto: methodology.qmd --to typst\n"
    for kind in ("slide", "appendix", "handout"):
        f = reports / "appendices" / f"{code}_{kind}.pdf"
        assert f in written["appendices"]
        assert f.read_text() == f"%PDF-1.4\n% fake quarto: {kind}.qmd --to typst\n"
        assert f.stat().st_mode & 0o044
    assert not (reports / "appendices" / f"appendix-{code}.pdf").exists()
    assert [p for p in reports.rglob("*") if p.name.startswith(".")] == []


def test_staged_quarto_sources_are_self_contained(quarto_run):
    """What Quarto receives: front matter that parses as YAML, and every include, meta key, image and metadata file
    present in the directory it runs in (with the values also inlined into the front matter)."""
    import yaml

    out, code, _, calls = quarto_run
    seen = set()
    for c in calls:
        tree, name = c["tree"], c["args"][1]
        seen.add(name)
        text = (tree / name).read_text(encoding="utf-8")
        m = re.match(r"\A---\n(.*?)\n---\n", text, re.S)
        assert m, name
        front = yaml.safe_load(m.group(1))
        assert isinstance(front, dict) and "typst" in front["format"]
        from_files: dict = {}
        for f in front.get("metadata-files", []):
            assert (tree / f).is_file(), (name, f)
            from_files.update(yaml.safe_load((tree / f).read_text(encoding="utf-8")))
        for d in front.get("font-paths", []):
            assert Path(d).is_dir()
        if name != "methodology.qmd":
            assert front["params"]["trust"] == code
        n_meta = 0

        def walk(body: str, depth: int = 0) -> None:
            nonlocal n_meta
            assert depth < 5
            for kind, arg in re.findall(r"\{\{<\s*(\w+)\s+([^>]*?)\s*>\}\}", body):
                arg = arg.strip("\"'")
                if kind == "include":
                    assert (tree / arg).is_file(), (name, arg)
                    walk((tree / arg).read_text(encoding="utf-8"), depth + 1)
                else:
                    assert kind == "meta", (name, kind)
                    for meta in (front, from_files):  # inlined, and in _data.yml
                        assert not isinstance(_lookup(meta, arg), (dict, list)), (name, arg)
                    n_meta += 1
            # images resolve from the document's directory (an include is pasted into the document)
            for target in re.findall(r"!\[[^\]]*\]\(<?([^)>\s]+)>?\)", body):
                assert (tree / target).is_file(), (name, target)

        walk(text[m.end():])
        assert n_meta > 10, name
    assert seen == {"methodology.qmd", "slide.qmd", "appendix.qmd", "handout.qmd"}
    paper = next(c["tree"] for c in calls if c["args"][1] == "methodology.qmd")
    assert (paper / "validation" / "sbc_ranks.png").is_file() and (paper / "claims" / "claim_fig.png").is_file()
    assert "validation/sbc_ranks.png" in (paper / "_generated" / "validation.md").read_text()


def test_quarto_failure_leaves_outputs_alone(with_manifests, chosen, fake_quarto, tmp_path, monkeypatch):
    out = tmp_path / "res"
    for part in ("panel", "fit", "tables"):
        shutil.copytree(with_manifests[0] / part, out / part)
    code = next(iter(chosen))
    slide = out / "reports" / "appendices" / f"{code}_slide.pdf"
    slide.parent.mkdir(parents=True)
    slide.write_text("previous")
    monkeypatch.setenv("FAKE_QUARTO_FAIL", "1")
    with pytest.raises(SVIError, match=r"quarto render slide\.qmd --to typst failed:[\s\S]*told to fail"):
        rep.report(out, trusts=[code], paper=False)
    assert slide.read_text() == "previous"
    assert [p for p in (out / "reports").rglob("*") if p.name.startswith(".")] == []
    # SVI_REPORT_ENGINE=quarto without Quarto on PATH is an error, not a silent fallback
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("SVI_REPORT_ENGINE", "quarto")
    with pytest.raises(SVIError, match="not on PATH"):
        rep.quarto_path()

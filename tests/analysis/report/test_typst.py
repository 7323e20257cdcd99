"""The in-process engine: Markdown through pandoc into Typst and HTML."""

from __future__ import annotations

import html
import shutil

import pytest

from tests.analysis.report.conftest import pdf_text

pytest.importorskip("typst")
pytest.importorskip("pypandoc")
pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed")

from analysis import report as rep  # noqa: E402


def test_special_characters_survive_typst_and_html(tmp_path):
    name = "St O'Brien's & Vale <Children> *NHS* [Trust] #1 $5 @home_100% 1. | \\ ~x^"
    body = f"# {rep.md(name)}\n\nTrust: {rep.md(name)}\n"
    typ = tmp_path / "t.typ"
    typ.write_text(rep.typst_preamble({}, {}) + rep.md_to_typst(body))
    pdf = tmp_path / "t.pdf"
    pdf.write_bytes(rep.compile_typst(typ, tmp_path))
    text = pdf_text(pdf).replace("\u2018", "'")
    assert f"Trust: {name}" in text
    page = rep.md_to_html(body, {"title": "T"}, tmp_path, False).replace("\u2019", "'")
    assert html.escape(name, quote=False) in page

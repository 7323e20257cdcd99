"""Text formatting."""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("typst")
pytest.importorskip("pypandoc")
pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed")

from analysis import report as rep  # noqa: E402


def test_display_name():
    assert rep.display_name("GUY'S AND ST THOMAS' NHS FOUNDATION TRUST") == "Guy's and St Thomas' NHS Foundation Trust"
    assert rep.display_name("THE QUEEN ELIZABETH HOSPITAL, KING'S LYNN, NHS FOUNDATION TRUST") == \
        "The Queen Elizabeth Hospital, King's Lynn, NHS Foundation Trust"
    assert rep.display_name("Ashby & Vale Hospitals NHS Trust") == "Ashby & Vale Hospitals NHS Trust"

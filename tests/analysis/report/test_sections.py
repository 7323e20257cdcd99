"""The validation and claims sections of the paper, rendered from their manifests."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from analysis.errors import SVIError
from analysis.results import ResultsDir
from tests.analysis.report.conftest import WIDE_COLS, WIDE_ROWS, pdf_text

pytest.importorskip("typst")
pytest.importorskip("pypandoc")
pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed")

from analysis import report as rep  # noqa: E402


def test_paper_renders_manifests(with_manifests):
    out, wide = with_manifests
    written = rep.report(out)
    pdf, page = out / "reports" / "methodology.pdf", out / "reports" / "methodology.html"
    text = pdf_text(pdf)
    val = text[text.index("Validation asks"):text.index("Re-testing public claims Published")]
    start = text.index("Re-testing public claims Published")
    claims = text[start:text.index("Limitations", start)]
    # every item, in order, with its marker; the status paragraph counts them
    titles = ["Simulation-based calibration", "Agreement with NHS Digital's SHMI banding", "LOO cross-validation"]
    pos = [val.rindex(t) for t in titles]
    assert pos == sorted(pos)
    sbc, banding, loo = val[pos[0]:pos[1]], val[pos[1]:pos[2]], val[pos[2]:]
    assert "PASS" in sbc and "FAIL" in banding and "PASS" not in loo and "FAIL" not in loo
    assert "Rank statistics of 40 replications" in sbc and "Method" in sbc  # text, its heading nested
    assert "3 checks (1 passed, 1 failed, 1 without a pass/fail verdict)" in text
    assert "Validation has not been run" not in text and "have not been re-tested" not in text
    # the wide table: cut to 25 rows and 8 columns, said so, numbers as in the CSV
    assert (f"first 25 of {WIDE_ROWS} rows and first 8 of {WIDE_COLS} columns; full table in "
            "validation/sbc_ranks.csv") in sbc
    assert "col_7" in sbc and "col_8" not in sbc and "col_9" not in sbc
    assert "987,654" not in text
    lay = pdf_text(pdf, layout=True)
    for i in (0, 12, 24):
        cells = " ".join(rep.table_cell(x).replace("\u2212", "-") for x in wide.iloc[i, :8])
        assert cells.replace("\\", "") in lay, i
    assert "band" in banding and "higher 7" in lay and "as expected 101" in lay
    assert "SBC rank histogram: trust effects & peers' means" in sbc
    # claims: the same rendering
    assert "Ashby & Vale is England's best-value trust" in claims and "1 to 31" in claims
    assert "Rank interval of the claimed trust" in claims
    # the figures are in both outputs
    imgs = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True).stdout
    assert len([ln for ln in imgs.splitlines()[2:] if ln.strip()]) >= 2
    h = page.read_text()
    assert h.count("data:image/png;base64") >= 2
    assert ">PASS</span>" in h and ">FAIL</span>" in h
    assert written["paper"] == [page, pdf]


def test_manifest_markdown_edge_cases(with_manifests, tmp_path):
    out, _ = with_manifests
    res = rep.load_results(out)
    # an item naming a file outside its directory, or one that is missing, is reported, never read
    d = tmp_path / "validation"
    d.mkdir()
    (tmp_path / "secret.csv").write_text("a\n1\n")
    (d / "manifest.json").write_text(json.dumps({"producer": "svi validate", "items": [
        {"id": "x", "title": "Escape", "text": "t {{< meta svi.period >}}", "table": "../secret.csv",
         "figure": "gone.png", "passed": None}]}))
    res.manifests["validation"] = (d, ResultsDir(tmp_path).read_manifest("validation"))
    m = rep.manifest_markdown(res, "validation")
    assert "`validation/../secret.csv` named by the manifest is missing" in m
    assert "`validation/gone.png` named by the manifest is missing" in m
    assert "{{<" not in m  # producer text cannot smuggle in a shortcode
    # a directory without a manifest: not run, and why
    (d / "manifest.json").unlink()
    (d / "sbc_partial.csv").write_text("a\n1\n")
    res.manifests["validation"] = (d, None)
    m = rep.manifest_markdown(res, "validation")
    assert "has not been run" in m and "holds no `manifest.json`" in m
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(SVIError, match="cannot be read"):
        ResultsDir(tmp_path).read_manifest("validation")


def test_manifest_overview_shows_a_claims_verdict_and_a_checks_result():
    from analysis.report.sections import _result

    assert _result({"passed": None, "extra": {"verdict": "supported", "evidence": "strong evidence for"}}) == \
        "supported (strong evidence for)"
    assert _result({"passed": False, "extra": {"verdict": "supported"}}) == "**FAIL**"
    assert _result({"passed": True, "extra": {}}) == "**PASS**"
    assert _result({"passed": None}) == "no verdict"

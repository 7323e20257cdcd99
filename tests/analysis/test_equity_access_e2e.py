"""Issue 15, items 2 and 3b end to end: the readmissions Compendium file and the WLMDS waiting list by IMD decile, in
their official layouts (tests/fixtures/official), through `svi data fetch` -> `svi data build` -> `svi fit` ->
`svi report --trust`, to the text of one trust's board appendix: its readmissions row and its equity-of-access line,
with the numbers of the run's equity_access.csv."""

from __future__ import annotations

import re
import shutil
import subprocess

import pandas as pd
import pytest

from analysis.cli import main
from analysis.errors import SVIWarning
from analysis.report.equity import ACCESS_ABSENT, ACCESS_CAVEAT, latest_access
from analysis.report.text import num, signed
from analysis.variants import QUICK_SAMPLER
from tests.analysis.officialfixture import make_compilation, make_mirror
from tests.analysis.rawfixture import relax_minimums

#: A short fit of a 7-trust panel cannot pass the convergence gate, and a failed gate (rightly) stops the board
#: documents.  This test is of the data path to the page, not of convergence, so its config relaxes the gate; the
#: sampler settings are the short ones of the other fixture fits (analysis.variants.QUICK_SAMPLER).
CONFIG = ("[sampler]\n" + "".join(f"{k} = {v}\n" for k, v in QUICK_SAMPLER.items()) + "seed = 1\n"
          "[gate]\nrhat_max = 1000.0\ness_bulk_min = 1\ness_tail_min = 1\nmax_divergences = 1000000\n")


def _pdf_text(path) -> str:
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout
    out = out.replace("\u00ad", "").replace("\u2212", "-").replace("\u2019", "'")  # typeset minus and apostrophe
    return re.sub(r"\s+", " ", re.sub(r"-\n\s*", "-", out))


def _line(text: str, start: str, n: int = 2500) -> str:
    """``n`` characters of the page text from ``start`` (a page's running footer can fall inside a paragraph)."""
    i = text.index(start)
    return text[i:i + n]


@pytest.fixture
def run(tmp_path, monkeypatch):
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    relax_minimums(monkeypatch)
    data, mirror = make_compilation(tmp_path / "data"), make_mirror(tmp_path / "mirror")
    cache, out = tmp_path / "cache", tmp_path / "results"
    (tmp_path / "quick.toml").write_text(CONFIG)
    with pytest.warns(SVIWarning):  # unpinned downloads from the mirror
        assert main(["data", "fetch", "--cache-dir", str(cache), "--base-url", mirror.as_uri()]) == 0
    return {"data": data, "cache": cache, "out": out, "config": tmp_path / "quick.toml"}


def _build(run) -> None:
    out = run["out"]
    assert main(["data", "build", "--data-dir", str(run["data"]), "--cache-dir", str(run["cache"]), "--out",
                 str(out / "panel")]) == 0


def _report(run, code: str) -> str:
    out = run["out"]
    assert main(["report", "--out", str(out), "--trust", code, "--no-paper"]) == 0
    return _pdf_text(out / "reports" / "appendices" / f"{code}_appendix.pdf")


@pytest.mark.slow
def test_fixture_files_to_the_appendix_readmissions_row_and_equity_of_access_line(run):
    """About 3-6 minutes (one short fit).  Then the panel is rebuilt without the WLMDS file (the same panel: the
    table touches no column, so the fit still matches it) and the appendix says the breakdown was not in the data."""
    _build(run)
    assert main(["fit", "--panel", str(run["out"] / "panel"), "--out", str(run["out"]), "--config",
                 str(run["config"])]) == 0
    text = _report(run, "RZ1")
    # the readmissions row of the Health Alpha table, with the fitted ratio of the run's table
    ha = pd.read_parquet(run["out"] / "tables" / "health_alpha.parquet")
    rz1 = ha[(ha.org_code == "RZ1") & (ha.measure == "readmissions_ratio_to_expected")].iloc[0]
    row = _line(text, "Emergency readmissions (30 days): ratio to", 300)  # the label wraps inside its cell
    assert num(rz1["median"], 2) in row
    # the equity-of-access line, every number from the run's equity_access.csv
    table = pd.read_csv(run["out"] / "panel" / "equity_access.csv", keep_default_na=False, na_values=[""])
    r = latest_access(table).loc["RZ1"]
    line = _line(text, "Equity of access: who waits longer by deprivation.")
    for figure in (f"{num(100 * r.share_most_deprived, 1)}%", f"{num(100 * r.share_least_deprived, 1)}%",
                   f"a gap of {signed(r.gap_pp_median, 1)} points".replace("\u2212", "-"),
                   f"95% interval {signed(r.gap_pp_lo95, 1)} to {signed(r.gap_pp_hi95, 1)}".replace("\u2212", "-")):
        assert figure in line, figure
    assert r.gap_pp_hi95 < 0 and "most deprived patients wait longer" in line  # the fixture's RZ1: about -11 points
    assert "not need-adjusted" in line and ACCESS_CAVEAT.split(":")[0] in line

    # without the WLMDS file: one sentence saying so, the readmissions row still there
    for f in run["cache"].glob("WLMDS-*"):
        f.unlink()
    _build(run)
    assert not (run["out"] / "panel" / "equity_access.csv").exists()
    text = _report(run, "RZ1")
    line = _line(text, "Equity of access: who waits longer by deprivation.", 400)
    assert ACCESS_ABSENT in line and "Emergency readmissions (30 days): ratio to" in text

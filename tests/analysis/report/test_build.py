"""Rendered documents: the paper and each trust's board documents (opening slide, full appendix, one-page
handout), read back with ``pdftotext`` and compared with the result tables."""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest

from analysis import io
from analysis.cli import main
from models.config import load_config
from tests.analysis.report.conftest import GATE, money, page_size, pages, pdf_text

pytest.importorskip("typst")
pytest.importorskip("pypandoc")
pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed")

from analysis import report as rep  # noqa: E402


# ----------------------------------------------------------------------------- rendered documents

def test_paper(results, rendered, tables):
    pdf, page = results / "reports" / "methodology.pdf", results / "reports" / "methodology.html"
    assert pdf in rendered["paper"] and page in rendered["paper"]
    text = pdf_text(pdf)
    assert 5 <= pages(pdf) <= 18  # grows with sections (trend, equity, readmissions, period noise); catches runaways
    assert "convergence gate passed" in text and "synthetic" in text
    assert "1.0031" in text and "912" in text  # the gate's figures, from fit/gate.json
    # the fit's timing, in the words for its sampler (numpyro and PyMC compile inside sampling)
    assert rep.timing_text({"svi_compile_seconds": 12.5, "svi_sampling_seconds": 34.5},
                           load_config()["sampler"]["name"]) in " ".join(text.split())
    # no manifests in these results: both sections say so plainly, and name the command that fills them
    assert "Validation has not been run for these results" in text and "svi validate" in text
    assert "Public claims have not been re-tested for these results" in text and "svi claims" in text
    tv = tables["trapped_value"]
    # the headline is the sum of the care settings (posterior mean), the net figure beside it, each with a null
    eng = tv[tv.org_code == "ENGLAND"].set_index("setting")
    g, n = eng.loc["gross"], eng.loc["total"]
    flat = " ".join(text.split())
    assert f"£{g['mean']:,.0f}m a year (95% interval £{g.lo95:,.0f}m to £{g.hi95:,.0f}m; net of settings" in flat
    assert f"over all costs, £{n['mean']:,.0f}m)" in flat
    nr = tables["null_reference"].set_index("measure")
    assert f"estimation uncertainty alone gives £{nr.loc['trapped_value_gross', 'null_mean']:,.0f}m" in flat
    ad = tables["avoidable_deaths"]
    e = ad[ad.org_code == "ENGLAND"].iloc[0]
    d0 = nr.loc["avoidable_deaths"]
    assert (f"{e['mean']:,.0f} a year (95% interval {e.lo95:,.0f} to {e.hi95:,.0f}) against {d0.null_mean:,.0f} "
            f"({d0.null_lo95:,.0f} to {d0.null_hi95:,.0f}) if no trust truly differed") in flat
    # the priors table is the fitted config's: each indicator's scale, halved for the need effects
    pr = load_config()["priors"]
    assert "HalfNormal" in text and f"SHMI {pr['quality_scale']['shmi'] / 2:.3f}" in text
    assert f"ae {pr['cost_scale']['ae']:.3f}" in text
    for section in ("Data", "The model", "Health Alpha", "Value index", "Ranks", "Trapped value", "Diagnostics",
                    "Validation", "Re-testing public claims", "Limitations", "SHMI is not adjusted for deprivation"):
        assert section in text
    h = page.read_text()
    assert "<math" in h and "data:image/svg+xml" in h or "<svg" in h  # MathML, figures embedded
    assert "Validation has not been run" in h and "Public claims have not been re-tested" in h


RANK_CAVEAT = ("not the single", "Ranks move by chance")


def test_board_documents(results, rendered, chosen, tables):
    """Three files per trust: a two-page 16:9 slide (position; what to act on), the A4 appendix and a one-page A4
    handout."""

    rk = tables["ranks"].set_index(["scope", "org_code"])
    tv = tables["trapped_value"]
    adir = results / "reports" / "appendices"
    assert sorted(rendered["appendices"]) == sorted(adir / f"{c}_{k}.pdf" for c in chosen
                                                    for k in ("slide", "appendix", "handout"))
    for code, name in chosen.items():
        slide, full, handout = (adir / f"{code}_{k}.pdf" for k in ("slide", "appendix", "handout"))
        assert pages(slide) == 2 and pages(handout) == 1
        n = pages(full)
        assert 3 <= n <= 5, f"{code}: {n} pages"
        w, h = page_size(slide, 1)
        assert w / h == pytest.approx(16 / 9, rel=0.01)  # the opening slide: landscape 16:9
        for doc in (full, handout):  # A4 portrait
            assert page_size(doc, 1) == pytest.approx((595.3, 841.9), abs=0.5)
        st, ft, ht = pdf_text(slide), pdf_text(full), pdf_text(handout)
        for part in (st, ft, ht):
            assert name in part  # '&' and the apostrophe intact
        assert "board appendix" in ft.lower() and "Board pre-read" in ht  # the heading is the name; the line under it says what it is
        # ranks: printed as in the table, with a plain-English caveat on every page that shows one
        r = rk.loc[("national", code)]
        if pd.isna(r.rank_median):  # a specialist trust: ranked within its peer group only
            r = rk.loc[("peer group", code)]
            assert "not ranked" in st and "not ranked" in ht
        rank_text = f"{r.rank_median:.0f} of {r.n_ranked:.0f} (95% interval {r.rank_lo95:.0f} to {r.rank_hi95:.0f})"
        assert rank_text in st
        assert f"{r.rank_median:.0f} {r.rank_lo95:.0f} to {r.rank_hi95:.0f}" in pdf_text(handout, layout=True)
        for doc in (slide, full, handout):
            for p in range(1, pages(doc) + 1):
                pt = pdf_text(doc, p, p)
                if re.search(r"\brank\b", pt, re.I):
                    assert "interval" in pt and any(c in pt for c in RANK_CAVEAT), (doc.name, p)
        # trapped value: the slide's sentence, the handout's row and every setting's row in the appendix
        t = tv[(tv.org_code == code)].set_index("setting")
        head, net = t.loc["gross"], t.loc["total"]
        flat = " ".join(st.split())
        # a gap the same in every draw (a peer group without need covariates): no interval is printed
        known_rows = t[t["mean"].notna()]
        fixed = bool((known_rows.lo95 == known_rows.hi95).all() and (known_rows["mean"] > 0).any())
        if fixed:
            assert (f"{money(head['mean'])} a year over the care settings, from reported costs (no interval: see "
                    f"the appendix); net {money(net['mean'])}") in flat
            assert "95% interval" not in flat.split("Money that could be released")[1].split("Mortality")[0]
        else:
            assert (f"{money(head['mean'])} a year (95% interval {money(head.lo95)} to {money(head.hi95)}) over the "
                    f"care settings; net {money(net['mean'])}") in flat
            assert f"{money(head['mean'])} {money(head.lo95)} to {money(head.hi95)}" in pdf_text(handout, layout=True)
        fl = pdf_text(full, layout=True)
        for s in ("apc", "op", "ae", "gross", "total"):
            row = t.loc[s]
            if row.isna()["mean"]:
                continue
            assert ((f"{money(row['mean'])} none none") if fixed else
                    (f"{money(row['mean'])} {money(row.lo80)} to {money(row.hi80)} "
                     f"{money(row.lo95)} to {money(row.hi95)}")) in " ".join(fl.split()), (code, s)
        # the printed breakdown adds up to the printed headline (to rounding)
        printed = lambda x: float(money(x).strip("£m").replace(",", "")) if x == x else 0.0
        assert abs(sum(printed(t.loc[s, "mean"]) for s in ("apc", "op", "ae")) - printed(head["mean"])) <= 1.0


def test_specialist_has_no_shmi(results, rendered, chosen, tables):
    vi = tables["value_index"]
    spec = [c for c in chosen if vi[vi.org_code == c].size_class.iloc[0] == "specialist"][0]
    assert "has no published SHMI" in pdf_text(results / "reports" / "appendices" / f"{spec}_appendix.pdf")
    assert "no published SHMI" in pdf_text(results / "reports" / "appendices" / f"{spec}_slide.pdf")


def test_outputs_are_atomic_and_readable(results, rendered):
    leftovers = [p for p in (results / "reports").rglob("*") if p.name.startswith(".")]
    assert leftovers == []
    assert (results / "reports" / "methodology.pdf").stat().st_mode & 0o044


def test_cli_report(results, chosen, capsys):
    code = next(iter(chosen))
    assert main(["report", "--out", str(results), "--trust", code.lower(), "--no-paper"]) == 0
    out = capsys.readouterr().out
    for kind in ("slide", "appendix", "handout"):
        assert f"{code}_{kind}.pdf" in out
    assert "rendered with pandoc+typst" in out
    assert main(["report", "--out", str(results), "--trust", "NOPE"]) == 2
    assert "not in the results" in capsys.readouterr().err


def test_unpublishable_results(results, chosen, tmp_path, capsys):
    out = tmp_path / "bad"
    for part in ("panel", "fit", "tables"):
        shutil.copytree(results / part, out / part)
    (out / "tables" / "UNPUBLISHABLE").write_text("convergence gate FAILED: results are NOT publishable\n")
    io.write_json(out / "fit" / "gate.json", {**GATE, "passed": False, "max_rhat": 1.08, "failing": ["mu[large,shmi]"]})
    code = next(iter(chosen))
    with pytest.raises(rep.UnpublishableError, match="failed the convergence gate"):
        rep.report(out, trusts=[code])
    assert not (out / "reports" / "appendices").exists() or not any((out / "reports" / "appendices").iterdir())
    assert main(["report", "--out", str(out), "--all"]) == 2
    err = capsys.readouterr().err
    assert "failed the convergence gate" in err and "Traceback" not in err
    # the paper still renders, and says so loudly
    written = rep.report(out)
    text = pdf_text(written["paper"][1])
    assert "NOT PUBLISHABLE" in text and "FAILED THE CONVERGENCE GATE" in text
    assert "mu[large,shmi]" in text
    assert "NOT PUBLISHABLE" in written["paper"][0].read_text()

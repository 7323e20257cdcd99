"""`svi report`: the paper and trust appendices rendered from a constructed results directory (nothing samples).

The results directory is built here: the synthetic panel, a constructed posterior (known effects, small jitter) put
through ``analysis.summaries.summarise``, a passing gate.  The PDFs are read back with ``pdftotext`` and the numbers
printed are compared with the result tables.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest

from analysis import io
from analysis.cli import main
from analysis.errors import SVIError
from analysis.fitting import save_fit
from analysis.panel import build, write
from analysis.summaries import summarise
from models.config import load_config
from models.value_model import prepare

pytest.importorskip("typst")
pytest.importorskip("pypandoc")
pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed")

from analysis import report as rep  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SEED = 7
GATE = {"passed": True, "max_rhat": 1.0031, "min_ess_bulk": 912.4, "min_ess_tail": 655.2, "divergences": 0,
        "failing": [], "model_id": "testmodel0001"}


def _posterior(d, S: int = 300, seed: int = 0):
    """Each trust's effects and cost residuals fixed at known values, with a little per-draw noise."""
    rng = np.random.default_rng(seed)
    N, K, J = d.N, len(d.indicators), len(d.cost_outcomes)
    u = rng.normal(0, 0.08, (N, K))
    theta = np.log(np.where(d.observed, d.y, 1) / np.where(d.observed, d.n, 1))
    theta[:, 0] = np.log(np.nanmean(d.y[:, 0] / d.n[:, 0])) + u[:, 0]
    resid = rng.normal(0, 0.08, (N, J))  # cost residuals: some trusts well above their peers
    cost_exp = np.where(np.isnan(d.cost_y), 0, d.cost_y) - resid
    post = {"u": u[None, None] + rng.normal(0, 0.03, (1, S, N, K)),
            "theta": theta[None, None] + rng.normal(0, 0.01, (1, S, N, K)),
            "sd0": np.full((1, S, K), 0.1), "sd0_c": np.full((1, S, J), 0.08),
            "cost_expectation": cost_exp[None, None] + rng.normal(0, 0.02, (1, S, N, J))}
    return az.from_dict(posterior=post, dims={"u": ["trust", "indicator"], "theta": ["trust", "indicator"],
                                              "cost_expectation": ["trust", "cost_outcome"]})


@pytest.fixture(scope="module", autouse=True)
def in_process():
    """The in-process renderer (pandoc + Typst) even where Quarto is installed: that is the path tested here."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SVI_REPORT_ENGINE", "inprocess")
        yield


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("results")
    pr = write(build(None, SEED), out / "panel")
    cfg = load_config()
    d = prepare(pr.panel, cfg)
    idata = _posterior(d)
    idata.attrs.update({"svi_model_id": GATE["model_id"], "svi_config": json.dumps(cfg, default=str),
                        "svi_code_version": "test", "svi_compile_seconds": 12.5, "svi_sampling_seconds": 34.5,
                        "svi_gate": "convergence gate PASSED (test)"})
    save_fit(idata, out / "fit" / "posterior.nc")
    io.write_json(out / "fit" / "gate.json", GATE)
    for name, t in summarise(idata, d, cfg).items():
        io.write_table(t, out / "tables" / name)
    return out


@pytest.fixture(scope="module")
def tables(results) -> dict[str, pd.DataFrame]:
    return {n: pd.read_parquet(results / "tables" / f"{n}.parquet") for n in rep.TABLE_NAMES}


@pytest.fixture(scope="module")
def chosen(tables) -> dict[str, str]:
    """Three trusts: a name with '&', a name with an apostrophe, and a specialist trust (no SHMI)."""
    vi = tables["value_index"]
    info = vi[vi.measure == "value_index"].set_index("org_code")
    amp = info.index[info.org_name.str.contains("&") & (info.size_class != "specialist")][0]
    apo = info.index[info.org_name.str.contains("'")][0]
    spec = info.index[info.size_class == "specialist"][0]
    return {amp: info.org_name[amp], apo: info.org_name[apo], spec: info.org_name[spec]}


@pytest.fixture(scope="module")
def rendered(results, chosen) -> dict:
    return rep.report(results, trusts=list(chosen), paper=True)


def pdf_text(path: Path, first: int | None = None, last: int | None = None, layout: bool = False) -> str:
    """Text of the pages, in reading order (``layout=True``: by rows across the page, for tables)."""
    args = ["pdftotext"] + (["-layout"] if layout else []) + (["-f", str(first)] if first else []) + \
        (["-l", str(last)] if last else [])
    r = subprocess.run(args + [str(path), "-"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # typographic apostrophes and minus signs back to ASCII; whitespace runs (line wraps, columns) to one space
    t = r.stdout.replace("\u2019", "'").replace("\u2212", "-")
    return re.sub(r"\s+", " ", t)


def pages(path: Path) -> int:
    r = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True)
    return int(re.search(r"Pages:\s+(\d+)", r.stdout).group(1))


def page_size(path: Path, page: int) -> tuple[float, float]:
    r = subprocess.run(["pdfinfo", "-f", str(page), "-l", str(page), str(path)], capture_output=True, text=True)
    m = re.search(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)", r.stdout)
    return float(m.group(1)), float(m.group(2))


def money(x: float) -> str:
    return f"£{x:,.1f}m" if abs(x) < 99.95 else f"£{x:,.0f}m"


# ----------------------------------------------------------------------------- sources

def test_qmd_sources_are_plain_quarto():
    for name in ("methodology.qmd", "appendix.qmd"):
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


def test_display_name():
    assert rep.display_name("GUY'S AND ST THOMAS' NHS FOUNDATION TRUST") == "Guy's and St Thomas' NHS Foundation Trust"
    assert rep.display_name("THE QUEEN ELIZABETH HOSPITAL, KING'S LYNN, NHS FOUNDATION TRUST") == \
        "The Queen Elizabeth Hospital, King's Lynn, NHS Foundation Trust"
    assert rep.display_name("Ashby & Vale Hospitals NHS Trust") == "Ashby & Vale Hospitals NHS Trust"


# ----------------------------------------------------------------------------- rendered documents

def test_paper(results, rendered, tables):
    pdf, page = results / "reports" / "methodology.pdf", results / "reports" / "methodology.html"
    assert pdf in rendered["paper"] and page in rendered["paper"]
    text = pdf_text(pdf)
    assert 5 <= pages(pdf) <= 12
    assert "convergence gate passed" in text and "synthetic" in text
    assert "1.0031" in text and "912" in text  # the gate's figures, from fit/gate.json
    assert "Validation has not been run for these results" in text
    tv = tables["trapped_value"]
    eng = tv[(tv.org_code == "ENGLAND") & (tv.setting == "total")].iloc[0]
    assert f"£{eng['median']:,.0f}m a year (95% interval £{eng.lo95:,.0f}m to £{eng.hi95:,.0f}m)" in text
    ad = tables["avoidable_deaths"]
    e = ad[ad.org_code == "ENGLAND"].iloc[0]
    assert f"{e['median']:,.0f} a year (95% interval {e.lo95:,.0f} to {e.hi95:,.0f})" in text
    for section in ("Data", "The model", "Health Alpha", "Value index", "Ranks", "Trapped value", "Diagnostics",
                    "Validation", "Limitations", "SHMI is not adjusted for deprivation"):
        assert section in text
    h = page.read_text()
    assert "<math" in h and "data:image/svg+xml" in h or "<svg" in h  # MathML, figures embedded
    assert "Validation has not been run" in h


def test_appendices(results, rendered, chosen, tables):
    rk = tables["ranks"].set_index(["scope", "org_code"])
    tv = tables["trapped_value"]
    for code, name in chosen.items():
        pdf = results / "reports" / "appendices" / f"appendix-{code}.pdf"
        assert pdf in rendered["appendices"]
        n = pages(pdf)
        assert n == 6, f"{code}: {n} pages"
        w, h = page_size(pdf, 1)
        assert w / h == pytest.approx(16 / 9, rel=0.01)  # the opening slide
        assert page_size(pdf, 2)[1] > page_size(pdf, 2)[0]  # the appendix: A4 portrait
        slide, full, handout = pdf_text(pdf, 1, 1), pdf_text(pdf, 2, n - 1), pdf_text(pdf, n, n)
        for part in (slide, full, handout):
            assert name in part  # '&' and the apostrophe intact
        assert "Handout:" in handout and "Handout:" not in full
        # ranks: printed as in the table, with a plain-English caveat on every page that shows one
        r = rk.loc[("national", code)]
        rank_text = f"{r.rank_median:.0f} of {r.n_ranked:.0f} (95% interval {r.rank_lo95:.0f} to {r.rank_hi95:.0f})"
        assert rank_text in slide
        assert f"{r.rank_median:.0f} of {r.n_ranked:.0f} {r.rank_lo95:.0f} to {r.rank_hi95:.0f}" in \
            pdf_text(pdf, n, n, layout=True)
        for p in range(1, n + 1):
            t = pdf_text(pdf, p, p)
            if re.search(r"\brank\b", t, re.I):
                assert "interval" in t and ("not the single" in t or "Ranks move by chance" in t), (code, p)
        # trapped value: the slide's sentence and every setting's row in the appendix
        t = tv[(tv.org_code == code)].set_index("setting")
        tot = t.loc["total"]
        full = pdf_text(pdf, 2, n - 1, layout=True)
        assert (f"{money(tot['median'])} a year (95% interval {money(tot.lo95)} to {money(tot.hi95)})") in slide
        for s in ("total", "apc", "op", "ae"):
            row = t.loc[s]
            assert (f"{money(row['median'])} {money(row.lo80)} to {money(row.hi80)} "
                    f"{money(row.lo95)} to {money(row.hi95)}") in full, (code, s)


def test_specialist_has_no_shmi(results, rendered, chosen, tables):
    vi = tables["value_index"]
    spec = [c for c in chosen if vi[vi.org_code == c].size_class.iloc[0] == "specialist"][0]
    text = pdf_text(results / "reports" / "appendices" / f"appendix-{spec}.pdf")
    assert "has no published SHMI" in text


def test_outputs_are_atomic_and_readable(results, rendered):
    leftovers = [p for p in (results / "reports").rglob("*") if p.name.startswith(".")]
    assert leftovers == []
    assert (results / "reports" / "methodology.pdf").stat().st_mode & 0o044


def test_cli_report(results, chosen, capsys):
    code = next(iter(chosen))
    assert main(["report", "--out", str(results), "--trust", code.lower(), "--no-paper"]) == 0
    out = capsys.readouterr().out
    assert f"appendix-{code}.pdf" in out and "rendered with pandoc+typst" in out
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
    assert not (out / "reports" / "appendices" / f"appendix-{code}.pdf").exists()
    assert main(["report", "--out", str(out), "--all"]) == 2
    err = capsys.readouterr().err
    assert "failed the convergence gate" in err and "Traceback" not in err
    # the paper still renders, and says so loudly
    written = rep.report(out)
    text = pdf_text(written["paper"][1])
    assert "NOT PUBLISHABLE" in text and "FAILED THE CONVERGENCE GATE" in text
    assert "mu[large,shmi]" in text
    assert "NOT PUBLISHABLE" in written["paper"][0].read_text()

"""`svi report`: the paper and each trust's board documents (opening slide, full appendix, one-page handout)
rendered from a constructed results directory (nothing samples).

The results directory is built here: the synthetic panel, a constructed posterior (known effects, small jitter) put
through ``analysis.summaries.summarise``, a passing gate.  The PDFs are read back with ``pdftotext`` and the numbers
printed are compared with the result tables.  The validation and claims sections are rendered from fake manifests
(a small CSV and a matplotlib PNG), and the Quarto path is exercised with a fake ``quarto`` executable on PATH.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest

from analysis import io
from analysis.cli import main
from analysis.errors import SVIError
from analysis.fitting import save_fit
from analysis.manifest import Item, write_manifest
from analysis.panel import build, panel_hash, write
from analysis.results import ResultsDir
from analysis.summaries import derived_tables, summarise
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
                        "svi_gate": "convergence gate PASSED (test)", "svi_panel_hash": panel_hash(pr.panel)})
    save_fit(idata, out / "fit" / "posterior.nc")
    io.write_json(out / "fit" / "gate.json", GATE)
    tables = summarise(idata, d, cfg)
    tables.update(derived_tables(tables, pr.panel))
    for name, t in tables.items():
        io.write_table(t, out / "tables" / name)
    io.write_json(out / "tables" / "model.json", {"model_id": GATE["model_id"], "panel_hash": panel_hash(pr.panel)})
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
    # the fit's timing, in the words for its sampler (numpyro and PyMC compile inside sampling)
    assert rep.timing_text({"svi_compile_seconds": 12.5, "svi_sampling_seconds": 34.5},
                           load_config()["sampler"]["name"]) in " ".join(text.split())
    # no manifests in these results: both sections say so plainly, and name the command that fills them
    assert "Validation has not been run for these results" in text and "svi validate" in text
    assert "Public claims have not been re-tested for these results" in text and "svi claims" in text
    tv = tables["trapped_value"]
    eng = tv[(tv.org_code == "ENGLAND") & (tv.setting == "total")].iloc[0]
    assert f"£{eng['median']:,.0f}m a year (95% interval £{eng.lo95:,.0f}m to £{eng.hi95:,.0f}m)" in text
    ad = tables["avoidable_deaths"]
    e = ad[ad.org_code == "ENGLAND"].iloc[0]
    assert f"{e['median']:,.0f} a year (95% interval {e.lo95:,.0f} to {e.hi95:,.0f})" in text
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
    """Three files per trust: a one-page 16:9 slide, the A4 appendix and a one-page A4 handout."""
    rk = tables["ranks"].set_index(["scope", "org_code"])
    tv = tables["trapped_value"]
    adir = results / "reports" / "appendices"
    assert sorted(rendered["appendices"]) == sorted(adir / f"{c}_{k}.pdf" for c in chosen
                                                    for k in ("slide", "appendix", "handout"))
    for code, name in chosen.items():
        slide, full, handout = (adir / f"{code}_{k}.pdf" for k in ("slide", "appendix", "handout"))
        assert pages(slide) == 1 and pages(handout) == 1
        n = pages(full)
        assert n == 4, f"{code}: {n} pages"
        w, h = page_size(slide, 1)
        assert w / h == pytest.approx(16 / 9, rel=0.01)  # the opening slide: landscape 16:9
        for doc in (full, handout):  # A4 portrait
            assert page_size(doc, 1) == pytest.approx((595.3, 841.9), abs=0.5)
        st, ft, ht = pdf_text(slide), pdf_text(full), pdf_text(handout)
        for part in (st, ft, ht):
            assert name in part  # '&' and the apostrophe intact
        assert "board appendix" in ft and "Board pre-read" in ht
        # ranks: printed as in the table, with a plain-English caveat on every page that shows one
        r = rk.loc[("national", code)]
        rank_text = f"{r.rank_median:.0f} of {r.n_ranked:.0f} (95% interval {r.rank_lo95:.0f} to {r.rank_hi95:.0f})"
        assert rank_text in st
        assert f"{r.rank_median:.0f} of {r.n_ranked:.0f} {r.rank_lo95:.0f} to {r.rank_hi95:.0f}" in \
            pdf_text(handout, layout=True)
        for doc in (slide, full, handout):
            for p in range(1, pages(doc) + 1):
                pt = pdf_text(doc, p, p)
                if re.search(r"\brank\b", pt, re.I):
                    assert "interval" in pt and any(c in pt for c in RANK_CAVEAT), (doc.name, p)
        # trapped value: the slide's sentence, the handout's row and every setting's row in the appendix
        t = tv[(tv.org_code == code)].set_index("setting")
        tot = t.loc["total"]
        assert (f"{money(tot['median'])} a year (95% interval {money(tot.lo95)} to {money(tot.hi95)})") in st
        assert f"{money(tot['median'])} {money(tot.lo95)} to {money(tot.hi95)}" in pdf_text(handout, layout=True)
        fl = pdf_text(full, layout=True)
        for s in ("total", "apc", "op", "ae"):
            row = t.loc[s]
            assert (f"{money(row['median'])} {money(row.lo80)} to {money(row.hi80)} "
                    f"{money(row.lo95)} to {money(row.hi95)}") in fl, (code, s)


def test_specialist_has_no_shmi(results, rendered, chosen, tables):
    vi = tables["value_index"]
    spec = [c for c in chosen if vi[vi.org_code == c].size_class.iloc[0] == "specialist"][0]
    assert "has no published SHMI" in pdf_text(results / "reports" / "appendices" / f"{spec}_appendix.pdf")
    assert "has no published SHMI" in pdf_text(results / "reports" / "appendices" / f"{spec}_slide.pdf")


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


# ----------------------------------------------------------------------------- validation and claims manifests

WIDE_ROWS, WIDE_COLS = 30, 10


def _png(path: Path, colour: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 1.5))
    ax.bar([1, 2, 3], [3, 1, 2], color=colour)
    fig.savefig(path, dpi=60)
    plt.close(fig)


def fake_manifests(out: Path) -> pd.DataFrame:
    """A validation manifest of three items (PASS with a wide table and a figure; FAIL; no verdict) and a claims
    manifest of one; returns the wide table."""
    v = out / "validation"
    v.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    wide = pd.DataFrame({"parameter": [f"mu[g{i}]" for i in range(WIDE_ROWS)],
                         **{f"col_{j}": np.round(rng.normal(0, 1, WIDE_ROWS) * 10.0 ** (j - 3), 6)
                            for j in range(1, WIDE_COLS)}})
    wide.loc[WIDE_ROWS - 1, "col_4"] = 987654.0  # a row past the cut: must not be printed
    wide.to_csv(v / "sbc_ranks.csv", index=False)
    _png(v / "sbc_ranks.png", "tab:blue")
    pd.DataFrame({"band": ["higher", "as expected"], "trusts": [7, 101]}).to_csv(v / "banding.csv", index=False)
    write_manifest(v, "svi validate", [
        Item("sbc", "Simulation-based calibration", "Rank statistics of **40** replications are uniform "
             "(p = 0.42).\n\n# Method\n\nRanks of each parameter among its posterior draws.", "sbc_ranks.csv",
             "sbc_ranks.png", "SBC rank histogram: trust effects & peers' means", True),
        Item("banding", "Agreement with NHS Digital's SHMI banding", "Cohen's kappa 0.61 (criterion 0.7).",
             "banding.csv", None, None, False),
        Item("loo", "LOO cross-validation", "ELPD difference 12.3 (SE 4.1); no Pareto k above 0.7.")],
        model_id=GATE["model_id"])
    c = out / "claims"
    c.mkdir(parents=True, exist_ok=True)
    _png(c / "claim_fig.png", "tab:red")
    write_manifest(c, "svi claims", [
        Item("best", "\u201cAshby & Vale is England's best-value trust\u201d", "Its 95% rank interval is 1 to 31.",
             None, "claim_fig.png", "Rank interval of the claimed trust", None)], model_id=GATE["model_id"])
    return wide


@pytest.fixture(scope="module")
def with_manifests(results, tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("manifests")
    for part in ("panel", "fit", "tables"):
        shutil.copytree(results / part, out / part)
    return out, fake_manifests(out)


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


# ----------------------------------------------------------------------------- the Quarto path (a fake quarto)

FAKE_QUARTO = r"""#!{python}
# A stand-in for Quarto: records its arguments and working directory, snapshots the directory it was run in (the
# staged sources Quarto would read), and writes the output file Quarto would write beside the source.
import json, os, shutil, sys, uuid
from pathlib import Path

log = Path(os.environ["FAKE_QUARTO_LOG"])
args = sys.argv[1:]
call = log / uuid.uuid4().hex
shutil.copytree(Path.cwd(), call / "tree")
(call / "call.json").write_text(json.dumps({{"args": args, "cwd": os.getcwd()}}))
if os.environ.get("FAKE_QUARTO_FAIL"):
    print("ERROR: fake quarto was told to fail", file=sys.stderr)
    sys.exit(1)
if len(args) != 4 or args[0] != "render" or args[2] != "--to" or not Path(args[1]).is_file():
    print("usage: quarto render FILE --to FORMAT", file=sys.stderr)
    sys.exit(2)
src, to = Path(args[1]), args[3]
out = src.with_suffix(".pdf" if to == "typst" else ".html")
out.write_text(("%PDF-1.4\n% " if to == "typst" else "<html>") + f"fake quarto: {{src.name}} --to {{to}}\n")
"""


@pytest.fixture
def fake_quarto(tmp_path, monkeypatch) -> Path:
    """A fake ``quarto`` first on PATH; returns the directory its calls are logged in."""
    bindir, log = tmp_path / "bin", tmp_path / "quarto-calls"
    bindir.mkdir()
    log.mkdir()
    exe = bindir / "quarto"
    exe.write_text(FAKE_QUARTO.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("SVI_REPORT_ENGINE", "auto")
    monkeypatch.setenv("FAKE_QUARTO_LOG", str(log))
    monkeypatch.delenv("FAKE_QUARTO_FAIL", raising=False)
    return log


def _calls(log: Path) -> list[dict]:
    calls = []
    for d in log.iterdir():
        c = json.loads((d / "call.json").read_text())
        c["tree"] = d / "tree"
        calls.append(c)
    return calls


@pytest.fixture
def quarto_run(with_manifests, chosen, fake_quarto, tmp_path) -> tuple[Path, str, dict, list[dict]]:
    """`svi report --trust CODE` through the fake Quarto, on results holding validation and claims manifests."""
    out = tmp_path / "res"
    for part in ("panel", "fit", "tables", "validation", "claims"):
        shutil.copytree(with_manifests[0] / part, out / part)
    code = next(iter(chosen))
    stale = out / "reports" / "appendices" / f"appendix-{code}.pdf"  # the combined PDF of earlier versions
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    assert rep.quarto_path() == str(fake_quarto.parent / "bin" / "quarto")
    written = rep.report(out, trusts=[code])
    return out, code, written, _calls(fake_quarto)


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


def _lookup(meta: dict, key: str):
    val = meta
    for part in key.split("."):
        assert isinstance(val, dict) and part in val, key
        val = val[part]
    return val


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


def test_manifest_overview_shows_a_claims_verdict_and_a_checks_result():
    from analysis.report import _result

    assert _result({"passed": None, "extra": {"verdict": "supported", "evidence": "strong evidence for"}}) == \
        "supported (strong evidence for)"
    assert _result({"passed": False, "extra": {"verdict": "supported"}}) == "**FAIL**"
    assert _result({"passed": True, "extra": {}}) == "**PASS**"
    assert _result({"passed": None}) == "no verdict"


def test_timing_says_when_compilation_is_inside_sampling():
    """nutpie compiles before sampling; numpyro and PyMC compile inside pm.sample, so no separate figure is given."""
    from analysis.report import timing_text

    attrs = {"svi_compile_seconds": 52.3, "svi_sampling_seconds": 54.46}
    assert timing_text(attrs, "nutpie") == "compilation 52 s, sampling 54 s"
    assert timing_text(attrs, "numpyro", 1) == "sampling 54.5 s, compilation included"
    assert "compilation included" in timing_text(attrs, "pymc")


# ----------------------------------------------------------------------------- issue 13, class 4: no mixed runs

def _copy(results: Path, dest: Path) -> Path:
    shutil.copytree(results, dest, ignore=shutil.ignore_patterns("reports"))
    return dest


def test_consistent_results_load(results, tmp_path):
    res = rep.load_results(_copy(results, tmp_path / "r"))
    assert res.attrs["svi_model_id"] == GATE["model_id"]


def test_tables_from_another_fit_are_refused(results, tmp_path):
    out = _copy(results, tmp_path / "r")
    io.write_json(out / "tables" / "model.json", {"model_id": "otherfit0000001", "panel_hash": None})
    with pytest.raises(SVIError, match="mix runs: the tables were computed from fit otherfit0000001") as e:
        rep.load_results(out)
    assert "svi summarise --out" in str(e.value)


def test_panel_rebuilt_after_the_fit_is_refused(results, tmp_path, capsys):
    """The issue's case: new observed deaths printed beside estimates fitted on the old ones."""
    out = _copy(results, tmp_path / "r")
    p = pd.read_parquet(out / "panel" / "panel.parquet")
    p.loc[p.shmi_observed_deaths.notna().idxmax(), "shmi_observed_deaths"] += 5
    p.to_parquet(out / "panel" / "panel.parquet", index=False)
    with pytest.raises(SVIError, match="is not the panel the fit was made from"):
        rep.load_results(out)
    assert main(["report", "--out", str(out), "--no-paper", "--all"]) == 2
    err = capsys.readouterr().err
    assert "mix runs" in err and "Traceback" not in err
    assert not (out / "reports").exists()


def test_gate_of_another_fit_is_refused(results, tmp_path):
    out = _copy(results, tmp_path / "r")
    io.write_json(out / "fit" / "gate.json", {**GATE, "model_id": "someotherfit001"})
    with pytest.raises(SVIError, match="gate.json belongs to fit someotherfit001"):
        rep.load_results(out)


def test_missing_fit_or_model_id_is_refused(results, tmp_path):
    out = _copy(results, tmp_path / "r")
    (out / "tables" / "model.json").unlink()
    with pytest.raises(SVIError, match="does not say which fit"):
        rep.load_results(out)
    out = _copy(results, tmp_path / "r2")
    (out / "fit" / "posterior.nc").unlink()
    with pytest.raises(SVIError, match="no fit at .*posterior.nc"):
        rep.load_results(out)


def test_truncated_posterior_names_the_file(results, tmp_path, capsys):
    out = _copy(results, tmp_path / "r")
    nc = out / "fit" / "posterior.nc"
    nc.write_bytes(nc.read_bytes()[:4000])
    with pytest.raises(SVIError, match="posterior.nc cannot be read as a saved fit") as e:
        rep.load_results(out)
    assert str(nc) in str(e.value) and "svi fit --out" in str(e.value)
    assert main(["report", "--out", str(out)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_damaged_table_names_the_file(results, tmp_path):
    out = _copy(results, tmp_path / "r")
    (out / "tables" / "ranks.parquet").write_bytes(b"PAR1")
    with pytest.raises(SVIError, match="ranks.parquet cannot be read"):
        rep.load_results(out)

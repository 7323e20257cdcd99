"""Fixtures of the report tests: a results directory built from the synthetic panel and a constructed posterior
(known effects, small jitter) put through ``analysis.summaries``, a passing gate, documents rendered from it, fake
validation and claims manifests (a small CSV and a matplotlib PNG), and a fake ``quarto`` executable on PATH.  The
PDFs are read back with ``pdftotext`` (nothing samples)."""

from __future__ import annotations

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
from analysis.fitting import save_fit
from analysis.manifest import Item, write_manifest
from analysis.panel import build, panel_hash, write
from analysis.summaries import derived_tables, summarise
from models.config import load_config
from models.value_model import prepare

pytest.importorskip("typst")
pytest.importorskip("pypandoc")
pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed")

from analysis import report as rep  # noqa: E402


REPO = Path(__file__).resolve().parents[3]
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


@pytest.fixture(scope="session", autouse=True)
def in_process():
    """The in-process renderer (pandoc + Typst) even where Quarto is installed: that is the path tested here."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SVI_REPORT_ENGINE", "inprocess")
        yield


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
def tables(results) -> dict[str, pd.DataFrame]:
    return {n: pd.read_parquet(results / "tables" / f"{n}.parquet") for n in rep.TABLE_NAMES}


@pytest.fixture(scope="session")
def chosen(tables) -> dict[str, str]:
    """Three trusts: a name with '&', a name with an apostrophe, and a specialist trust (no SHMI)."""
    vi = tables["value_index"]
    info = vi[vi.measure == "value_index"].set_index("org_code")
    amp = info.index[info.org_name.str.contains("&") & (info.size_class != "specialist")][0]
    apo = info.index[info.org_name.str.contains("'")][0]
    spec = info.index[info.size_class == "specialist"][0]
    return {amp: info.org_name[amp], apo: info.org_name[apo], spec: info.org_name[spec]}


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
def with_manifests(results, tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("manifests")
    for part in ("panel", "fit", "tables"):
        shutil.copytree(results / part, out / part)
    return out, fake_manifests(out)



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



def _lookup(meta: dict, key: str):
    val = meta
    for part in key.split("."):
        assert isinstance(val, dict) and part in val, key
        val = val[part]
    return val



# ----------------------------------------------------------------------------- issue 13, class 4: no mixed runs

def _copy(results: Path, dest: Path) -> Path:
    shutil.copytree(results, dest, ignore=shutil.ignore_patterns("reports"))
    return dest



"""Divergence diagnosis: divergent draws located against the peer group x outcome scales and means."""

import subprocess
import sys

import arviz as az
import numpy as np
import pandas as pd
import pytest

from analysis.diagnostics import cell_summary, diagnose, divergence_percentiles, verdict

PEERS = ["large", "multi-service", "teaching"]
INDS = ["shmi", "fft"]
OUTS = ["total", "ae"]


def _idata(funnel_cell=("multi-service", "fft"), n_div=3, seed=0):
    """Posterior draws with ``n_div`` divergent draws planted at the neck of one quality cell's funnel: that cell's
    sigma at its smallest draws, every other parameter at typical values."""
    rng = np.random.default_rng(seed)
    C, D = 4, 500
    sigma = np.exp(rng.normal(-1, 0.3, (C, D, len(PEERS), len(INDS))))
    mu = rng.normal(0, 0.1, (C, D, len(PEERS), len(INDS)))
    sigma_c = np.exp(rng.normal(-2, 0.2, (C, D, len(PEERS), len(OUTS))))
    mu_c = rng.normal(0, 0.05, (C, D, len(PEERS), len(OUTS)))
    div = np.zeros((C, D), bool)
    if funnel_cell is not None:
        g, k = PEERS.index(funnel_cell[0]), INDS.index(funnel_cell[1])
        where = [(1, 10), (2, 200), (3, 499)][:n_div]
        for c, d in where:
            div[c, d] = True
            sigma[c, d, g, k] = np.exp(-3.5) * (1 + 0.01 * d)  # far below every other draw
            sigma[c, d, np.arange(len(PEERS)) != g] = np.exp(-1)  # the rest at their medians
            sigma_c[c, d] = np.exp(-2)
            mu[c, d] = 0.0
            mu_c[c, d] = 0.0
    dims = {"sigma": ["peer", "indicator"], "mu": ["peer", "indicator"], "sigma_c": ["peer", "cost_outcome"],
            "mu_c": ["peer", "cost_outcome"], "sd0": ["indicator"]}
    return az.from_dict(posterior={"sigma": sigma, "mu": mu, "sigma_c": sigma_c, "mu_c": mu_c,
                                   "sd0": np.exp(rng.normal(-1, 0.2, (C, D, len(INDS))))},
                        sample_stats={"diverging": div}, dims=dims,
                        coords={"peer": PEERS, "indicator": INDS, "cost_outcome": OUTS})


@pytest.mark.parametrize("cell", [("multi-service", "fft"), ("large", "shmi"), ("teaching", "fft")])
def test_verdict_names_the_cell_holding_the_divergences(cell):
    idata = _idata(cell)
    pct = divergence_percentiles(idata)
    assert len(pct) == 3 * (2 * 6 + 2 * 6 + 2)  # 3 draws x (sigma, mu, sigma_c, mu_c over 6 cells each, sd0 x 2)
    cells = cell_summary(pct, 3)
    top = cells.iloc[0]
    assert (top.block, top.peer_group, top.outcome) == ("quality", *cell)
    assert top.in_scale_tail == 3 and top.most_extreme.startswith("sigma at 0.")
    text = verdict(cells, 3, 2000)
    assert f"3 of them in the outer 5% of quality {cell[0]} x {cell[1]}" in text


def test_no_divergences_and_scattered_divergences_are_said_so():
    clean = _idata(None)
    assert divergence_percentiles(clean).empty
    assert verdict(cell_summary(divergence_percentiles(clean), 0), 0, 2000) == "no divergent transitions in 2,000 draws."
    # a divergent draw at every parameter's median sits in no tail: no cell is blamed
    idata = _idata(None)
    idata.sample_stats["diverging"].values[0, 0] = True
    for v in ("sigma", "mu", "sigma_c", "mu_c", "sd0"):
        idata.posterior[v].values[0, 0] = np.median(idata.posterior[v].values, axis=(0, 1))
    cells = cell_summary(divergence_percentiles(idata), 1)
    assert "no single cell explains them" in verdict(cells, 1, 2000)


def test_diagnose_writes_tables_figures_and_summary(tmp_path):
    param = pd.DataFrame({"peer_group": ["multi-service"], "indicator": ["fft"], "n_trusts": [4],
                          "parameterisation": ["non-centred"]})
    res = diagnose(_idata(), tmp_path, param)
    for name in ("divergences.csv", "divergence_cells.csv", "parameterisation.csv", "funnel_quality.png",
                 "funnel_cost.png", "divergence_percentiles.png", "summary.txt"):
        assert (tmp_path / name).stat().st_size > 0, name
    summary = (tmp_path / "summary.txt").read_text()
    assert res["verdict"] in summary and "non-centred trust effects: multi-service x fft" in summary
    back = pd.read_csv(tmp_path / "divergence_cells.csv")
    assert back.iloc[0][["peer_group", "outcome"]].tolist() == ["multi-service", "fft"]


def test_svi_diagnose_on_a_results_directory_prints_the_verdict_and_no_warnings(tmp_path):
    """The command reads <out>/fit/posterior.nc, writes <out>/fit/diagnostics/, and (like every normal svi
    command) prints no library warnings such as ArviZ's import banner."""
    out = tmp_path / "results"
    (out / "fit").mkdir(parents=True)
    _idata().to_netcdf(str(out / "fit" / "posterior.nc"), engine="h5netcdf")
    p = subprocess.run([sys.executable, "-c", "import sys; from analysis.cli import main; sys.exit(main())",
                        "diagnose", "--out", str(out)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "3 divergent draw(s) of 2,000" in p.stdout and "multi-service x fft" in p.stdout
    assert "Warning" not in p.stderr and "warn(" not in p.stderr, p.stderr
    assert (out / "fit" / "diagnostics" / "funnel_quality.png").exists()
    # no fit: one paragraph naming the file, no traceback
    p = subprocess.run([sys.executable, "-c", "import sys; from analysis.cli import main; sys.exit(main())",
                        "diagnose", "--out", str(tmp_path / "nothing")], capture_output=True, text=True)
    assert p.returncode == 2 and "Traceback" not in p.stderr and "posterior.nc" in p.stderr

"""A multi-year (trend) fit's directory without a fit: posterior-like draws of known structure put through the real
movement functions (analysis.trend.movements) for the trusts of a cross-sectional results directory, written
through ResultsDir with a gate record (passed or failed).  Nothing samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis import io
from analysis.results import ResultsDir
from analysis.trend import movements as mv
from models.trend_model import TrendData

YEARS = [2021, 2022, 2023, 2024]
INDICATORS = ["rtt", "ae", "cancer_62d", "shmi"]  # shmi: one year only (no movement)
WEIGHTS = {"rtt": 0.4, "ae": 0.4, "cancer_62d": 0.2, "shmi": 0.0}
GATE = {"passed": True, "max_rhat": 1.004, "min_ess_bulk": 1234.0, "min_ess_tail": 987.0, "divergences": 0,
        "failing": [], "model_id": "trendtest0001"}


def trend_tables(trusts: pd.DataFrame, D: int = 200, seed: int = 5, missing: str | None = None) -> dict:
    """Tables of a trend fit for ``trusts`` (org_code, peer_group): trust states drawn as AR(1) paths with a known
    drift per trust; ``missing``: a trust without RTT data in the first year."""
    rng = np.random.default_rng(seed)
    groups = sorted(trusts.peer_group.unique())
    g = trusts.peer_group.map({k: i for i, k in enumerate(groups)}).to_numpy()
    N, K, T, G = len(trusts), len(INDICATORS), len(YEARS), len(groups)
    z = np.zeros((N, K, T))
    z[:, INDICATORS.index("shmi"), :-1] = np.nan
    if missing is not None:
        z[list(trusts.org_code).index(missing), 0, 0] = np.nan
    d = TrendData(trusts=trusts.reset_index(drop=True), peer_groups=groups, g=g, years=YEARS, indicators=INDICATORS,
                  z=z, v=np.ones_like(z), n=np.ones_like(z), y=np.ones_like(z), need_names=[], x=np.zeros((N, 0)),
                  first=np.array([0, 0, 0, T - 1]), last=np.full(K, T - 1),
                  dynamic=np.array([True, True, True, False]), wide_step=np.zeros((K, T), bool))
    drift = rng.normal(0, 0.05, (N, K))
    u = np.cumsum(np.broadcast_to(drift[None, :, :, None], (D, N, K, T)), axis=3) + rng.normal(0, 0.04, (D, N, K, T))
    centre = np.array([0.4, 1.0, 0.3, 0.0])[None, None, :, None]
    expect = np.broadcast_to(centre, (D, N, K, T)) + 0.0
    mu = (np.array([0.4, 1.0, 0.3, 0.0])[None, None, :, None] + np.linspace(0, -0.2, T)[None, None, None]
          + rng.normal(0, 0.02, (D, G, K, T)))
    h = {"rho": np.clip(rng.normal(0.8, 0.05, (D, K)), 0.01, 0.99), "sigma": np.abs(rng.normal(0.3, 0.02, (D, K))),
         "tau": np.abs(rng.normal(0.08, 0.01, (D, K)))}
    return {"health_alpha": mv.health_alpha(u, expect, d), "movements": mv.movements(u, expect, d),
            "value_movement": mv.value_movement(u, h["sigma"], d, WEIGHTS), "trends": mv.trends(mu, d),
            "hyperparameters": mv.hyperparameters(h, d)}


def write_trend(out: Path, tables: dict, gate: dict | None = None, unpublishable: bool = False) -> Path:
    fd = ResultsDir(out).trend
    for name, t in tables.items():
        io.write_table(t, fd.table(name).with_suffix(""))
    io.write_json(fd.gate, gate if gate is not None else GATE)
    if unpublishable:
        io.write_text(fd.unpublishable, "convergence gate FAILED (test)\n")
    return fd.path


def trusts_of(results: Path) -> pd.DataFrame:
    vi = pd.read_parquet(ResultsDir(results).table("value_index"))
    return vi[vi.measure == "value_index"][["org_code", "org_name", "peer_group"]].reset_index(drop=True)


def write_backtest(out: Path, relative: bool = False) -> Path:
    """A backtest's tables as ``svi validate --backtest`` writes them (two target years, two indicators); with
    ``relative`` the columns of the split into national and relative parts too."""
    rd = ResultsDir(out)
    summary = pd.DataFrame({"indicator": ["rtt", "ae", "rtt", "ae"], "target": ["2023/24", "2023/24", "2024/25",
                                                                               "2024/25"],
                            "n_trusts": [120, 118, 121, 119], "coverage90": [0.91, 0.87, 0.93, 0.89],
                            "pit_ks_p": [0.31, 0.12, 0.44, 0.08], "crps_ratio": [0.71, 0.78, 0.69, 0.83],
                            "crps_ratio_spread": [0.92, 0.95, 0.9, 0.99]})
    extra = {}
    if relative:
        summary = summary.assign(rel_coverage90=[0.9, 0.88, 0.92, 0.91], rel_pit_ks_p=[0.5, 0.2, 0.7, 0.4],
                                 national_pit=[0.31, 0.97, 0.5, 0.12])
        extra = {"rel_coverage90": 0.9017, "rel_pit_ks_p": 0.62, "national_pit_ks_p": 0.45, "n_national": 4}
    gates = pd.DataFrame({"target": ["2023/24", "2024/25"], "passed": [True, True], "divergences": [0, 0],
                          "max_rhat": [1.003, 1.004], "min_ess_bulk": [900.0, 850.0], "wall_seconds": [60.0, 70.0]})
    for name, t in (("summary", summary), ("gates", gates), ("per_trust", pd.DataFrame({"x": [1]}))):
        io.write_table(t, rd.backtest_table(name).with_suffix(""))
    io.write_json(rd.backtest_overall, {"n": 478, "coverage90": 0.8996, "pit_ks_p": 0.213, "crps_ratio": 0.7412,
                                        "target_coverage90": [0.85, 0.95], "target_crps_ratio": 0.8, **extra})
    return rd.backtest_dir

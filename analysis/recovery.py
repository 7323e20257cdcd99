"""Parameter recovery on the synthetic panel, whose true parameters are known.

Used by the recovery tests (fast and slow) and by ``svi validate`` later: it
compares posterior intervals with the truth written by ``analysis/synthetic.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _interval(draws: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    a = (1 - level) / 2
    return np.quantile(draws, a, axis=0), np.quantile(draws, 1 - a, axis=0)


def recovery_report(idata, data, truth: dict, truth_trusts: pd.DataFrame, level: float = 0.9) -> dict:
    post = idata.posterior
    stack = lambda v: post[v].values.reshape((-1,) + post[v].shape[2:])
    out: dict = {"level": level}

    # trust effects: only where the indicator is observed (elsewhere u is the prior)
    u = stack("u")
    tt = truth_trusts.set_index("org_code").loc[data.trusts.org_code]
    true_u = np.column_stack([tt[f"u_{k}"].to_numpy() for k in data.indicators])
    lo, hi = _interval(u, level)
    inside = (true_u >= lo) & (true_u <= hi)
    obs = data.observed
    out["trust_effect_coverage"] = float(inside[obs].mean())
    out["trust_effect_coverage_by_indicator"] = {k: float(inside[obs[:, j], j].mean()) for j, k in enumerate(data.indicators)}
    out["n_trust_effects"] = int(obs.sum())

    # peer means and need coefficients (quality and cost): the truth is indexed like the synthetic peer groups
    peers = truth["peer_groups"]
    order = [peers.index(p) for p in data.peer_groups]
    kidx = [truth["indicators"].index(k) for k in data.indicators]
    jidx = [truth["cost_outcomes"].index(j) for j in data.cost_outcomes]
    checks = {
        "mu": (np.array(truth["mu"])[np.ix_(order, kidx)], stack("mu")),
        "beta": (np.array(truth["beta"])[kidx], stack("beta")),
        "mu_c": (np.array(truth["mu_c"])[np.ix_(order, jidx)], stack("mu_c")),
        "beta_c": (np.array(truth["beta_c"])[jidx], stack("beta_c")),
    }
    # peer means of an indicator no trust in that group reports are prior-only: skip them
    has = np.array([[obs[data.g == gi, k].any() for k in range(len(data.indicators))]
                    for gi in range(len(data.peer_groups))])
    for name, (true, draws) in checks.items():
        lo, hi = _interval(draws, 0.95)
        ok = (true >= lo) & (true <= hi)
        if name == "mu":
            ok = ok[has]
        out[f"{name}_coverage_95"] = float(np.mean(ok))
        out[f"{name}_n"] = int(np.size(ok))
    return out

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


def period_calibration(idata, data, truth_trusts: pd.DataFrame, level: float = 0.9, flag_level: float = 0.95
                       ) -> pd.DataFrame:
    """Calibration against a known long-run truth (issue 19, item 6), one row per indicator: ``coverage``, the
    share of trusts whose ``level`` interval of theta covers the true long-run theta; ``flagged``, the share whose
    ``flag_level`` interval of the trust effect u (the sign of Health Alpha) excludes 0; ``flagged_right`` and
    ``flagged_wrong``, the shares flagged on the side of 0 where the true long-run u lies and on the other side
    (a calibrated ``flag_level`` interval puts at most (1 - flag_level) / 2 of trusts on the wrong side);
    ``truly_beyond``, the share of trusts whose true |u| exceeds the median half-width of the intervals (how many a
    perfectly calibrated posterior of this width could flag); ``width``, the median interval width of theta."""
    post = idata.posterior
    stack = lambda v: post[v].values.reshape((-1,) + post[v].shape[2:])
    theta, u = stack("theta"), stack("u")
    tt = truth_trusts.set_index("org_code").loc[data.trusts.org_code]
    rows = []
    for k, ind in enumerate(data.indicators):
        ok = data.observed[:, k]
        t_theta, t_u = tt[f"theta_{ind}"].to_numpy()[ok], tt[f"u_{ind}"].to_numpy()[ok]
        lo, hi = _interval(theta[:, ok, k], level)
        ulo, uhi = _interval(u[:, ok, k], flag_level)
        above, below = ulo > 0, uhi < 0
        rows.append({"indicator": ind, "n_trusts": int(ok.sum()), "level": level,
                     "coverage": float(np.mean((t_theta >= lo) & (t_theta <= hi))),
                     "width": float(np.median(hi - lo)), "flag_level": flag_level,
                     "flagged": float(np.mean(above | below)),
                     "flagged_right": float(np.mean((above & (t_u > 0)) | (below & (t_u < 0)))),
                     "flagged_wrong": float(np.mean((above & (t_u <= 0)) | (below & (t_u >= 0)))),
                     "truly_beyond": float(np.mean(np.abs(t_u) > np.median(uhi - ulo) / 2))})
    return pd.DataFrame(rows)

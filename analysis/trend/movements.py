"""Movements: how each trust's position moved, with intervals, and the value composite's movement by indicator.

Health Alpha of trust i on indicator k in year t is its state u[i,k,t] (need-adjusted deviation from its peer
group's mean for that year), reported in board units: percentage points for the shares (the share at the trust's
expectation plus u, minus the share at the expectation), and as a ratio for SHMI.  Its movement between years s < t
is alpha[t] - alpha[s], computed in every posterior draw, so the intervals and P(improved) carry the uncertainty of
both years and their correlation.

**Real movement and regression to the mean.**  An observed change z[t] - z[s] mixes three things: the change in the
trust's underlying effect u, the year-level noise tau (a bad winter) and the sampling noise v of each year.  A trust
that looked extreme last year partly had an extreme year; next year's observation regresses toward its peer mean
even if nothing changed.  The model reports changes in u only: each year's u is the trust's own observation shrunk
toward its AR(1) prediction (its own history) and its peer mean by the shares of tau^2 + v and sigma^2, so a lucky
year is discounted before any change is computed; and the AR(1)'s expected reversion (1 - rho) u is part of the
trust's modelled path, not evidence of improvement: with rho near 1, an effect persists and a change in it is real
movement.  National and peer-group trends (the mu paths) are separated from trust movement by construction: u is
measured against the peer mean of the same year, so a trust that improved with everyone else did not move.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.trend.years import fy_label
from models import indicators as registry
from models.trend_model import TrendData, inverse, sign


def _interval(a: np.ndarray, axis=0) -> dict:
    q = np.nanquantile(a, [0.025, 0.1, 0.5, 0.9, 0.975], axis=axis)
    return {"median": q[2], "lo80": q[1], "hi80": q[3], "lo95": q[0], "hi95": q[4]}


def alpha_units(u: np.ndarray, expect: np.ndarray, indicator: str) -> np.ndarray:
    """Health Alpha in board units: percentage points (shares) or the ratio to expectation minus 1 in percent
    (SHMI: positive = more deaths than expected)."""
    if registry.get(indicator).alpha == "ratio":
        return 100.0 * (np.exp(u) - 1.0)
    return 100.0 * (inverse(expect + u, indicator) - inverse(expect, indicator))


def observed_years(d: TrendData, k: int) -> list[int]:
    """Indices of the years in which indicator k has data (for some trust)."""
    return [t for t in range(len(d.years)) if d.obs[:, k, t].any()]


def health_alpha(u: np.ndarray, expect: np.ndarray, d: TrendData) -> pd.DataFrame:
    """Per trust, indicator and year with data: Health Alpha (board units) with 80% and 95% intervals."""
    rows = []
    for k, ind in enumerate(d.indicators):
        for t in observed_years(d, k):
            a = alpha_units(u[:, :, k, t], expect[:, :, k, t], ind)
            iv = _interval(a)
            better = (a * sign(ind) > 0).mean(axis=0)
            for i, code in enumerate(d.trusts.org_code):
                rows.append({"org_code": code, "indicator": ind, "period": fy_label(d.years[t]),
                             "observed": bool(d.obs[i, k, t]), **{key: float(v[i]) for key, v in iv.items()},
                             "p_better_than_peers": float(better[i])})
    return pd.DataFrame(rows)


def movements(u: np.ndarray, expect: np.ndarray, d: TrendData) -> pd.DataFrame:
    """Change in Health Alpha between consecutive years with data and over the whole window (first to last year
    with data), per trust and indicator: median, 80% and 95% intervals, P(improved) (sign-adjusted: higher share,
    lower SHMI).  Indicators with one year of data have no movement."""
    rows = []
    for k, ind in enumerate(d.indicators):
        ts = observed_years(d, k)
        if len(ts) < 2:
            continue
        pairs = [(ts[j], ts[j + 1], "consecutive") for j in range(len(ts) - 1)] + [(ts[0], ts[-1], "window")]
        alpha = {t: alpha_units(u[:, :, k, t], expect[:, :, k, t], ind) for t in ts}
        for s, t, kind in pairs:
            diff = alpha[t] - alpha[s]
            iv = _interval(diff)
            p_imp = (diff * sign(ind) > 0).mean(axis=0)
            for i, code in enumerate(d.trusts.org_code):
                rows.append({"org_code": code, "indicator": ind, "from": fy_label(d.years[s]),
                             "to": fy_label(d.years[t]), "span": kind,
                             "observed_both": bool(d.obs[i, k, s] and d.obs[i, k, t]),
                             **{key: float(v[i]) for key, v in iv.items()}, "p_improved": float(p_imp[i])})
    return pd.DataFrame(rows)


def value_movement(u: np.ndarray, sigma: np.ndarray, d: TrendData, weights: dict) -> pd.DataFrame:
    """The trend value composite V[i,t] = sum_k w_k sign_k u[i,k,t] / sigma_k (SD units, weights normalised over
    the indicators with movement) and its change over each pair of years that every weighted indicator covers,
    split into each indicator's contribution w_k sign_k (u[t] - u[s]) / sigma_k (contributions add up to the
    change in every draw)."""
    ks = [k for k, ind in enumerate(d.indicators) if weights.get(ind, 0) > 0 and len(observed_years(d, k)) >= 2]
    if not ks:
        return pd.DataFrame()
    w = np.array([weights[d.indicators[k]] for k in ks], float)
    w = w / w.sum()
    common = sorted(set.intersection(*(set(observed_years(d, k)) for k in ks)))
    if len(common) < 2:
        return pd.DataFrame()
    pairs = [(common[j], common[j + 1], "consecutive") for j in range(len(common) - 1)] + [
        (common[0], common[-1], "window")]
    rows = []
    for s, t, kind in pairs:
        parts = {d.indicators[k]: w[j] * sign(d.indicators[k]) * (u[:, :, k, t] - u[:, :, k, s]) / sigma[:, None, k]
                 for j, k in enumerate(ks)}
        total = sum(parts.values())
        for name, arr in [("total", total), *parts.items()]:
            iv = _interval(arr)
            p_imp = (arr > 0).mean(axis=0)
            for i, code in enumerate(d.trusts.org_code):
                rows.append({"org_code": code, "component": name, "from": fy_label(d.years[s]),
                             "to": fy_label(d.years[t]), "span": kind,
                             **{key: float(v[i]) for key, v in iv.items()}, "p_improved": float(p_imp[i])})
    return pd.DataFrame(rows)


def trends(mu: np.ndarray, d: TrendData) -> pd.DataFrame:
    """National and peer-group trends: each peer group's mean path (at the panel's average need, x = 0) and the
    national mean (trust-weighted average of the groups), in the indicator's natural units (% or SHMI ratio), per
    year with data; with the change from the previous year with data."""
    rows = []
    counts = np.bincount(d.g, minlength=len(d.peer_groups))
    for k, ind in enumerate(d.indicators):
        ts = observed_years(d, k)
        present = d.obs[:, k, :].any(axis=1)
        wts = np.bincount(d.g[present], minlength=len(d.peer_groups)).astype(float)
        wts = wts / wts.sum() if wts.sum() else counts / counts.sum()
        nat = {t: np.einsum("dg,g->d", inverse(mu[:, :, k, t], ind), wts) for t in ts}
        for t in ts:
            level = {"national": nat[t]} | {gname: inverse(mu[:, j, k, t], ind)
                                            for j, gname in enumerate(d.peer_groups) if wts[j] > 0}
            prev = ts[ts.index(t) - 1] if ts.index(t) > 0 else None
            for scope, arr in level.items():
                unit = registry.get(ind).alpha_scale
                iv = _interval(arr * unit)
                row = {"indicator": ind, "scope": scope, "period": fy_label(d.years[t]),
                       **{f"level_{key}": float(v) for key, v in iv.items()}}
                if prev is not None:
                    before = nat[prev] if scope == "national" else inverse(mu[:, d.peer_groups.index(scope), k, prev],
                                                                           ind)
                    ch = (arr - before) * unit
                    civ = _interval(ch)
                    row.update({f"change_{key}": float(v) for key, v in civ.items()})
                    row["p_improved"] = float((ch * sign(ind) > 0).mean())
                rows.append(row)
    return pd.DataFrame(rows)

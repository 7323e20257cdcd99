"""Pure functions of posterior draws, model data and the panel: the quantities the claims are about.

Everything here is tested on constructed posteriors without sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.summaries import composites, rank_draws, stack_draws
from models import indicators as registry
from models.value_model import ModelData


def interval(draws: np.ndarray) -> dict[str, float]:
    """Median and 95% interval of a vector of draws (NaN-aware)."""
    a = np.asarray(draws, float)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return {"median": np.nan, "lo95": np.nan, "hi95": np.nan}
    q = np.quantile(a, [0.5, 0.025, 0.975])
    return {"median": float(q[0]), "lo95": float(q[1]), "hi95": float(q[2])}


def largest(size: np.ndarray, eligible: np.ndarray, k: int) -> np.ndarray:
    """Mask of the ``k`` largest eligible trusts by ``size`` (ties broken by position; NaN sizes never chosen)."""
    size = np.asarray(size, float)
    ok = np.asarray(eligible, bool) & np.isfinite(size)
    if k > ok.sum():
        raise ValueError(f"asked for the {k} largest of only {int(ok.sum())} eligible trusts")
    order = np.argsort(-np.where(ok, size, -np.inf), kind="stable")
    mask = np.zeros(len(size), bool)
    mask[order[:k]] = True
    return mask


def bootstrap_weights(groups: list[np.ndarray], S: int, seed: int) -> np.ndarray:
    """(S, N) Bayesian-bootstrap weights: Dirichlet(1) within each group (boolean masks), scaled to the group's size.

    Trusts outside every group get weight 1.  With these weights a group sum is a draw of the sum over a
    population of trusts like the group's; with weight 1 everywhere it is the sum over the observed trusts.
    """
    N = len(groups[0])
    rng = np.random.default_rng(seed)
    w = np.ones((S, N))
    for g in groups:
        idx = np.nonzero(g)[0]
        if len(idx):
            w[:, idx] = rng.dirichlet(np.ones(len(idx)), size=S) * len(idx)
    return w


def _w(weights, S, N):
    return np.ones((S, N)) if weights is None else np.asarray(weights, float)


def group_productivity(actual: np.ndarray, expected_adj: np.ndarray, mask: np.ndarray,
                       weights: np.ndarray | None = None) -> np.ndarray:
    """(S,) aggregate productivity of a group: sum(w * adjusted expected cost) / sum(w * actual cost)."""
    expected_adj = np.atleast_2d(expected_adj)
    S, N = expected_adj.shape
    w = _w(weights, S, N)[:, mask]
    return (w * expected_adj[:, mask]).sum(1) / (w * np.asarray(actual, float)[None, mask]).sum(1)


def productivity_ratio(actual, expected_adj, large, rest, weights=None) -> np.ndarray:
    """(S,) productivity of the large group divided by that of the rest (< 1: the large trusts are less productive)."""
    return (group_productivity(actual, expected_adj, large, weights)
            / group_productivity(actual, expected_adj, rest, weights))


def saving_per_trust(actual, expected_adj, rest, weights=None, floor: bool = True) -> np.ndarray:
    """(S, N) GBP each trust would save at the rest's aggregate (need-adjusted) cost index.

    Trust i's cost at the benchmark is ``expected_adj_i x CI_rest`` with ``CI_rest = sum(w actual) / sum(w expected_adj)``
    over the rest; its saving is ``actual_i`` minus that, floored at 0 when ``floor`` (a trust already cheaper than
    the benchmark is not made dearer).
    """
    expected_adj = np.atleast_2d(expected_adj)
    S, N = expected_adj.shape
    actual = np.asarray(actual, float)
    w = _w(weights, S, N)
    ci_rest = (w[:, rest] * actual[None, rest]).sum(1) / (w[:, rest] * expected_adj[:, rest]).sum(1)
    per = actual[None] - expected_adj * ci_rest[:, None]
    return np.maximum(per, 0.0) if floor else per


def cost_saving(actual, expected_adj, large, rest, weights=None, floor: bool = True) -> np.ndarray:
    """(S,) GBP saved if the large trusts had the rest's aggregate cost index (:func:`saving_per_trust`, summed)."""
    per = saving_per_trust(actual, expected_adj, rest, weights, floor)
    return (_w(weights, *per.shape)[:, large] * per[:, large]).sum(1)


def deaths_per_trust(expected_deaths, theta, ref, rest, weights=None, floor: bool = True) -> np.ndarray:
    """(S, N) deaths a year each trust would avoid at the rest's aggregate adjusted SHMI rate ratio (NaN: no SHMI).

    ``theta`` (S, N): log rate of observed to SHMI-expected deaths; ``ref`` (S, N): the log rate the adjustment
    takes out (the need component x.beta, 0 for none, or the full model expectation).  Trust i's adjusted ratio
    is ``exp(theta_i - ref_i)``; the benchmark is the rest's ``sum(w E exp(theta)) / sum(w E exp(ref))``; trust i's
    deaths at the benchmark are ``E_i exp(ref_i) x benchmark``.  Trusts without SHMI are left out of the benchmark.
    ``floor``: a trust already better than the benchmark does not get worse.
    """
    E = np.asarray(expected_deaths, float)
    theta, ref = np.atleast_2d(theta), np.atleast_2d(ref)
    S, N = theta.shape
    ok = np.isfinite(E) & np.isfinite(theta).all(0)
    rest = rest & ok
    w = _w(weights, S, N)
    lam = E[None] * np.exp(np.where(ok[None], theta, 0.0))
    lam_ref = E[None] * np.exp(np.where(ok[None], ref, 0.0))
    bench = (w[:, rest] * lam[:, rest]).sum(1) / (w[:, rest] * lam_ref[:, rest]).sum(1)
    per = lam - lam_ref * bench[:, None]
    if floor:
        per = np.maximum(per, 0.0)
    per[:, ~ok] = np.nan
    return per


def deaths_avoided(expected_deaths, theta, ref, large, rest, weights=None, floor: bool = True) -> np.ndarray:
    """(S,) deaths a year avoided if the large trusts had the rest's adjusted SHMI (:func:`deaths_per_trust`, summed
    over the large trusts that have SHMI)."""
    per = deaths_per_trust(expected_deaths, theta, ref, rest, weights, floor)
    w = _w(weights, *per.shape)
    return np.nansum(w[:, large] * per[:, large], axis=1)


def lowest_among_largest(score: np.ndarray, size: np.ndarray, region: np.ndarray, eligible: np.ndarray,
                         top: int = 2) -> tuple[pd.DataFrame, np.ndarray]:
    """In every draw and region, is the trust with the lowest score among the region's ``top`` largest?

    Returns a per-region table (trusts, the largest ones, P(lowest is among them), the most likely lowest trust
    and its probability) and the (S, R) boolean draws; trusts with a NaN score or size are left out.
    """
    score = np.atleast_2d(score)
    S, N = score.shape
    size = np.asarray(size, float)
    region = np.asarray(region)
    ok = np.asarray(eligible, bool) & np.isfinite(size) & np.isfinite(score).all(0)
    rows, hits = [], []
    for r in sorted(pd.unique(region[ok])):
        idx = np.nonzero(ok & (region == r))[0]
        big = idx[np.argsort(-size[idx], kind="stable")[:top]]
        low = idx[np.argmin(score[:, idx], axis=1)]
        hit = np.isin(low, big)
        vals, counts = np.unique(low, return_counts=True)
        j = int(np.argmax(counts))
        rows.append({"region": r, "n_trusts": len(idx), "largest": list(big), "p_lowest_is_largest": float(hit.mean()),
                     "most_likely_lowest": int(vals[j]), "p_most_likely_lowest": float(counts[j] / S)})
        hits.append(hit)
    return pd.DataFrame(rows), (np.column_stack(hits) if hits else np.zeros((S, 0), bool))


def rank_of(score: np.ndarray, i: int, eligible: np.ndarray | None = None) -> np.ndarray:
    """(S,) rank of trust ``i`` (1 = highest score) among the eligible trusts with a score, in every draw."""
    score = np.atleast_2d(score).copy()
    if eligible is not None:
        score[:, ~np.asarray(eligible, bool)] = np.nan
    return rank_draws(score)[:, i]


@dataclass
class Draws:
    """The posterior quantities of one fit that the claims use, aligned with ``ModelData.trusts``."""

    variant: str
    need_cost: np.ndarray          # (S, N) x . beta_c[total]  (0 without need covariates)
    full_cost: np.ndarray          # (S, N) the cost model's expectation of log(actual/expected), total
    theta_shmi: np.ndarray         # (S, N) log(true observed / expected deaths); NaN without SHMI
    need_shmi: np.ndarray          # (S, N) x . beta[shmi]
    full_shmi: np.ndarray          # (S, N) theta - u: need-adjusted peer expectation
    value_index: np.ndarray        # (S, N)
    peer: np.ndarray               # (N,) peer-group index of the fit
    gate_passed: bool | None = None
    gate_text: str = ""

    @property
    def S(self) -> int:
        return self.need_cost.shape[0]


def draws_from_idata(idata, d: ModelData, cfg: dict, variant: str, gate=None, max_draws: int | None = None,
                     seed: int = 0) -> Draws:
    post = idata.posterior
    vi = composites(post, d, cfg).value
    S, N = vi.shape
    jt = d.cost_outcomes.index("total")
    if d.x.shape[1] and "beta_c" in post:
        need_cost = stack_draws(post, "beta_c")[:, jt, :] @ d.x.T
    else:
        need_cost = np.zeros((S, N))
    full_cost = stack_draws(post, "cost_expectation")[:, :, jt]
    k = registry.mortality_index(d.indicators)  # the record marked ``avoidable`` (SHMI)
    if k is not None:
        theta = stack_draws(post, "theta")[:, :, k]
        full = theta - stack_draws(post, "u")[:, :, k]
        need = stack_draws(post, "beta")[:, k, :] @ d.x.T if d.x.shape[1] and "beta" in post else np.zeros((S, N))
    else:
        theta = full = np.full((S, N), np.nan)
        need = np.zeros((S, N))
    keep = slice(None)
    if max_draws is not None and S > max_draws:
        keep = np.sort(np.random.default_rng(seed).choice(S, max_draws, replace=False))
    return Draws(variant, need_cost[keep], full_cost[keep], theta[keep], need[keep], full[keep], vi[keep],
                 np.asarray(d.g), None if gate is None else bool(gate.passed),
                 "" if gate is None else gate.text().splitlines()[0])


def trust_frame(d: ModelData, mff: pd.Series | None = None) -> pd.DataFrame:
    """One row per trust in model order: identity, spend, activity, SHMI expected deaths, eligibility, MFF."""
    t = d.trusts[["org_code", "org_name", "region", "size_class"]].copy().reset_index(drop=True)
    jt = d.cost_outcomes.index("total")
    t["actual"] = d.cost_actual[:, jt]
    t["expected"] = d.cost_expected[:, jt]
    k = registry.mortality_index(d.indicators)
    if k is not None:
        t["shmi_expected_deaths"] = d.n[:, k]
        t["shmi_observed_deaths"] = d.y[:, k]
    else:
        t["shmi_expected_deaths"] = t["shmi_observed_deaths"] = np.nan
    t["eligible"] = t["size_class"] != "specialist"
    # the value index's national ranking (analysis.summaries.posterior.national_comparable): trusts of peer groups
    # that report every indicator
    from analysis.summaries.posterior import national_comparable

    t["nationally_ranked"] = national_comparable(d.observed, d.g)
    t["teaching"] = t["size_class"] == "teaching"
    t["mff"] = np.nan if mff is None else t["org_code"].map(mff).astype(float)
    return t

"""The equity lens, part (a): what the population a trust serves changes in its value position (issue 15).

The model's expectation for trust i on quality indicator k is ``mu[g,k] + beta[k] . x[i]`` and on cost outcome j
``mu_c[g,j] + beta_c[j] . x[i]``, where x is the catchment's standardised need (deprivation, age, health; mean 0
over the panel).  The need adjustment is the term ``beta . x[i]``: it moves each trust's expectation from its peer
group's expectation at the panel's average need to the need of its own catchment.

"Without the need adjustment" is that term added back, draw by draw, to the trust's effects and cost residuals:
the trust is compared with its peer group as if it served an average catchment.  Everything else is the fitted
model (the same peer means, the same shrinkage, the same scales and weights), so the difference between the two
positions is exactly the need adjustment, with its posterior uncertainty, and nothing else; a refit without the
covariates (the ``no_need`` variant of ``svi validate``) would also re-estimate the peer means and scales, which
mixes the adjustment with its side effects.

Pure functions of the posterior arrays; :func:`equity_table` builds the table the documents read.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from analysis.summaries.posterior import Composites, composites, national_comparable, rank_draws, stack_draws


def need_terms(post, d) -> tuple[np.ndarray, np.ndarray]:
    """(S, N, K) and (S, N, J): each trust's need adjustment ``beta . x`` on every quality indicator and cost outcome
    (zeros when the model has no need covariates)."""
    S = stack_draws(post, "u").shape[0]
    N, P = d.x.shape if d.x.ndim == 2 else (d.x.shape[0], 0)
    K, J = len(d.indicators), len(d.cost_outcomes)
    if P == 0 or "beta" not in post:
        return np.zeros((S, N, K)), np.zeros((S, N, J))
    beta = stack_draws(post, "beta")  # (S, K, P)
    beta_c = stack_draws(post, "beta_c") if "beta_c" in post else np.zeros((S, J, P))
    return np.einsum("np,skp->snk", d.x, beta), np.einsum("np,sjp->snj", d.x, beta_c)


def unadjusted_composites(post, d, cfg: dict) -> Composites:
    """The value index and its parts with the need adjustment added back (same weights and scales as the adjusted).

    A higher need term raises the expectation, so adding it back raises the trust's effect on that scale: a trust
    whose catchment's need lowers its expected RTT performance, say, looks worse without the adjustment."""
    return composites(post, d, cfg, *need_terms(post, d))


def _q(x: np.ndarray, qs=(0.5, 0.025, 0.975)) -> list[np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return [np.nanquantile(x, q, axis=0) for q in qs]


def equity_table(adjusted: Composites, unadjusted: Composites, d) -> pd.DataFrame:
    """One row per trust: its value index and rank with and without the need adjustment, the change in rank (draw
    by draw: positive = the adjustment moves the trust up), and the chance that the adjustment moves it up.

    Ranks are national where the trust is nationally comparable (:func:`national_comparable`), else within its peer
    group (``scope`` says which), exactly as the ranks table does; 1 = best."""
    codes = d.trusts.org_code.to_numpy()
    groups = pd.factorize(d.trusts.peer_group.to_numpy())[0]
    comparable = national_comparable(d.observed, d.g)
    out = {"org_code": codes, "scope": np.where(comparable, "national", "peer group")}
    ranks = {}
    for name, c in (("adjusted", adjusted), ("unadjusted", unadjusted)):
        nat = rank_draws(np.where(comparable[None], c.value, np.nan))
        grp = rank_draws(c.value, groups)
        ranks[name] = np.where(comparable[None], nat, grp)
        v_med, v_lo, v_hi = _q(c.value)
        r_med, r_lo, r_hi = _q(ranks[name])
        out.update({f"value_{name}_median": v_med, f"value_{name}_lo95": v_lo, f"value_{name}_hi95": v_hi,
                    f"rank_{name}_median": r_med, f"rank_{name}_lo95": r_lo, f"rank_{name}_hi95": r_hi})
    gain = ranks["unadjusted"] - ranks["adjusted"]  # places the adjustment moves the trust up
    g_med, g_lo, g_hi = _q(gain)
    out.update({"places_up_median": g_med, "places_up_lo95": g_lo, "places_up_hi95": g_hi})
    with np.errstate(invalid="ignore"):
        out["p_up"] = np.where(np.isnan(gain).all(0), np.nan, np.nanmean(gain > 0, axis=0))
    ranked = ~np.isnan(ranks["adjusted"]).all(axis=0)
    n_grp = pd.Series(ranked).groupby(groups).transform("sum").to_numpy()
    out["n_ranked"] = np.where(comparable, int((ranked & comparable).sum()), n_grp).astype(float)
    out["n_ranked"][~ranked] = np.nan
    return pd.DataFrame(out)

"""Posterior summaries: Health Alpha, value index, ranks, trapped value, avoidable deaths (one table each).

Pure array functions on posterior draws (``(S, ...)`` arrays, S = chains x
draws), wrapped by :func:`summarise`, which turns an InferenceData and the
model data into tidy tables.  Nothing here samples, so all of it is tested
against saved or constructed posteriors.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models import indicators as registry
from models.value_model import ModelData

Q = {"lo95": 0.025, "lo80": 0.10, "median": 0.5, "hi80": 0.90, "hi95": 0.975}


# ----------------------------------------------------------------------------- pure array functions

def interval_summary(draws: np.ndarray) -> dict[str, np.ndarray]:
    """Mean and quantiles over axis 0 (NaN-aware; all-NaN columns give NaN, silently)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = {"mean": np.nanmean(draws, axis=0)}
        qs = np.nanquantile(draws, list(Q.values()), axis=0)
    out.update({k: qs[i] for i, k in enumerate(Q)})
    return out


def rank_draws(score: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Rank trusts in every draw, 1 = best (highest score); within ``groups`` if given. NaN scores get NaN."""
    S, N = score.shape
    ranks = np.full((S, N), np.nan)
    groups = np.zeros(N, dtype=int) if groups is None else np.asarray(groups)
    for gval in np.unique(groups):
        idx = np.nonzero((groups == gval) & ~np.isnan(score).any(axis=0))[0]
        if len(idx) == 0:
            continue
        sub = score[:, idx]
        order = np.argsort(-sub, axis=1, kind="stable")
        r = np.empty_like(order)
        np.put_along_axis(r, order, np.arange(1, len(idx) + 1)[None, :].repeat(S, 0), axis=1)
        ranks[:, idx] = r
    return ranks


def rank_summary(ranks: np.ndarray, groups: np.ndarray | None = None) -> pd.DataFrame:
    """Median rank, 95% interval, P(top / bottom quartile), SUCRA for each trust."""
    N = ranks.shape[1]
    groups = np.zeros(N, dtype=int) if groups is None else np.asarray(groups)
    size = np.array([np.sum((groups == groups[i]) & ~np.isnan(ranks).all(axis=0)) for i in range(N)], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        top = np.nanmean(ranks <= np.ceil(size / 4), axis=0)
        bottom = np.nanmean(ranks > size - np.ceil(size / 4), axis=0)
        sucra = (size - np.nanmean(ranks, axis=0)) / (size - 1)
        qs = np.nanquantile(ranks, [0.025, 0.5, 0.975], axis=0)
    df = pd.DataFrame({"n_ranked": size, "rank_median": qs[1], "rank_lo95": qs[0], "rank_hi95": qs[2],
                       "p_top_quartile": top, "p_bottom_quartile": bottom, "sucra": sucra})
    df.loc[np.isnan(ranks).all(axis=0), ["p_top_quartile", "p_bottom_quartile", "sucra"]] = np.nan
    return df


def national_comparable(observed: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(N,) trusts whose value index can be ranked against all others: those of peer groups that report every
    quality indicator some group reports.  A group that reports none of an indicator (the specialist group has no
    SHMI) has that indicator's weight spread over the rest, so its composite measures something else; its trusts
    are ranked within their peer group only, never nationally or within region."""
    observed, groups = np.asarray(observed, bool), np.asarray(groups)
    anywhere = observed.any(axis=0)
    ok = np.ones(len(groups), bool)
    for gval in np.unique(groups):
        idx = groups == gval
        if (anywhere & ~observed[idx].any(axis=0)).any():
            ok[idx] = False
    return ok


def peer_quantile(values: np.ndarray, groups: np.ndarray, q: float) -> np.ndarray:
    """Per draw, the q-quantile of ``values`` over each trust's peer group (NaN trusts ignored)."""
    S, N = values.shape
    out = np.full((S, N), np.nan)
    for gval in np.unique(groups):
        idx = groups == gval
        if np.isnan(values[:, idx]).all():  # e.g. SHMI in the specialist group: no benchmark
            continue
        out[:, idx] = np.nanquantile(values[:, idx], q, axis=1)[:, None]
    return out


def trapped_value(actual: np.ndarray, residual: np.ndarray, benchmark: np.ndarray) -> np.ndarray:
    """GBP released if a trust's log cost residual fell to its peer benchmark (0 if already at or below it).

    ``actual`` (N,), ``residual`` and ``benchmark`` (S, N) on the log(actual/expected) scale.
    """
    gap = residual - benchmark
    return np.where(gap > 0, actual[None, :] * (1 - np.exp(-gap)), 0.0)


def dirichlet_weights(base: np.ndarray, concentration: float, S: int, seed: int) -> np.ndarray:
    """(S, len(base)) weights: fixed when concentration is 0, else Dirichlet(concentration * base) draws."""
    base = np.asarray(base, float) / np.sum(base)
    if concentration <= 0:
        return np.broadcast_to(base, (S, len(base))).copy()
    return np.random.default_rng(seed).dirichlet(concentration * base, size=S)


def avoidable_excess(expected, log_rate, log_expectation, log_ratio, groups, q: float) -> np.ndarray:
    """(S, N) events a year above the peer benchmark (0 if at or below it): ``E exp(log_rate)`` against
    ``E exp(log_expectation + b)``, ``b`` the q-quantile of ``log_ratio`` (NaN where not observed) over each
    trust's peer ``groups`` in every draw.  Avoidable deaths when ``log_ratio`` is the trust's SHMI effect."""
    bench = peer_quantile(log_ratio, groups, q)
    lam, lam_b = expected * np.exp(log_rate), expected * np.exp(log_expectation + bench)
    return np.maximum(lam - lam_b, 0.0)


@dataclass
class Composites:
    """The value index and its parts in every draw (``(S, N)`` arrays), with the weights they were built from."""

    W: np.ndarray        # (S, K + 1) weights: K quality indicators, then cost
    wq: np.ndarray       # (S, N, K) quality weights of each trust's observed indicators
    sign: np.ndarray     # (K,) +1 where a higher effect is better
    quality: np.ndarray  # quality composite (SD units, higher = better)
    cost: np.ndarray     # cost composite (SD units, higher = cheaper than need-adjusted expectation)
    value: np.ndarray    # value index
    resid: np.ndarray    # (S, N, J) log(actual / need-adjusted expected cost) of every cost outcome
    z: np.ndarray | None = None  # (S, N, K) standardised trust effects, higher = better
    #: the quality and cost composites in SD units of the trust's own peer group (trust effects over the group's
    #: scale sigma[g, k], cost residual over sigma_c[g, total]): the charts' axes, so that a group with a wide
    #: spread (specialist trusts) does not stretch every chart.  Not part of the value index, which is built from
    #: ``quality`` and ``cost`` (England's SD units, comparable across groups for the national ranks).
    quality_peer: np.ndarray | None = None
    cost_peer: np.ndarray | None = None


def composites(post, d: ModelData, cfg: dict, u_shift=None, resid_shift=None) -> Composites:
    """Quality composite, cost composite and value index draws: the one definition, used by the tables and the
    claims.  ``u_shift`` (S, N, K) and ``resid_shift`` (S, N, J) are added to the trust effects and cost residuals
    before they are combined (the equity lens adds back the need adjustment: :mod:`analysis.summaries.equity`)."""
    u, sd0 = stack_draws(post, "u"), stack_draws(post, "sd0")
    if u_shift is not None:
        u = u + u_shift
    S, N, K = u.shape
    obs = d.observed
    vcfg = cfg["value"]
    w = np.array([vcfg["quality_weights"][k] for k in d.indicators], float)
    base = np.concatenate([vcfg["quality_share"] * w / w.sum(), [1 - vcfg["quality_share"]]])
    W = dirichlet_weights(base, vcfg["dirichlet_concentration"], S, cfg["sampler"]["seed"])
    sign = registry.signs(d.indicators)
    z = sign * u / sd0[:, None, :]  # standardised, higher = better
    wq = W[:, None, :K] * obs[None]
    with np.errstate(invalid="ignore"):
        Qi = (np.where(obs[None], z, 0) * wq).sum(-1) / wq.sum(-1)
    Qi[:, ~obs.any(axis=1)] = np.nan
    resid = d.cost_y[None] - stack_draws(post, "cost_expectation")  # (S, N, J)
    if resid_shift is not None:
        resid = resid + resid_shift
    if "total" in d.cost_outcomes:
        jt = d.cost_outcomes.index("total")
        Ci = -resid[:, :, jt] / stack_draws(post, "sd0_c")[:, [jt]]
    else:
        Ci = np.full((S, N), np.nan)
    Vi = (W[:, :K].sum(1, keepdims=True) * Qi + W[:, [K]] * Ci) / W.sum(1, keepdims=True)
    # within peer group: the same weights over each trust's group's own scales (a posterior without the group
    # scales, constructed in tests, falls back on the national ones)
    sig = stack_draws(post, "sigma")[:, d.g, :] if "sigma" in post else sd0[:, None, :]
    with np.errstate(invalid="ignore"):
        Qp = (np.where(obs[None], sign * u / sig, 0) * wq).sum(-1) / wq.sum(-1)
    Qp[:, ~obs.any(axis=1)] = np.nan
    if "total" in d.cost_outcomes:
        sc = stack_draws(post, "sigma_c")[:, d.g, jt] if "sigma_c" in post else stack_draws(post, "sd0_c")[:, [jt]]
        Cp = -resid[:, :, jt] / sc
    else:
        Cp = np.full((S, N), np.nan)
    return Composites(W, wq, sign, Qi, Ci, Vi, resid, z, Qp, Cp)


def driver_weights(c: Composites) -> np.ndarray:
    """(S, N, K + 1) each part's weight in the value index: indicator k's share of the quality weight among the
    trust's observed indicators (NaN where it does not report k, whose weight is spread over the others), then cost's."""
    K = c.wq.shape[-1]
    tot = c.W.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = (c.W[:, :K].sum(1) / tot)[:, None, None] * c.wq / c.wq.sum(-1, keepdims=True)
    q = np.where(c.wq > 0, q, np.nan)
    cost = np.broadcast_to((c.W[:, K] / tot)[:, None, None], q.shape[:2] + (1,))
    return np.concatenate([q, cost], axis=-1)


def driver_draws(c: Composites) -> np.ndarray:
    """(S, N, K + 1) each part's contribution to the value index in SD units (K quality indicators, then cost): its
    weight times its standardised effect (the cost composite for cost).  The parts add up to the value index in
    every draw; an indicator the trust does not report contributes NaN."""
    w = driver_weights(c)
    return np.concatenate([w[..., :-1] * c.z, w[..., -1:] * c.cost[..., None]], axis=-1)


def value_drivers(c: Composites, indicators, codes) -> pd.DataFrame:
    """What moves each trust's value index: one row per trust and part (each quality indicator, and cost) with the
    part's contribution in SD units (median, intervals, chance above 0) and its mean weight in the index.  The
    board documents show a trust's two largest parts from here."""
    parts = list(indicators) + ["cost"]
    dr, w = driver_draws(c), driver_weights(c)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for j, part in enumerate(parts):
            x = dr[:, :, j]
            t = _long(codes, f"contribution_{part}", "SD units of the value index (>0 better)", x, part=part,
                      weight=np.nanmean(w[:, :, j], axis=0))
            t["p_positive"] = np.where(np.isnan(x).all(0), np.nan, np.nanmean(x > 0, axis=0))
            rows.append(t)
    return pd.concat(rows, ignore_index=True)


# ----------------------------------------------------------------------------- tables

def stack_draws(post, name) -> np.ndarray:
    """A posterior variable with chains and draws merged into one leading axis."""
    a = post[name].values
    return a.reshape((-1,) + a.shape[2:])


def _long(codes, measure, unit, draws, **extra) -> pd.DataFrame:
    s = interval_summary(draws)
    return pd.DataFrame({"org_code": codes, "measure": measure, "unit": unit, **extra, **s})


def summarise(idata, d: ModelData, cfg: dict) -> dict[str, pd.DataFrame]:
    post = idata.posterior
    u, theta = stack_draws(post, "u"), stack_draws(post, "theta")
    codes = d.trusts.org_code.to_numpy()
    obs = d.observed
    peer = d.g
    region = d.trusts.region.to_numpy()
    tables: dict[str, pd.DataFrame] = {}

    # -- trust x indicator effects (log / logit scale), only where the indicator is observed
    rows = []
    for k, ind in enumerate(d.indicators):
        draws = np.where(obs[None, :, k], u[:, :, k], np.nan)
        rows.append(_long(codes, f"u_{ind}", registry.get(ind).effect_unit, draws, indicator=ind,
                          observed=obs[:, k]))
    tables["trust_effects"] = pd.concat(rows, ignore_index=True)

    # -- Health Alpha in board units, as each indicator's record shows it (models/indicators.py)
    rows = []
    for k, ind in enumerate(d.indicators):
        rec = registry.get(ind)
        m = obs[:, k]
        th, uk = theta[:, :, k], u[:, :, k]
        if rec.alpha == "ratio":
            ratio = np.where(m, np.exp(uk), np.nan)
            rows.append(_long(codes, rec.alpha_measure, rec.alpha_unit, ratio, indicator=ind))
        else:
            pp = 100 * (1 / (1 + np.exp(-th)) - 1 / (1 + np.exp(-(th - uk))))
            rows.append(_long(codes, rec.alpha_measure, rec.alpha_unit, np.where(m, pp, np.nan), indicator=ind))
        if rec.exposure:  # events above the need-adjusted expectation per 1,000 units of exposure
            E = d.n[:, k]
            with np.errstate(invalid="ignore", divide="ignore"):
                excess = E * (np.exp(th) - np.exp(th - uk)) / d.spells * 1000
            rows.append(_long(codes, rec.excess_measure, f"{rec.events} per 1,000 {rec.exposure_unit} "
                              f"({registry.better(rec.higher_is_better)})", np.where(m, excess, np.nan),
                              indicator=ind))
    c = composites(post, d, cfg)
    wq, sign, Qi, Ci, Vi, resid = c.wq, c.sign, c.quality, c.cost, c.value, c.resid
    rows.append(_long(codes, "quality_composite", "SD units (>0 better)", Qi, indicator="combined"))
    tables["health_alpha"] = pd.concat(rows, ignore_index=True)
    tables["value_drivers"] = value_drivers(c, d.indicators, codes)
    # -- the equity lens: the same position with the need adjustment added back (analysis.summaries.equity)
    from analysis.summaries.equity import equity_table, unadjusted_composites

    tables["equity_lens"] = equity_table(c, unadjusted_composites(post, d, cfg), d)

    # -- cost residuals, value index
    val = []
    for name, arr, unit in (("quality_composite", Qi, "SD units (>0 better)"),
                            ("cost_composite", Ci, "SD units (>0 = cheaper than need-adjusted expectation)"),
                            ("value_index", Vi, "SD units (>0 better)"),
                            ("quality_composite_peer", c.quality_peer, "SD units of the trust's peer group (>0 better)"),
                            ("cost_composite_peer", c.cost_peer,
                             "SD units of the trust's peer group (>0 = cheaper than need-adjusted expectation)")):
        t = _long(codes, name, unit, arr)
        t["p_positive"] = np.nanmean(arr > 0, axis=0)
        t.loc[np.isnan(arr).all(axis=0), "p_positive"] = np.nan
        val.append(t)
    # quality per GBP 1,000 spent: activity valued at need-adjusted expected cost per GBP 1,000 actually spent,
    # scaled by the weighted geometric mean of the trust's need-adjusted quality ratios (1/SHMI ratio, odds ratios);
    # 1,000 = a trust that delivers its need-adjusted expectation of quality at its need-adjusted expected cost
    if "total" in d.cost_outcomes:
        jt = d.cost_outcomes.index("total")
        with np.errstate(invalid="ignore"):
            log_q = (np.where(obs[None], sign * u, 0) * wq).sum(-1) / wq.sum(-1)
        q1000 = 1000 * np.exp(log_q - resid[:, :, jt])
        q1000[:, ~obs.any(axis=1)] = np.nan
        t = _long(codes, "quality_per_1000", "GBP of quality-adjusted activity at need-adjusted expected cost per "
                  "GBP 1,000 spent (1,000 = expectation)", q1000)
        t["p_positive"] = np.nanmean(q1000 > 1000, axis=0)
        val.append(t)
    # national cost index in plain terms
    for j, out in enumerate(d.cost_outcomes):
        val.append(_long(codes, f"cost_residual_{out}", "log(actual/need-adjusted expected cost)", resid[:, :, j]))
    tables["value_index"] = pd.concat(val, ignore_index=True)

    # -- ranks of the value index
    rk = []
    comparable = national_comparable(obs, peer)
    for scope, groups in (("national", None), ("peer group", d.trusts.peer_group.to_numpy()), ("region", region)):
        score = Vi if scope == "peer group" else np.where(comparable[None], Vi, np.nan)
        r = rank_summary(rank_draws(score, None if groups is None else pd.factorize(groups)[0]),
                         None if groups is None else pd.factorize(groups)[0])
        r.insert(0, "org_code", codes)
        r.insert(1, "scope", scope)
        r.insert(2, "group", "England" if groups is None else groups)
        rk.append(r)
    tables["ranks"] = pd.concat(rk, ignore_index=True)

    # -- trapped value (gross headline = sum of the care settings; net = total cost), its benchmarks and null
    #    reference, and avoidable deaths: analysis.summaries.trapped holds the definitions and why
    from analysis.summaries.trapped import cost_tables, deaths_tables

    seed = int(cfg["sampler"]["seed"])
    parts = [cost_tables(resid, d, cfg["benchmark"]["cost"], seed)]
    k = registry.mortality_index(d.indicators)  # the record marked ``avoidable``: SHMI
    if k is not None:
        # the peer groups' SHMI scale; a posterior without it (constructed in tests) falls back on the national sd0
        tau = (stack_draws(post, "sigma")[:, :, k][:, peer] if "sigma" in post else
               np.broadcast_to(stack_draws(post, "sd0")[:, [k]], (u.shape[0], d.N)))
        phi = stack_draws(post, "shmi_inv_dispersion") if "shmi_inv_dispersion" in post else None
        parts.append(deaths_tables(u[:, :, k], theta[:, :, k], tau, d, k, cfg["benchmark"]["mortality"], seed, phi))
    for part in parts:
        for name, t in part.items():
            tables[name] = pd.concat([tables[name], t], ignore_index=True) if name in tables else t

    for name, t in tables.items():
        if "org_code" in t:  # null_reference is national only
            tables[name] = d.trusts.merge(t, on="org_code", how="right")
    return tables

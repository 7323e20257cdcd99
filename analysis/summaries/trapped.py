"""Trapped value and avoidable deaths: one definition, its reconciliation, its benchmarks and its null reference.

Definitions (what the documents say, and why):

* **Care-setting trapped value** (admitted patient care, outpatients, A&E): the money a year released if the
  setting's need-adjusted cost fell to its peer benchmark, zero where it is at or below it.  Each setting has its
  own benchmark.
* **Headline (gross)**: the *sum of the care settings*, draw by draw, so the headline always reconciles with its
  breakdown, per trust and nationally.  Gross is the usual "opportunity" measure (each service line's gap to its
  peers, as in Model Hospital and GIRFT): a trust cannot release an admitted-care excess by being cheap in
  outpatients.  Its weakness is that costing practice (how overheads are allocated between settings) moves cost
  from one setting to another, which inflates a sum of positive parts; the net figure cancels that.
* **Net, all costs**: the same gap on the trust's *total* National Cost Collection cost (the ``total`` cost
  outcome): settings below the benchmark offset those above, and it covers all the trust's reported cost, of which
  the three settings are only part (critical care, community and other activity are in the total, not in a
  setting).  So gross and net differ for two reasons, netting and coverage, and neither bounds the other.
* **Point estimates are posterior means**: means add, so the settings' estimates sum to the headline's and the
  trusts' to England's; medians of positive parts do not (a median can be 0 with a mean above it).

Null references (what each total would be if no trust truly differed from its peers):

* **Avoidable deaths**: observed deaths are Poisson about the need-adjusted rate.  In every posterior draw we
  simulate replicate deaths with every trust effect set to zero, form each trust's posterior under the fitted
  peer-group scale with a normal approximation to the likelihood (precision-weighted shrinkage), and compute the
  same positive-part sum.  The fitted scale is larger than a refit to null data would estimate, so the null is
  conservative (too high rather than too low).  The same approximation applied to the *observed* deaths is
  reported beside the MCMC estimate as a check of the approximation.
* **Trapped value**: the cost model treats National Cost Collection costs as measured without error, so with
  every trust effect at zero the only thing left is estimation uncertainty in the need adjustment: that is the
  model's null (each trust's residual replaced by its posterior deviation from its own mean).  Because it cannot
  include costing noise, we also report the **break-even costing noise**: the SD of a trust-level costing error
  (log scale) that would by itself produce the whole total, to set against the observed spread of the trusts'
  residuals.

Everything here is a pure function of arrays; :func:`cost_tables` and :func:`deaths_tables` build the tables.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from analysis.summaries.posterior import interval_summary, peer_quantile, trapped_value

#: benchmark kinds: the documents' wording and, for a quantile, the quantile (lower is better for cost and deaths)
BENCHMARKS = {"peer_median": 0.5, "peer_mean": None, "peer_best_quartile": 0.25}
BENCHMARK_LABELS = {"peer_median": "peer-group median", "peer_mean": "peer-group mean",
                    "peer_best_quartile": "peer group's best quarter (25th percentile)"}
#: the key of the headline row (sum of the care settings) and of the net row (the total cost outcome)
GROSS, NET = "gross", "total"
BASIS = {GROSS: "gross: sum of the care settings, each against its own peer benchmark",
         NET: "net: all the trust's reported cost against the peer benchmark of total cost (settings offset)",
         "setting": "gross: this care setting against its own peer benchmark"}


# ----------------------------------------------------------------------------- pure array functions

def peer_benchmark(values: np.ndarray, groups: np.ndarray, kind: str) -> np.ndarray:
    """(S, N): in every draw, the benchmark of ``values`` over each trust's peer group (NaN trusts ignored)."""
    if kind not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {kind!r}; known: {', '.join(BENCHMARKS)}")
    q = BENCHMARKS[kind]
    nan = np.isnan(values)
    if (nan.any(axis=0) & ~nan.all(axis=0)).any():  # a trust missing in some draws only: the slow NaN-aware way
        if q is not None:
            return peer_quantile(values, groups, q)
    out = np.full(values.shape, np.nan)
    for gval in np.unique(groups):
        idx = (groups == gval) & ~nan.all(axis=0)
        if not idx.any():  # e.g. SHMI in the specialist group: no benchmark
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            sub = values[:, idx]
            b = np.nanmean(sub, axis=1) if q is None else np.quantile(sub, q, axis=1)
        out[:, groups == gval] = b[:, None]
    return out


def setting_draws(resid: np.ndarray, actual: np.ndarray, outcomes: list[str], groups: np.ndarray,
                  kind: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Trapped value draws ``{outcome: (S, N)}`` for every cost outcome plus :data:`GROSS` (the sum of the care
    settings, every outcome but ``total``), and the indicator draws of being above the benchmark (gap > 0).

    ``resid`` (S, N, J) log(actual / need-adjusted expected cost), NaN where the outcome is not reported;
    ``actual`` (N, J) GBP m.  A trust with no care setting reported has a NaN gross value."""
    tv, above = {}, {}
    for j, out in enumerate(outcomes):
        r = resid[:, :, j]
        bench = peer_benchmark(r, groups, kind)
        gap = r - bench
        t = trapped_value(np.nan_to_num(actual[:, j]), r, bench)
        miss = np.isnan(r).all(axis=0)
        t[:, miss] = np.nan
        tv[out] = t
        above[out] = np.where(np.isnan(gap), np.nan, gap > 0)
    settings = [o for o in outcomes if o != NET]
    if settings:
        stack = np.stack([tv[o] for o in settings])
        gross = np.nansum(stack, axis=0)
        gross[:, np.isnan(stack).all(axis=(0, 1))] = np.nan
        tv[GROSS] = gross
        above[GROSS] = np.where(np.isnan(gross), np.nan, gross > 0)
    return tv, above


def national(draws: np.ndarray) -> np.ndarray:
    """(S,) the sum over trusts in every draw (trusts without a value left out)."""
    return np.nansum(draws, axis=1)


def estimation_null(resid: np.ndarray) -> np.ndarray:
    """Residual draws with every trust moved to zero effect, keeping only the posterior's estimation uncertainty:
    each trust's residual minus its own posterior mean."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return resid - np.nanmean(resid, axis=0, keepdims=True)


def breakeven_noise(actual: np.ndarray, observed: np.ndarray, groups: np.ndarray, target: float, kind: str,
                    reps: int = 200, seed: int = 0) -> float:
    """The SD ``s`` of a trust-level costing error (log scale, normal, independent across trusts and settings) at
    which pure noise, with no trust truly differing, gives an expected national trapped value of ``target``.

    ``actual`` and ``observed`` are (N, J) for the J cost outcomes summed (one for a setting, the care settings for
    the gross headline).  Common random numbers make the expected sum increasing in ``s``; solved by bisection.
    NaN when ``target`` is not positive or not reached with ``s`` = 2 (a cost ratio of e^2)."""
    if not np.isfinite(target) or target <= 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    N, J = actual.shape
    z = rng.standard_normal((reps, N, J))
    z[:, ~observed] = np.nan

    def expected_sum(s: float) -> float:
        tot = 0.0
        for j in range(J):
            r = s * z[:, :, j]
            tot += np.nansum(setting_draws(r[:, :, None], actual[:, [j]], ["x"], groups, kind)[0]["x"], axis=1).mean()
        return tot

    lo, hi = 0.0, 2.0
    if expected_sum(hi) < target:
        return float("nan")
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if expected_sum(mid) < target else (lo, mid)
    return (lo + hi) / 2


def robust_spread(resid: np.ndarray, groups: np.ndarray) -> float:
    """Pooled robust SD (1.4826 MAD) of the trusts' posterior-mean residuals about their peer-group median."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rbar = np.nanmean(resid, axis=0)
    dev = rbar - peer_benchmark(rbar[None], groups, "peer_median")[0]
    dev = dev[~np.isnan(dev)]
    return float(1.4826 * np.median(np.abs(dev))) if dev.size else float("nan")


def excess_deaths(expected: np.ndarray, m: np.ndarray, u: np.ndarray, groups: np.ndarray, kind: str
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(S, N) deaths a year above the peer benchmark, ``E e^m (e^u - e^b)`` floored at 0, with ``m`` the
    need-adjusted log rate, ``u`` the trust effect (NaN where no SHMI) and ``b`` the benchmark of ``u`` over the
    peer group; and the indicator of being above it (u > b)."""
    b = peer_benchmark(u, groups, kind)
    lam = expected * np.exp(m)
    ex = np.maximum(lam * (np.exp(u) - np.exp(b)), 0.0)
    ex = np.where(np.isnan(u), np.nan, ex)
    return ex, np.where(np.isnan(u) | np.isnan(b), np.nan, u > b)


def shrunk_effects(uhat: np.ndarray, v: np.ndarray, tau: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A draw of each trust effect from its normal-normal posterior: estimate ``uhat`` with sampling variance ``v``
    under a N(0, tau^2) population, i.e. N(B uhat, B v) with B = tau^2 / (tau^2 + v)."""
    B = tau**2 / (tau**2 + v)
    return B * uhat + np.sqrt(B * v) * rng.standard_normal(uhat.shape)


def deaths_null(expected: np.ndarray, m: np.ndarray, tau: np.ndarray, groups: np.ndarray, kind: str,
                rng: np.random.Generator, overdispersion: np.ndarray | None = None,
                observed: np.ndarray | None = None) -> np.ndarray:
    """(S, N) avoidable deaths that the model's shrinkage gives when no trust truly differs from its peers.

    In every draw: deaths ``O ~ Poisson(E e^m)`` (negative binomial with ``overdispersion`` phi, variance
    ``mu + phi^2 mu^2``), the log ratio ``uhat = log((O + 1/2) / (E e^m + 1/2))`` with variance ``v = 1/(E e^m)``
    (+ phi^2), each trust's effect drawn from its normal-normal posterior at the draw's peer-group scale ``tau``,
    then :func:`excess_deaths`.  With ``observed`` deaths given instead of simulated ones, the same approximation of
    the actual posterior (the check of the approximation).  NaN columns of ``m`` stay NaN."""
    lam = expected * np.exp(m)
    ok = np.isfinite(lam)
    lam_ok = np.where(ok, lam, 1.0)
    phi2 = 0.0 if overdispersion is None else overdispersion[:, None] ** 2
    if observed is None:
        if overdispersion is None:
            O = rng.poisson(lam_ok)
        else:
            alpha = 1 / np.maximum(phi2, 1e-12)
            O = rng.poisson(rng.gamma(alpha, lam_ok / alpha))
    else:
        O = np.broadcast_to(np.nan_to_num(observed), lam.shape)
    uhat = np.log((O + 0.5) / (lam_ok + 0.5))
    v = 1 / lam_ok + phi2
    u0 = shrunk_effects(uhat, v, tau, rng)
    u0 = np.where(ok, u0, np.nan)
    return excess_deaths(expected, np.where(ok, m, np.nan), u0, groups, kind)[0]


# ----------------------------------------------------------------------------- tables

def _summary_row(draws_1d: np.ndarray) -> dict:
    return {k: float(v[0]) for k, v in interval_summary(draws_1d[:, None]).items()}


def _long(codes, measure, unit, draws, above=None, **extra) -> pd.DataFrame:
    s = interval_summary(draws)
    t = pd.DataFrame({"org_code": codes, "measure": measure, "unit": unit, **extra, **s})
    if above is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            t["p_above"] = np.nanmean(above, axis=0)
    return t


def cost_tables(resid: np.ndarray, d, kind: str, seed: int) -> dict[str, pd.DataFrame]:
    """``trapped_value`` (per trust and ENGLAND, every cost outcome and the gross headline, at the configured
    benchmark), its rows of ``benchmark_sensitivity`` and of ``null_reference``."""
    codes = d.trusts.org_code.to_numpy()
    outs = list(d.cost_outcomes)
    actual = np.where(np.isnan(d.cost_y), np.nan, d.cost_actual)
    total_actual = actual[:, outs.index(NET)] if NET in outs else np.full(len(codes), np.nan)
    settings = [o for o in outs if o != NET]
    unit = "GBP million a year"

    def act(out):
        if out == GROSS:
            a = actual[:, [outs.index(s) for s in settings]]
            return np.where(np.isnan(a).all(axis=1), np.nan, np.nansum(a, axis=1))
        return actual[:, outs.index(out)]

    # -- the configured benchmark: per trust and England
    tv, above = setting_draws(resid, d.cost_actual, outs, d.g, kind)
    rows = []
    for out, draws in tv.items():
        basis = BASIS[out] if out in (GROSS, NET) else BASIS["setting"]
        a = act(out)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = a / total_actual
        t = _long(codes, f"trapped_value_{out}", unit, draws, above[out], setting=out, basis=basis,
                  actual_gbp_m=a, share_of_total_cost=share)
        both = np.isfinite(a) & np.isfinite(total_actual)
        e = _long(np.array(["ENGLAND"]), f"trapped_value_{out}", unit, national(draws)[:, None], setting=out,
                  basis=basis, actual_gbp_m=np.nansum(a),
                  share_of_total_cost=a[both].sum() / total_actual[both].sum() if both.any() else np.nan)
        e["p_above"] = np.nan
        rows += [t, e]
    trapped = pd.concat(rows, ignore_index=True)
    trapped["benchmark"] = kind

    # -- every benchmark: per trust and England (the headline and net per trust; every outcome nationally)
    sens = []
    for k in BENCHMARKS:
        tvk, abk = setting_draws(resid, d.cost_actual, outs, d.g, k)
        for out, draws in tvk.items():
            if out in (GROSS, NET):
                sens.append(_long(codes, "trapped_value", unit, draws, abk[out], setting=out, benchmark=k))
            sens.append(_long(np.array(["ENGLAND"]), "trapped_value", unit, national(draws)[:, None], setting=out,
                              benchmark=k))

    # -- null reference: estimation uncertainty only, and the break-even costing noise
    tv0, _ = setting_draws(estimation_null(resid), d.cost_actual, outs, d.g, kind)
    observed = ~np.isnan(d.cost_y)
    nulls = []
    for out, draws in tv.items():
        est, nul = national(draws), national(tv0[out])
        js = [outs.index(s) for s in settings] if out == GROSS else [outs.index(out)]
        be = breakeven_noise(np.nan_to_num(d.cost_actual[:, js]), observed[:, js], d.g, float(est.mean()), kind,
                             seed=seed)
        spread = [robust_spread(resid[:, :, j], d.g) for j in js]
        nulls.append(_null_row(f"trapped_value_{out}", unit, est, nul, kind,
                               "estimation uncertainty only: costs are treated as measured without error",
                               breakeven_noise_sd=be, observed_spread_sd=float(np.mean(spread))))
    return {"trapped_value": trapped, "benchmark_sensitivity": pd.concat(sens, ignore_index=True),
            "null_reference": pd.DataFrame(nulls)}


def deaths_tables(post_u: np.ndarray, post_theta: np.ndarray, tau: np.ndarray, d, k: int, kind: str, seed: int,
                  overdispersion: np.ndarray | None = None) -> dict[str, pd.DataFrame]:
    """``avoidable_deaths`` (per trust and ENGLAND at the configured benchmark, with P(above the benchmark)), its
    rows of ``benchmark_sensitivity`` and of ``null_reference``.  ``post_u``, ``post_theta`` (S, N) the SHMI trust
    effect and log rate; ``tau`` (S, N) the SHMI trust-effect scale of each trust's peer group."""
    codes = d.trusts.org_code.to_numpy()
    obs = d.observed[:, k]
    E = np.where(obs, d.n[:, k], np.nan)
    u = np.where(obs[None], post_u, np.nan)
    m = np.where(obs[None], post_theta - post_u, np.nan)
    unit = "deaths a year above the peer benchmark"
    ex, above = excess_deaths(E, m, u, d.g, kind)
    t = _long(codes, "avoidable_deaths", unit, ex, above)
    e = _long(np.array(["ENGLAND"]), "avoidable_deaths", unit, national(ex)[:, None])
    e["p_above"] = np.nan
    table = pd.concat([t, e], ignore_index=True)
    table["benchmark"] = kind
    sens = []
    for b in BENCHMARKS:
        exb, abb = excess_deaths(E, m, u, d.g, b)
        sens += [_long(codes, "avoidable_deaths", unit, exb, abb, setting="", benchmark=b),
                 _long(np.array(["ENGLAND"]), "avoidable_deaths", unit, national(exb)[:, None], setting="",
                       benchmark=b)]
    rng = np.random.default_rng(seed)
    null = national(deaths_null(E, m, tau, d.g, kind, rng, overdispersion))
    check = national(deaths_null(E, m, tau, d.g, kind, rng, overdispersion, observed=d.y[:, k]))
    row = _null_row("avoidable_deaths", unit, national(ex), null, kind,
                    "replicate deaths with no trust effect, shrunk at the fitted peer-group scale",
                    approximation_mean=float(check.mean()),
                    observed_deaths=float(np.nansum(d.y[obs, k])), expected_deaths=float(np.nansum(E)))
    return {"avoidable_deaths": table, "benchmark_sensitivity": pd.concat(sens, ignore_index=True),
            "null_reference": pd.DataFrame([row])}


def _null_row(measure: str, unit: str, estimate: np.ndarray, null: np.ndarray, kind: str, basis: str,
              **extra) -> dict:
    e, n = _summary_row(estimate), _summary_row(null)
    # P(estimate > null): the two distributions compared draw by draw after independent shuffling of the null
    p = float(np.mean(estimate[:, None] > np.sort(null)[None, :: max(1, len(null) // 500)]))
    return {"measure": measure, "unit": unit, "benchmark": kind, "null_basis": basis,
            **{f"estimate_{k}": v for k, v in e.items()}, **{f"null_{k}": v for k, v in n.items()},
            "excess_over_null_mean": e["mean"] - n["mean"], "p_estimate_above_null": p, **extra}


# ----------------------------------------------------------------------------- national headline figures

def trapped_headlines(tables: dict) -> dict[str, float]:
    """The national figures of trapped value and avoidable deaths for :func:`analysis.summaries.derived.headlines`:
    ``trapped_value_*`` is the headline (gross, the sum of the care settings; the net total cost where the fit has
    no setting), ``trapped_value_net_*`` the net figure, each with its null reference (``*_null_*``), its value at
    every benchmark (``*_<benchmark>``) and the break-even costing noise; ``avoidable_deaths_*`` the same."""
    nan = float("nan")
    h: dict[str, float] = {}
    tv = tables["trapped_value"]
    settings = set(tv.setting)
    head = GROSS if GROSS in settings else NET
    nr = tables.get("null_reference")
    nr = nr.set_index("measure") if nr is not None and len(nr) else None
    bs = tables.get("benchmark_sensitivity")
    bs = bs[bs.org_code == "ENGLAND"] if bs is not None and len(bs) else None
    for prefix, setting in (("trapped_value", head), ("trapped_value_net", NET)):
        eng = tv[(tv.org_code == "ENGLAND") & (tv.setting == setting)]
        r = eng.iloc[0] if len(eng) else None
        for s in ("mean", "median", "lo95", "hi95"):
            h[f"{prefix}_{s}"] = float(r[s]) if r is not None else nan
        h[f"{prefix}_actual"] = float(r.actual_gbp_m) if r is not None and "actual_gbp_m" in r.index else nan
        key = f"trapped_value_{setting}"
        n = nr.loc[key] if nr is not None and key in nr.index else None
        for s in ("mean", "lo95", "hi95"):
            h[f"{prefix}_null_{s}"] = float(n[f"null_{s}"]) if n is not None else nan
        h[f"{prefix}_breakeven_sd"] = float(n.breakeven_noise_sd) if n is not None else nan
        h[f"{prefix}_spread_sd"] = float(n.observed_spread_sd) if n is not None else nan
        for b in BENCHMARKS:
            row = bs[(bs.measure == "trapped_value") & (bs.setting == setting) & (bs.benchmark == b)] \
                if bs is not None else ()
            h[f"{prefix}_{b}"] = float(row["mean"].iloc[0]) if len(row) else nan
    h["trapped_value_is_gross"] = float(head == GROSS)
    h["trapped_value_coverage"] = h["trapped_value_actual"] / h["trapped_value_net_actual"] if head == GROSS else 1.0
    trusts = tv[(tv.setting == head) & (tv.org_code != "ENGLAND")]
    h["trapped_value_n_positive"] = float((trusts.lo95 > 0).sum())
    h["trapped_value_n_trusts"] = float(trusts["mean"].notna().sum())
    net = tv[(tv.setting == NET) & (tv.org_code != "ENGLAND")]
    h["trapped_value_net_n_above"] = float((net.p_above > 0.975).sum()) if "p_above" in net else nan
    h["trapped_value_net_n_below"] = float((net.p_above < 0.025).sum()) if "p_above" in net else nan
    ad = tables.get("avoidable_deaths")
    e = ad[ad.org_code == "ENGLAND"] if ad is not None else ()
    for s in ("mean", "median", "lo95", "hi95"):
        h[f"avoidable_deaths_{s}"] = float(e[s].iloc[0]) if len(e) else nan
    n = nr.loc["avoidable_deaths"] if nr is not None and "avoidable_deaths" in nr.index else None
    for s in ("mean", "lo95", "hi95"):
        h[f"avoidable_deaths_null_{s}"] = float(n[f"null_{s}"]) if n is not None else nan
    for k in ("approximation_mean", "observed_deaths", "expected_deaths"):
        h[f"avoidable_deaths_{k}"] = float(n[k]) if n is not None else nan
    for b in BENCHMARKS:
        row = bs[(bs.measure == "avoidable_deaths") & (bs.benchmark == b)] if bs is not None else ()
        h[f"avoidable_deaths_{b}"] = float(row["mean"].iloc[0]) if len(row) else nan
    trusts = ad[ad.org_code != "ENGLAND"] if ad is not None else None
    h["avoidable_deaths_n_above"] = float((trusts.p_above > 0.975).sum()) \
        if trusts is not None and "p_above" in trusts else nan
    return h

"""Backtest: fit the years up to T-1, predict each trust's year T, compare with what was observed.

For every target year T the data allow (an indicator is scored in T when it has data in T and in at least
:data:`MIN_TRAIN_YEARS` earlier years, the years its persistence needs), the dynamic model is fitted to the years before T and each trust's
observation in T is predicted in every posterior draw::

    mu[g,k,T] = mu[g,k,last] + national and peer steps (one per year from the last year with data to T;
                the wide series-break prior where the break falls)
    u[i,k,T]  ~ Normal(rho^h a, rho^2h P + sigma^2 (1 - rho^2h))   (a, P: the filtered state at the last year)
    z[i,k,T]  ~ Normal(mu + beta x + u, v[i,k,T] + tau^2)          (v from the denominator observed in T)

Scores, on the indicator's natural scale (percentage points of the share): 90% interval coverage (target
85-95%); the predictive p-values (PIT: the share of predictive draws below the observation), uniform if the
forecasts are calibrated (Kolmogorov-Smirnov and a 10-bin chi-square test); and the mean CRPS against the naive
"same as last year" forecast (the trust's last observed value as a point forecast, whose CRPS is its absolute
error; target ratio at most 0.8).  A naive forecast with spread (Normal around last year with the SD of the last
observed year-on-year changes across trusts) is reported beside it, as a harder comparator.

The PITs of one target year are not independent: every trust's forecast carries the same national step, so one
national surprise moves all of them together, and a uniformity test over the trusts of a year rejects even a
calibrated model.  Each forecast is therefore also split (:func:`relative_split`, on the linear predictor) into
the year's cross-trust centre, shared by all trusts, and the trust's position relative to it: the relative
forecasts' PITs are close to independent across trusts and are the ones tested for uniformity per year
(``rel_pit_ks_p``, with their coverage ``rel_coverage90``); the centre gives one PIT per target year x indicator
(``national_pit``), checked pooled over the rows.  The plain columns are kept.  Centred values sum to zero, which
makes the nominal KS p-value conservative, so the tests' null distributions are taken from the forecast itself
(:func:`reference_uniformity`); the same reference applied to the plain PITs (``pit_ks_p_joint``) is a valid test
of them too, one that knows they share the national step.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from analysis.trend.fit import expectation, fit_trend
from analysis.trend.years import fy_label
from models import indicators as registry
from models.trend_model import inverse, prepare

#: years with data an indicator needs before T to be scored in T: as many as its persistence and year-level noise
#: need to be estimated (config indicators.min_years_dynamic); with fewer the model holds no rho to forecast with
MIN_TRAIN_YEARS = 3
TARGET_COVERAGE = (0.85, 0.95)
TARGET_CRPS_RATIO = 0.8


# --------------------------------------------------------------------------------------------- scoring rules

def crps_sample(draws: np.ndarray, y: np.ndarray) -> np.ndarray:
    """CRPS of a sample forecast (draws along axis 0) for observations y: E|X - y| - E|X - X'| / 2, computed from
    the sorted sample in O(S log S) (the exact sample estimator)."""
    x = np.sort(draws, axis=0)
    S = x.shape[0]
    term1 = np.mean(np.abs(x - y[None]), axis=0)
    i = np.arange(1, S + 1)[:, None]
    term2 = np.sum((2 * i - S - 1) * x, axis=0) / S**2  # = E|X - X'| / 2
    return term1 - term2


def crps_normal(mu, sd, y) -> np.ndarray:
    """Closed-form CRPS of a Normal(mu, sd) forecast (Gneiting & Raftery 2007); sd = 0 gives |y - mu|."""
    mu, sd, y = (np.array(a, float) for a in np.broadcast_arrays(np.atleast_1d(np.asarray(mu, float)),
                                                                np.atleast_1d(np.asarray(sd, float)),
                                                                np.atleast_1d(np.asarray(y, float))))
    out = np.abs(y - mu)
    pos = sd > 0
    zz = (y[pos] - mu[pos]) / sd[pos]
    out[pos] = sd[pos] * (zz * (2 * stats.norm.cdf(zz) - 1) + 2 * stats.norm.pdf(zz) - 1 / np.sqrt(np.pi))
    return out


def pit(draws: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Predictive p-value of each observation: the share of draws below it (ties count half)."""
    return (np.mean(draws < y[None], axis=0) + 0.5 * np.mean(draws == y[None], axis=0))


def coverage(draws: np.ndarray, y: np.ndarray, level: float = 0.9) -> float:
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return float(np.mean((y >= lo) & (y <= hi)))


def uniformity(p: np.ndarray, bins: int = 10) -> dict:
    """Kolmogorov-Smirnov and chi-square (``bins`` equal bins) tests of PIT values against the uniform."""
    p = np.asarray(p, float)
    ks = stats.kstest(p, "uniform")
    counts = np.histogram(p, bins=bins, range=(0, 1))[0]
    chi = stats.chisquare(counts)
    return {"n": int(len(p)), "ks_stat": float(ks.statistic), "ks_p": float(ks.pvalue), "chi2": float(chi.statistic),
            "chi2_p": float(chi.pvalue), "bins": counts.tolist()}


# ------------------------------------------------------------------------------- shared and relative components

def relative_split(draws: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None) -> dict:
    """Split a joint forecast of one year (draws (S, N) of N trusts, observations y (N,)) into the part every trust
    shares and each trust's position relative to it.

    The centre is the cross-trust mean (within each of ``groups`` when given), taken in every draw and in the
    observations alike; the relative forecast is draw minus that draw's centre, the relative observation is
    observation minus the observed centre.  The shared shock (the national step every trust takes) cancels from
    the relative values, so their PITs are close to independent across trusts and a uniformity test over the
    trusts of one year is valid; the plain PITs all carry the same national forecast error and are not.  Work on
    the scale on which the shock is additive (the linear predictor).  Returns ``rel_draws`` (S, N), ``rel_y`` (N,),
    ``centre_draws`` (S, G), ``centre_y`` (G,) and ``group`` (N,) indexing the centres."""
    draws, y = np.asarray(draws, float), np.asarray(y, float)
    if draws.ndim != 2 or y.shape != draws.shape[1:]:
        raise ValueError(f"relative_split: draws {draws.shape} and observations {y.shape} do not match (S, N), (N,)")
    gi = np.zeros(len(y), int) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    G = int(gi.max()) + 1 if len(gi) else 0
    centre_draws = np.stack([draws[:, gi == j].mean(axis=1) for j in range(G)], axis=1)
    centre_y = np.array([y[gi == j].mean() for j in range(G)])
    return {"rel_draws": draws - centre_draws[:, gi], "rel_y": y - centre_y[gi], "centre_draws": centre_draws,
            "centre_y": centre_y, "group": gi}


def ks_statistic(p: np.ndarray) -> np.ndarray:
    """Kolmogorov-Smirnov distance of PIT values (last axis) from the uniform; leading axes are batches."""
    x = np.sort(np.asarray(p, float), axis=-1)
    n = x.shape[-1]
    i = np.arange(1, n + 1)
    return np.maximum((i / n - x).max(axis=-1), (x - (i - 1) / n).max(axis=-1))


def chi2_statistic(p: np.ndarray, bins: int = 10) -> np.ndarray:
    """Pearson's statistic of PIT values (last axis) in ``bins`` equal bins against equal counts."""
    p = np.asarray(p, float)
    idx = np.clip((p * bins).astype(int), 0, bins - 1)
    counts = (idx[..., None] == np.arange(bins)).sum(axis=-2)
    e = p.shape[-1] / bins
    return ((counts - e) ** 2 / e).sum(axis=-1)


def reference_uniformity(draws: np.ndarray, p_obs: np.ndarray, bins: int = 10) -> dict:
    """Uniformity tests of the PITs ``p_obs`` (N,) of one joint forecast ``draws`` (S, N), with each test's null
    distribution taken from the forecast itself: every draw in turn plays the observation, its PITs against the
    other draws give one value of the statistic.  If the observations are a draw from the joint forecast they are
    exchangeable with the draws, so the p-value (the share of draws whose statistic is at least the observed one)
    is valid whatever the dependence between the trusts' PITs; the nominal KS p-value is not when the values are
    centred on their own mean, which makes it conservative (as Lilliefors' test is with an estimated mean)."""
    draws = np.asarray(draws, float)
    S = draws.shape[0]
    rank = np.argsort(np.argsort(draws, axis=0, kind="stable"), axis=0)  # draws below each draw, in its column
    p_ref = rank / (S - 1)
    ks_ref, chi_ref = ks_statistic(p_ref), chi2_statistic(p_ref, bins)
    ks_obs, chi_obs = float(ks_statistic(p_obs)), float(chi2_statistic(p_obs, bins))
    return {"ks_stat": ks_obs, "ks_p": float((1 + np.sum(ks_ref >= ks_obs)) / (S + 1)),
            "chi2": chi_obs, "chi2_p": float((1 + np.sum(chi_ref >= chi_obs)) / (S + 1))}


def decomposed_scores(draws: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None,
                      level: float = 0.9) -> dict:
    """Calibration of the relative and the shared parts of one year's forecast (:func:`relative_split`).

    Returns per trust ``rel_pit`` and ``rel_covered`` (the relative observation inside the central ``level``
    interval of the relative forecast); over trusts ``rel_coverage`` and the uniformity tests of the relative PITs
    (``rel_ks_p``, ``rel_chi2_p``: null distributions from the forecast, :func:`reference_uniformity`;
    ``rel_ks_p_nominal``: scipy's, conservative here; ``rel_bins``); and for the shared part, one value per group,
    ``centre_pit``
    (the PIT of the observed centre in the forecast centres), ``centre_error`` (observed minus forecast mean) and
    ``centre_sd`` (forecast SD), all on the scale of ``draws``."""
    sp = relative_split(draws, y, groups)
    rd, ry = sp["rel_draws"], sp["rel_y"]
    p = pit(rd, ry)
    lo, hi = np.quantile(rd, [(1 - level) / 2, (1 + level) / 2], axis=0)
    covered = (ry >= lo) & (ry <= hi)
    u = uniformity(p)
    ref = reference_uniformity(rd, p)
    cd, cy = sp["centre_draws"], sp["centre_y"]
    return {"rel_pit": p, "rel_covered": covered, "rel_coverage": float(covered.mean()), "rel_ks_p": ref["ks_p"],
            "rel_chi2_p": ref["chi2_p"], "rel_ks_p_nominal": u["ks_p"], "rel_bins": u["bins"],
            "centre_pit": pit(cd, cy),
            "centre_error": cy - cd.mean(axis=0), "centre_sd": cd.std(axis=0, ddof=1)}


# ------------------------------------------------------------------------------------------------- forecasts

def national_step_draws(rng, wide: list[bool], s_c: np.ndarray, scale: float, df: float) -> np.ndarray:
    """(D,) national change over the years ``wide`` (one flag per year: True where the series-break prior
    Normal(0, scale) applies) with Student-t(df) steps of scale ``s_c`` (D,) in the other years."""
    out = np.zeros(len(s_c))
    for w in wide:
        out = out + (scale * rng.standard_normal(len(s_c)) if w else s_c * rng.standard_t(df, len(s_c)))
    return out


def forecast(idata, d_train, st: dict, d_target, T_index: int, cfg: dict, rng) -> np.ndarray:
    """Predictive draws (D, N, K) of the linear-predictor observation z in target year ``d_target.years[T]``
    (``d_train`` is the training data; the trusts are the same)."""
    h = st["hyper"]
    D = h["sigma"].shape[0]
    N, K, _ = d_train.shape
    target_year = d_target.years[T_index]
    out = np.empty((D, N, K))
    expect_last = expectation(h, d_train)  # (D, N, K, Ttrain)
    for k in range(K):
        last = int(d_train.last[k])
        hzn = target_year - d_train.years[last]
        mu_last = h["mu"][:, :, k, last]  # (D, G)
        var_step = np.zeros(D)
        for yr in range(d_train.years[last] + 1, target_year + 1):
            wide = d_target.wide_step[k, d_target.years.index(yr)] if yr in d_target.years else False
            c_sd = h["scale"][k] if wide else h["s_c"][:, k]
            var_step = var_step + c_sd**2 + h["s_e"][:, k] ** 2
        # national + peer steps: peer means move together by the national steps and apart by the peer steps
        df = float(cfg["priors"].get("national_step_df", 0) or 0)
        if df > 0:  # Student-t steps (models/trend_model.py): summed year by year, a sum of t's is not a t
            wide_years = [bool(d_target.wide_step[k, d_target.years.index(yr)]) if yr in d_target.years else False
                          for yr in range(d_train.years[last] + 1, target_year + 1)]
            nat = national_step_draws(rng, wide_years, h["s_c"][:, k], float(h["scale"][k]), df)
        else:
            nat = rng.standard_normal(D) * np.sqrt(np.maximum(var_step - hzn * h["s_e"][:, k] ** 2, 0))
        peer = rng.standard_normal((D, len(d_train.peer_groups))) * np.sqrt(hzn) * h["s_e"][:, k, None]
        mu_T = mu_last + nat[:, None] + peer
        need = expect_last[:, :, k, last] - mu_last[:, d_train.g]
        # the trust's state moves on from the filtered state of the last training year (the filter has already
        # carried it over any years after the indicator's last data), so its horizon counts from that year
        hu = target_year - d_train.years[-1]
        r = h["rho"][:, k, None] ** hu
        s2 = h["sigma"][:, k, None] ** 2
        mean_u = r * st["a_last"][:, :, k]
        if float(cfg["priors"].get("volatility_step", 0) or 0) > 0:
            # innovation variance drifting by year (models/trend_model.py): its log walks on from the last year
            rho_k = h["rho"][:, k, None]
            log_vol = np.log(h["vol"][:, k, -1])
            var_u = st["P_last"][:, :, k]
            for _ in range(hu):
                log_vol = log_vol + h["s_h"] * rng.standard_normal(D)
                var_u = rho_k**2 * var_u + s2 * (1 - rho_k**2) * np.exp(log_vol)[:, None]
        else:
            var_u = r**2 * st["P_last"][:, :, k] + s2 * (1 - r**2)
        u_T = mean_u + np.sqrt(var_u) * rng.standard_normal((D, N))
        v = d_target.v[:, k, T_index]
        noise_sd = np.sqrt(np.where(np.isnan(v), 0.0, v)[None] + h["tau"][:, k, None] ** 2)
        out[:, :, k] = mu_T[:, d_train.g] + need + u_T + noise_sd * rng.standard_normal((D, N))
    return out


def score_year(pred_z: np.ndarray, d_train, d_target, T_index: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-trust and per-indicator scores of one target year, on the natural scale (percentage points)."""
    rows, per = [], []
    for k, ind in enumerate(d_train.indicators):
        y_z = d_target.z[:, k, T_index]
        hist = d_train.z[:, k, :]
        last_obs = np.array([row[~np.isnan(row)][-1] if (~np.isnan(row)).any() else np.nan for row in hist])
        ok = ~np.isnan(y_z) & ~np.isnan(last_obs)
        if ok.sum() < 5:
            continue
        unit = registry.get(ind).alpha_scale
        draws = inverse(pred_z[:, ok, k], ind) * unit
        y = inverse(y_z[ok], ind) * unit
        naive = inverse(last_obs[ok], ind) * unit
        # the spread of the naive forecast: SD of the last year-on-year change across trusts
        both = ~np.isnan(hist[:, -1]) & ~np.isnan(hist[:, -2]) if hist.shape[1] >= 2 else np.zeros(len(hist), bool)
        sd_change = float(np.std((inverse(hist[both, -1], ind) - inverse(hist[both, -2], ind)) * unit, ddof=1)) \
            if both.sum() > 2 else np.nan
        c_model = crps_sample(draws, y)
        c_naive = np.abs(y - naive)
        c_naive_sd = crps_normal(naive, sd_change, y) if np.isfinite(sd_change) else np.full(len(y), np.nan)
        p = pit(draws, y)
        lo, hi = np.quantile(draws, [0.05, 0.95], axis=0)
        # the shared (national) and relative parts, on the linear predictor where the national step is additive:
        # the plain PITs of one year share its national forecast error, so only the relative ones are tested
        # for uniformity across trusts (relative_split)
        dec = decomposed_scores(pred_z[:, ok, k], y_z[ok])
        codes = d_train.trusts.org_code.to_numpy()[ok]
        for j, code in enumerate(codes):
            per.append({"org_code": code, "indicator": ind, "target": fy_label(d_target.years[T_index]),
                        "observed": y[j], "naive": naive[j], "median": float(np.median(draws[:, j])),
                        "lo90": lo[j], "hi90": hi[j], "pit": p[j], "crps": c_model[j], "crps_naive": c_naive[j],
                        "rel_pit": dec["rel_pit"][j], "rel_in90": bool(dec["rel_covered"][j])})
        u = uniformity(p)
        rows.append({"indicator": ind, "target": fy_label(d_target.years[T_index]),
                     "train_years": f"{fy_label(d_train.years[0])}-{fy_label(d_train.years[-1])}",
                     "horizon": int(d_target.years[T_index] - d_train.years[int(d_train.last[k])]),
                     "n_trusts": int(ok.sum()), "coverage90": float(np.mean((y >= lo) & (y <= hi))),
                     "pit_ks_p": u["ks_p"], "pit_chi2_p": u["chi2_p"], "pit_bins": " ".join(map(str, u["bins"])),
                     "crps": float(c_model.mean()), "crps_naive": float(c_naive.mean()),
                     "crps_ratio": float(c_model.mean() / c_naive.mean()),
                     "crps_naive_spread": float(np.nanmean(c_naive_sd)),
                     "crps_ratio_spread": float(c_model.mean() / np.nanmean(c_naive_sd)),
                     "pit_ks_p_joint": reference_uniformity(draws, p)["ks_p"],
                     "rel_coverage90": dec["rel_coverage"], "rel_pit_ks_p": dec["rel_ks_p"],
                     "rel_pit_ks_p_nominal": dec["rel_ks_p_nominal"], "rel_pit_chi2_p": dec["rel_chi2_p"], "rel_pit_bins": " ".join(map(str, dec["rel_bins"])),
                     "national_pit": float(dec["centre_pit"][0]), "national_error": float(dec["centre_error"][0]),
                     "national_sd": float(dec["centre_sd"][0])})
    return pd.DataFrame(rows), pd.DataFrame(per)


def target_years(panel: pd.DataFrame, cfg: dict, min_train: int = MIN_TRAIN_YEARS) -> list[int]:
    """Years T in which some configured indicator has data and at least ``min_train`` earlier years with data."""
    d = prepare(panel, cfg)
    out = []
    for t, yr in enumerate(d.years):
        for k in range(len(d.indicators)):
            if d.obs[:, k, t].any() and d.obs[:, k, :t].any(axis=0).sum() >= min_train:
                out.append(int(yr))
                break
    return out


#: columns of the gates table, one row per target year (a checkpoint's JSON keys are sorted)
GATE_COLUMNS = ["target", "passed", "divergences", "max_rhat", "min_ess_bulk", "wall_seconds"]


def backtest_year(context: dict, T: int, seed: int, min_train: int = MIN_TRAIN_YEARS) -> dict:
    """One target year (a task of :mod:`analysis.sweeps`): fit the years before ``T``, forecast ``T``, score.

    ``context``: ``{"panel", "cfg"}``, shared by every year of a backtest.  Pure: the fit's seed is ``seed`` and the
    forecast's draws come from ``rng(seed + T)``, so a year gives the same scores in any process.  Returns plain
    (JSON) values: ``{"target", "summary", "per_trust" (tables: columns and rows), "gate": {...}, "log"}``; only
    ``gate["wall_seconds"]`` depends on the machine."""
    panel, cfg = context["panel"], context["cfg"]
    log: list[str] = []
    full = prepare(panel, cfg)
    train_years = [y for y in full.years if y < T]
    # indicators with data in the training years (others cannot be forecast)
    use = [ind for ind in cfg["indicators"]["use"] if _n_years(panel, ind, train_years) >= 1]
    sub = {**cfg, "indicators": {**cfg["indicators"], "use": use}}
    log.append(f"backtest {fy_label(T)}: fitting {fy_label(train_years[0])}-{fy_label(train_years[-1])} "
               f"({', '.join(use)})")
    idata, d_train, gate, st = fit_trend(panel, sub, seed=seed, years=train_years, echo=log.append)
    d_target = prepare(panel, sub, [*train_years, T])
    pred = forecast(idata, d_train, st, d_target, len(train_years), sub, np.random.default_rng(seed + T))
    s, per = score_year(pred, d_train, d_target, len(train_years))
    keep = [ind for ind in use if _n_years(panel, ind, train_years) >= min_train]
    if len(s):
        s = s[s.indicator.isin(keep)].assign(gate_passed=bool(gate.passed))
        per = per[per.indicator.isin(keep)]
    for r in s.itertuples():
        log.append(f"  {r.indicator:<11} {r.target}: 90% coverage {r.coverage90:.0%} (n={r.n_trusts}), PIT KS p "
                   f"{r.pit_ks_p:.2f}, CRPS {r.crps:.2f} vs naive {r.crps_naive:.2f} (ratio {r.crps_ratio:.2f}; "
                   f"naive with spread {r.crps_ratio_spread:.2f}); relative to the year's centre: 90% coverage "
                   f"{r.rel_coverage90:.0%}, PIT KS p {r.rel_pit_ks_p:.2f}; national PIT {r.national_pit:.2f}")
    wall = idata.attrs.get("svi_wall_seconds")
    gate_row = {"target": fy_label(T), "passed": bool(gate.passed), "divergences": int(gate.divergences),
                "max_rhat": float(gate.max_rhat), "min_ess_bulk": float(gate.min_ess_bulk),
                "wall_seconds": None if wall is None else float(wall)}
    return {"target": int(T), "summary": _records(s), "per_trust": _records(per), "gate": gate_row, "log": log}


def _records(df: pd.DataFrame) -> dict:
    """A table as plain Python values, its column order kept: a checkpoint is JSON, written with sorted keys, and
    numpy scalars would not read back the same."""
    return {"columns": [str(c) for c in df.columns],
            "rows": [[v.item() if isinstance(v, np.generic) else v for v in row] for row in
                     df.itertuples(index=False, name=None)]}


def _frame(t: dict) -> pd.DataFrame:
    return pd.DataFrame(t["rows"], columns=t["columns"])


def backtest_key(panel: pd.DataFrame, cfg: dict, seed: int, min_train: int) -> str:
    """Names a backtest's checkpoint: the dynamic model's id (config, year panel, model code), the seed, the
    minimum training years and this module's code (forecasting and scoring)."""
    import hashlib
    import json
    from pathlib import Path

    from analysis.trend.fit import model_id

    payload = json.dumps({"model": model_id(panel, cfg), "seed": int(seed), "min_train": int(min_train),
                          "code": hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:10]}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def run_backtest(panel: pd.DataFrame, cfg: dict, years: list[int] | None = None, seed: int | None = None,
                 echo=print, min_train: int = MIN_TRAIN_YEARS, engine=None, checkpoint=None,
                 progress: bool = False) -> dict:
    """Backtest every target year (default: :func:`target_years`); returns summary and per-trust tables.

    Each year is a task (:func:`backtest_year`) of one sweep run by ``engine`` (:class:`analysis.sweeps.Engine`;
    default serially in this process); with ``checkpoint`` (a directory, e.g.
    :meth:`analysis.results.ResultsDir.backtest_checkpoint`) each finished year is saved as it arrives and not
    fitted again."""
    from analysis.sweeps import Engine, JsonStore, MemoryStore, Sweep, Task

    years = target_years(panel, cfg, min_train) if years is None else [int(y) for y in years]
    seed = int(cfg["sampler"]["seed"] if seed is None else seed)
    tasks = [Task(f"year-{T}", backtest_year, {"T": T, "seed": seed, "min_train": min_train}) for T in years]
    sweep = Sweep("backtest", tasks, context={"panel": panel, "cfg": cfg},
                  store=JsonStore(checkpoint) if checkpoint is not None else MemoryStore(), unit="year",
                  note=lambda r: "gate passed" if r["gate"]["passed"] else "gate FAILED")
    results = (engine or Engine("serial")).run(sweep, progress=progress, echo=echo)
    summaries = [_frame(r["summary"]) for r in results.values() if r["summary"]["rows"]]
    details = [_frame(r["per_trust"]) for r in results.values() if r["per_trust"]["rows"]]
    gates = [r["gate"] for r in results.values()]
    summary = pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame()
    per = pd.concat(details, ignore_index=True) if details else pd.DataFrame()
    overall = None
    if len(per):
        u = uniformity(per["pit"].to_numpy())
        overall = {"n": int(len(per)), "coverage90": float(((per.observed >= per.lo90) & (per.observed <= per.hi90)).mean()),
                   "pit_ks_p": u["ks_p"], "pit_chi2_p": u["chi2_p"], "pit_bins": u["bins"],
                   "crps_ratio": float(per.crps.mean() / per.crps_naive.mean())}
        if "rel_pit" in per and len(summary) and "rel_pit_ks_p" in summary:
            # the rows' relative tests combined (Fisher; rows are different years or indicators); the pooled
            # relative PITs' nominal KS is conservative, each row's values being centred (reference_uniformity)
            ur = uniformity(per["rel_pit"].to_numpy())
            overall.update({"rel_coverage90": float(per["rel_in90"].astype(bool).mean()),
                            "rel_pit_ks_p": float(stats.combine_pvalues(summary["rel_pit_ks_p"].to_numpy(),
                                                                        method="fisher").pvalue),
                            "rel_pit_ks_p_pooled_nominal": ur["ks_p"], "rel_pit_bins": ur["bins"]})
        if len(summary) and "national_pit" in summary:
            # one value per target year x indicator: few, so a check of gross miscalibration only
            un = uniformity(summary["national_pit"].to_numpy(), bins=5)
            overall.update({"n_national": un["n"], "national_pit_ks_p": un["ks_p"]})
    return {"summary": summary, "per_trust": per, "gates": pd.DataFrame(gates, columns=GATE_COLUMNS),
            "overall": overall}


def _n_years(panel: pd.DataFrame, ind: str, years: list[int]) -> int:
    from analysis.trend.years import indicator_counts

    p = panel[panel["year"].isin(years)]
    y, _ = indicator_counts(p, ind)
    return int(pd.Series(~np.isnan(y)).groupby(p["year"].to_numpy()).any().sum())


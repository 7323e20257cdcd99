"""Trapped value and avoidable deaths (analysis.summaries.trapped): the headline reconciles with its breakdown, every
total sits near its null reference when no trust differs and above it when trusts do, the benchmarks are ordered,
and P(above benchmark) agrees with the intervals.  Constructed posteriors with known answers, no sampling."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from analysis.summaries.trapped import (BENCHMARKS, breakeven_noise, cost_tables, deaths_null, deaths_tables,
                                        estimation_null, excess_deaths, national, setting_draws,
                                        trapped_headlines)

OUTS = ["total", "apc", "op", "ae"]


def _cost_data(N=60, G=3, seed=0, spread=0.1, missing_ae=(0, 1)):
    """Cost data of N trusts in G peer groups; settings' residuals independent, so they often disagree in sign."""
    rng = np.random.default_rng(seed)
    g = np.arange(N) % G
    expected = rng.uniform(100, 1000, (N, 1)) * np.array([1.0, 0.5, 0.2, 0.07])
    effect = rng.normal(0, spread, (N, 4))
    actual = expected * np.exp(effect)
    actual[list(missing_ae), 3] = np.nan  # no A&E (e.g. specialist trusts)
    cost_y = np.log(actual / expected)
    trusts = pd.DataFrame({"org_code": [f"T{i:03d}" for i in range(N)]})
    return SimpleNamespace(trusts=trusts, cost_outcomes=OUTS, cost_y=cost_y, cost_actual=actual, g=g, N=N), effect


def _posterior(d, S=400, est_sd=0.01, seed=1, centre=None):
    """Residual draws: the observed residual (or ``centre``) plus estimation noise shared within a draw."""
    rng = np.random.default_rng(seed)
    c = d.cost_y if centre is None else centre
    return c[None] + est_sd * rng.standard_normal((S, 1, len(d.cost_outcomes))) * rng.standard_normal((1, d.N, 1))


# ----------------------------------------------------------------------------- reconciliation

def test_headline_is_the_sum_of_its_settings_per_trust_and_nationally():
    d, _ = _cost_data()
    resid = _posterior(d)
    tv, _ = setting_draws(resid, d.cost_actual, OUTS, d.g, "peer_median")
    settings = np.nansum(np.stack([tv[s] for s in ("apc", "op", "ae")]), axis=0)
    assert np.allclose(tv["gross"], settings)  # draw by draw
    t = cost_tables(resid, d, "peer_median", seed=0)["trapped_value"]
    per = t[t.org_code != "ENGLAND"].pivot(index="org_code", columns="setting", values="mean")
    assert np.allclose(per["gross"], per[["apc", "op", "ae"]].sum(axis=1, skipna=True))
    eng = t[t.org_code == "ENGLAND"].set_index("setting")["mean"]
    assert eng["gross"] == pytest.approx(eng[["apc", "op", "ae"]].sum())
    assert eng["gross"] == pytest.approx(per["gross"].sum())
    assert eng["total"] == pytest.approx(per["total"].sum())
    # the review's contradiction: a zero headline beside a setting above zero cannot happen
    assert not ((per["gross"] == 0) & (per[["apc", "op", "ae"]].max(axis=1) > 0)).any()
    # net and gross are different quantities: with settings of opposite signs they disagree
    assert not np.allclose(per["gross"], per["total"])


def test_coverage_and_missing_setting():
    d, _ = _cost_data()
    t = cost_tables(_posterior(d), d, "peer_median", seed=0)["trapped_value"]
    r = t[(t.org_code == "T000")].set_index("setting")
    assert np.isnan(r.loc["ae", "mean"]) and np.isfinite(r.loc["gross", "mean"])  # no A&E: sum of the other two
    assert r.loc["gross", "actual_gbp_m"] == pytest.approx(d.cost_actual[0, 1:3].sum())
    assert r.loc["gross", "share_of_total_cost"] == pytest.approx(d.cost_actual[0, 1:3].sum() / d.cost_actual[0, 0])
    eng = t[t.org_code == "ENGLAND"].set_index("setting")
    assert 0 < eng.loc["gross", "share_of_total_cost"] < 1 and eng.loc["total", "share_of_total_cost"] == 1


# ----------------------------------------------------------------------------- null reference

def test_cost_null_when_no_trust_differs_and_when_trusts_do():
    d, _ = _cost_data(N=90)
    null_panel = _posterior(d, centre=np.zeros_like(d.cost_y) * d.cost_y)  # every trust at zero effect, NaN kept
    nr = cost_tables(null_panel, d, "peer_median", seed=0)["null_reference"].set_index("measure")
    for m in ("trapped_value_gross", "trapped_value_total"):
        assert nr.loc[m, "null_lo95"] <= nr.loc[m, "estimate_mean"] <= nr.loc[m, "null_hi95"]
        assert nr.loc[m, "estimate_mean"] == pytest.approx(nr.loc[m, "null_mean"], rel=0.25)
    real = cost_tables(_posterior(d), d, "peer_median", seed=0)["null_reference"].set_index("measure")
    for m in ("trapped_value_gross", "trapped_value_total"):
        assert real.loc[m, "estimate_lo95"] > 2 * real.loc[m, "null_hi95"]


def test_estimation_null_centres_each_trust():
    r = np.random.default_rng(0).normal(3.0, 1.0, (500, 4, 2))
    assert np.allclose(estimation_null(r).mean(axis=0), 0)


def test_breakeven_noise_recovers_pure_noise_sd():
    """Residuals that are pure noise of SD s: the noise that would produce their trapped value is s."""
    rng = np.random.default_rng(3)
    N, s = 900, 0.08
    g = np.arange(N) % 3
    actual = rng.uniform(100, 500, (N, 1))
    r = s * rng.standard_normal((1, N, 1))
    target = national(setting_draws(r, actual, ["x"], g, "peer_median")[0]["x"])[0]
    be = breakeven_noise(actual, np.ones((N, 1), bool), g, target, "peer_median")
    assert be == pytest.approx(s, rel=0.08)
    assert np.isnan(breakeven_noise(actual, np.ones((N, 1), bool), g, 0.0, "peer_median"))


def _deaths_panel(N=120, G=3, sd_true=0.0, tau=0.1, S=1000, seed=0):
    """SHMI-like data: expected deaths E, need-adjusted log rate m, true effects N(0, sd_true); posterior draws of
    the effects by the normal-normal approximation at scale ``tau`` (what the model's shrinkage does)."""
    rng = np.random.default_rng(seed)
    g = np.arange(N) % G
    E = rng.uniform(300, 4000, N)
    m = np.broadcast_to(rng.normal(0, 0.05, N), (S, N))
    u_true = rng.normal(0, sd_true, N) if sd_true else np.zeros(N)
    O = rng.poisson(E * np.exp(m[0] + u_true)).astype(float)
    lam = E * np.exp(m)
    uhat = np.log((O + 0.5) / (lam + 0.5))
    B = tau**2 / (tau**2 + 1 / lam)  # the normal-normal posterior, written out here (not the module's)
    u = B * uhat + np.sqrt(B / lam) * rng.standard_normal((S, N))
    return E, m, u, g, O, np.full((S, N), tau)


def test_deaths_headline_near_its_null_when_no_trust_differs():
    E, m, u, g, O, tau = _deaths_panel(sd_true=0.0)
    est = national(excess_deaths(E, m, u, g, "peer_median")[0])
    null = national(deaths_null(E, m, tau, g, "peer_median", np.random.default_rng(9)))
    lo, hi = np.quantile(null, [0.025, 0.975])
    assert lo <= est.mean() <= hi
    assert est.mean() == pytest.approx(null.mean(), rel=0.3)


def test_deaths_headline_above_its_null_when_trusts_differ():
    E, m, u, g, O, tau = _deaths_panel(sd_true=0.12, tau=0.12)
    est = national(excess_deaths(E, m, u, g, "peer_median")[0])
    null = national(deaths_null(E, m, tau, g, "peer_median", np.random.default_rng(9)))
    assert np.quantile(est, 0.025) > np.quantile(null, 0.975)
    # the approximation applied to the observed deaths reproduces the posterior it approximates
    check = national(deaths_null(E, m, tau, g, "peer_median", np.random.default_rng(9), observed=O))
    assert check.mean() == pytest.approx(est.mean(), rel=0.05)


def test_deaths_tables_null_row_and_p_above():
    E, m, u, g, O, tau = _deaths_panel(sd_true=0.1, tau=0.1, S=400)
    N = len(E)
    obs = np.ones((N, 1), bool)
    obs[:3] = False  # three trusts without SHMI
    d = SimpleNamespace(trusts=pd.DataFrame({"org_code": [f"T{i:03d}" for i in range(N)]}), g=g,
                        observed=obs, n=E[:, None], y=np.where(obs[:, 0], O, np.nan)[:, None])
    t = deaths_tables(u, m + u, tau, d, 0, "peer_median", seed=0)
    ad = t["avoidable_deaths"]
    assert ad[ad.org_code.isin(["T000", "T001", "T002"])]["mean"].isna().all()
    trusts = ad[ad.org_code != "ENGLAND"].dropna(subset=["mean"])
    assert ((trusts.p_above >= 0) & (trusts.p_above <= 1)).all()
    eng = ad[ad.org_code == "ENGLAND"].iloc[0]
    assert eng["mean"] == pytest.approx(trusts["mean"].sum())
    nr = t["null_reference"].iloc[0]
    assert nr.measure == "avoidable_deaths" and nr.null_mean < nr.estimate_mean
    assert nr.observed_deaths == pytest.approx(O[3:].sum())


# ----------------------------------------------------------------------------- benchmarks, P(above)

def test_benchmark_ordering_best_quarter_releases_most():
    d, _ = _cost_data()
    resid = _posterior(d)
    by = {k: setting_draws(resid, d.cost_actual, OUTS, d.g, k)[0] for k in BENCHMARKS}
    for s in ("gross", "total", "apc"):
        best, med = by["peer_best_quartile"][s], by["peer_median"][s]
        ok = ~np.isnan(med)
        assert (best[ok] >= med[ok] - 1e-9).all()  # a lower benchmark releases at least as much, draw by draw
        assert national(best).mean() > national(med).mean()
    E, m, u, g, *_ = _deaths_panel(sd_true=0.1, tau=0.1)
    dq = {k: national(excess_deaths(E, m, u, g, k)[0]) for k in BENCHMARKS}
    assert (dq["peer_best_quartile"] >= dq["peer_median"]).all()
    sens = cost_tables(resid, d, "peer_median", seed=0)["benchmark_sensitivity"]
    eng = sens[sens.org_code == "ENGLAND"].pivot(index="setting", columns="benchmark", values="mean")
    assert (eng["peer_best_quartile"] > eng["peer_median"]).all()
    assert set(sens.benchmark) == set(BENCHMARKS)


def test_peer_mean_benchmark_is_the_group_mean():
    d, _ = _cost_data(N=6, G=2, missing_ae=())
    r = np.array([[[0.1], [0.2], [0.3], [0.0], [0.4], [0.8]]])[:, :, 0][:, :, None]
    tv, above = setting_draws(r, np.full((6, 1), 100.0), ["x"], np.array([0, 0, 0, 1, 1, 1]), "peer_mean")
    assert above["x"][0].tolist() == [0, 0, 1, 0, 0, 1]
    assert tv["x"][0, 2] == pytest.approx(100 * (1 - np.exp(-0.1)))


def test_p_above_in_unit_interval_and_consistent_with_intervals():
    d, _ = _cost_data(N=90)
    resid = _posterior(d, est_sd=0.05)
    t = cost_tables(resid, d, "peer_median", seed=0)["trapped_value"]
    t = t[t.org_code != "ENGLAND"].dropna(subset=["mean"])
    assert t.p_above.between(0, 1).all()
    assert (t[t.lo95 > 0].p_above >= 0.97).all()  # interval above zero: almost surely above the benchmark
    assert (t[t.p_above > 0.98].lo95 > 0).all()
    assert (t[t.p_above < 0.02].hi95 == 0).all()  # almost surely at or below it: nothing trapped
    assert (t[t.hi95 == 0].p_above <= 0.03).all()
    assert (t.p_above > 0.5).sum() > 0 and (t.p_above < 0.5).sum() > 0


def test_headline_figures_for_the_paper():
    d, _ = _cost_data()
    tables = cost_tables(_posterior(d), d, "peer_median", seed=0)
    h = trapped_headlines(tables)
    eng = tables["trapped_value"].query("org_code == 'ENGLAND'").set_index("setting")
    assert h["trapped_value_mean"] == pytest.approx(eng.loc["gross", "mean"])
    assert h["trapped_value_net_mean"] == pytest.approx(eng.loc["total", "mean"])
    assert h["trapped_value_is_gross"] == 1 and 0 < h["trapped_value_coverage"] < 1
    assert h["trapped_value_peer_best_quartile"] > h["trapped_value_peer_median"]
    assert h["trapped_value_null_mean"] < h["trapped_value_mean"]
    assert np.isnan(h["avoidable_deaths_mean"])  # no deaths table: NaN, not an error

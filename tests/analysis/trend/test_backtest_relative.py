"""The backtest's split of a year's forecasts into the shared national part and each trust's relative position
(analysis/trend/backtest.py relative_split, decomposed_scores): the PITs of one year share the national forecast
error, so a uniformity test over trusts must use the relative PITs."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from analysis.trend.backtest import (chi2_statistic, decomposed_scores, ks_statistic, pit, reference_uniformity,
                                     relative_split, score_year, uniformity)

N, S = 120, 1000


def year(rng, shock_sd=1.0, trust_sd=0.3, pred_shock_sd=None, pred_trust_sd=None):
    """One target year: every trust takes the same national shock plus its own deviation; the forecast draws both
    from Normals with the given (default: the true) SDs."""
    pred_shock_sd = shock_sd if pred_shock_sd is None else pred_shock_sd
    pred_trust_sd = trust_sd if pred_trust_sd is None else pred_trust_sd
    y = shock_sd * rng.standard_normal() + trust_sd * rng.standard_normal(N)
    draws = pred_shock_sd * rng.standard_normal((S, 1)) + pred_trust_sd * rng.standard_normal((S, N))
    return draws, y


def test_a_calibrated_forecast_with_a_shared_shock_fails_the_plain_test_and_passes_the_relative_one():
    rng = np.random.default_rng(11)
    reps = 40
    plain_reject = rel_reject = 0
    cover, national = [], []
    for _ in range(reps):
        draws, y = year(rng)
        plain_reject += uniformity(pit(draws, y))["ks_p"] < 0.01
        dec = decomposed_scores(draws, y)
        rel_reject += dec["rel_ks_p"] < 0.05
        cover.append(dec["rel_coverage"])
        national.append(dec["centre_pit"][0])
    # the plain test over the trusts of one year rejects a calibrated model almost every year
    assert plain_reject >= 0.9 * reps
    # the relative test rejects at about its level (5% of 40 = 2 expected)
    assert rel_reject <= 6
    assert 0.87 <= np.mean(cover) <= 0.93
    # one national PIT per year, uniform over years
    assert uniformity(np.array(national), bins=5)["ks_p"] > 0.05


@pytest.mark.parametrize("pred_trust_sd, low_coverage", [(0.15, True), (0.6, False)])
def test_a_miscalibrated_relative_forecast_is_caught(pred_trust_sd, low_coverage):
    rng = np.random.default_rng(5)
    draws, y = year(rng, pred_trust_sd=pred_trust_sd)
    dec = decomposed_scores(draws, y)
    assert dec["rel_ks_p"] < 0.01
    if low_coverage:
        assert dec["rel_coverage"] < 0.7  # too narrow
    else:
        assert dec["rel_coverage"] > 0.99  # too wide


def test_a_miscalibrated_national_step_shows_in_the_national_pits_and_not_in_the_relative_ones():
    rng = np.random.default_rng(8)
    national, rel_reject = [], 0
    for _ in range(30):
        draws, y = year(rng, pred_shock_sd=0.2)  # the national step's forecast SD five times too small
        dec = decomposed_scores(draws, y)
        national.append(dec["centre_pit"][0])
        rel_reject += dec["rel_ks_p"] < 0.05
        assert abs(dec["centre_error"][0]) / dec["centre_sd"][0] < 50
    assert uniformity(np.array(national), bins=5)["ks_p"] < 0.01
    assert np.mean((np.array(national) < 0.05) | (np.array(national) > 0.95)) > 0.5
    assert rel_reject <= 5


def test_group_centres_remove_a_shock_shared_within_each_group():
    rng = np.random.default_rng(2)
    groups = np.repeat(["a", "b", "c"], N // 3)
    gi = np.repeat([0, 1, 2], N // 3)
    shocks = rng.normal(0, 1, 3)
    y = shocks[gi] + 0.3 * rng.standard_normal(N)
    draws = rng.normal(0, 1, (S, 3))[:, gi] + 0.3 * rng.standard_normal((S, N))
    sp = relative_split(draws, y, groups)
    assert sp["centre_draws"].shape == (S, 3) and np.allclose(sp["centre_y"], [y[gi == j].mean() for j in range(3)])
    for j in range(3):
        assert abs(sp["rel_y"][gi == j].sum()) < 1e-9
        assert np.allclose(sp["rel_draws"][:, gi == j].sum(axis=1), 0.0)
    assert decomposed_scores(draws, y, groups)["rel_ks_p"] > 0.05
    # one national centre leaves the group shocks in the relative values: the nominal test rejects; the reference
    # test, whose null distribution has the same shared shocks, does not
    national = decomposed_scores(draws, y)
    assert national["rel_ks_p_nominal"] < 0.01 and national["rel_ks_p"] > 0.05


def test_relative_split_says_what_does_not_match():
    with pytest.raises(ValueError, match=r"draws \(10, 3\) and observations \(4,\)"):
        relative_split(np.zeros((10, 3)), np.zeros(4))


def test_score_year_keeps_the_plain_columns_and_adds_the_decomposition():
    rng = np.random.default_rng(4)
    draws, y = year(rng, shock_sd=0.3, trust_sd=0.2)
    centre = 1.0  # logit of the A&E share
    hist = centre + 0.2 * rng.standard_normal((N, 1, 4))
    trusts = pd.DataFrame({"org_code": [f"T{i:03d}" for i in range(N)]})
    d_train = SimpleNamespace(indicators=["ae"], z=hist, trusts=trusts, years=[2019, 2020, 2021, 2022],
                              last=np.array([3]))
    d_target = SimpleNamespace(z=np.concatenate([hist, (centre + y)[:, None, None]], axis=2),
                               years=[2019, 2020, 2021, 2022, 2023])
    summary, per = score_year((centre + draws)[:, :, None], d_train, d_target, 4)
    assert {"coverage90", "pit_ks_p", "pit_chi2_p", "crps_ratio"} <= set(summary.columns)
    r = summary.iloc[0]
    dec = decomposed_scores(centre + draws, centre + y)
    assert r.rel_pit_ks_p == pytest.approx(dec["rel_ks_p"]) and r.rel_coverage90 == pytest.approx(dec["rel_coverage"])
    assert r.national_pit == pytest.approx(dec["centre_pit"][0])
    assert r.pit_ks_p < 0.01 and r.rel_pit_ks_p > 0.05 and 0 < r.pit_ks_p_joint <= 1
    assert np.allclose(per.rel_pit, dec["rel_pit"]) and per.rel_in90.dtype == bool


def test_the_reference_test_holds_its_level_where_the_nominal_one_is_conservative():
    """Centred PITs sum to zero, so scipy's KS p-value is conservative (Lilliefors); the null distribution from the
    forecast's own draws is not, and it is valid for the plain PITs that share the national step too."""
    rng = np.random.default_rng(21)
    ref, nominal, plain_ref = [], [], []
    for _ in range(200):
        draws, y = year(rng)
        draws = draws[:400]
        dec = decomposed_scores(draws, y)
        ref.append(dec["rel_ks_p"])
        nominal.append(dec["rel_ks_p_nominal"])
        plain_ref.append(reference_uniformity(draws, pit(draws, y))["ks_p"])
    ref, nominal, plain_ref = map(np.array, (ref, nominal, plain_ref))
    assert 0.05 <= np.mean(ref < 0.1) <= 0.16
    assert np.mean(nominal < 0.1) < 0.03
    assert 0.05 <= np.mean(plain_ref < 0.1) <= 0.16


def test_statistics_match_scipy():
    from scipy import stats

    p = np.random.default_rng(0).random((3, 50))
    assert np.allclose(ks_statistic(p), [stats.kstest(x, "uniform").statistic for x in p])
    assert np.allclose(chi2_statistic(p), [stats.chisquare(np.histogram(x, 10, (0, 1))[0]).statistic for x in p])


@pytest.mark.parametrize("volatility_step", [0.0, 0.3])
def test_the_state_moves_on_from_the_last_training_year(volatility_step):
    """The filtered state of the last training year already carries the years after an indicator's last data (A&E
    has none in 2019/20-2020/21), so the forecast of 2021/22 moves it on by one year, not three."""
    from analysis.trend.backtest import forecast

    D, Nt, years = 4000, 3, [2016, 2017, 2018, 2019, 2020]
    rho, sigma = 0.8, 0.5
    h = {"sigma": np.full((D, 1), sigma), "rho": np.full((D, 1), rho), "tau": np.zeros((D, 1)),
         "s_c": np.zeros((D, 1)), "s_e": np.zeros((D, 1)), "scale": np.array([0.6]),
         "mu": np.zeros((D, 1, 1, 5)), "beta": np.zeros((D, 1, 0)),
         "vol": np.ones((D, 1, 5)), "s_h": np.zeros(D)}
    st = {"hyper": h, "a_last": np.ones((D, Nt, 1)), "P_last": np.zeros((D, Nt, 1))}
    d_train = SimpleNamespace(shape=(Nt, 1, 5), years=years, last=np.array([2]), peer_groups=["all"],
                              g=np.zeros(Nt, int), x=np.zeros((Nt, 0)))
    d_target = SimpleNamespace(years=[*years, 2021], wide_step=np.zeros((1, 6), bool), v=np.zeros((Nt, 1, 6)))
    cfg = {"priors": {"volatility_step": volatility_step}}
    out = forecast(None, d_train, st, d_target, 5, cfg, np.random.default_rng(0))
    assert np.allclose(out.mean(axis=0), rho, atol=0.03)  # rho^1 of the state 1; rho^3 would be 0.51
    assert np.allclose(out.std(axis=0), sigma * np.sqrt(1 - rho**2), rtol=0.05)

"""The dynamic model's pieces against exact references: the Kalman log-likelihood against the dense multivariate
normal, FFBS draws against the exact smoother, the backtest's scoring rules on known cases."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.trend.backtest import coverage, crps_normal, crps_sample, pit, uniformity
from analysis.trend.fit import ffbs
from models.trend_model import kalman_loglik


def _ar_cov(sigma, rho, T):
    t = np.arange(T)
    return sigma**2 * rho ** np.abs(t[:, None] - t[None])


def test_kalman_equals_dense_mvnormal_with_missing_years():
    rng = np.random.default_rng(3)
    N, K, T = 4, 2, 6
    sigma, rho = np.array([0.4, 0.7]), np.array([0.8, 0.3])
    resid = rng.standard_normal((N, K, T))
    R = rng.uniform(0.01, 0.2, (N, K, T))
    obs = rng.random((N, K, T)) < 0.7
    obs[0, 0] = False  # a series with nothing observed contributes nothing
    got = kalman_loglik(resid, R, obs, sigma[None], rho[None], lib=np)
    want = 0.0
    for i in range(N):
        for k in range(K):
            o = obs[i, k]
            if not o.any():
                continue
            S = _ar_cov(sigma[k], rho[k], T)[np.ix_(o, o)] + np.diag(R[i, k, o])
            want += stats.multivariate_normal(np.zeros(o.sum()), S).logpdf(resid[i, k, o])
    assert got == pytest.approx(want, rel=1e-10)


def test_ffbs_draws_match_exact_smoother():
    rng = np.random.default_rng(4)
    T, D = 5, 20000
    sigma, rho = 0.5, 0.7
    obs = np.array([True, False, True, True, False])
    resid = rng.standard_normal(T)
    R = np.full(T, 0.1)
    # exact posterior of the states: Gaussian conditioning
    Sxx = _ar_cov(sigma, rho, T)
    H = np.eye(T)[obs]
    S = H @ Sxx @ H.T + np.diag(R[obs])
    Kg = Sxx @ H.T @ np.linalg.inv(S)
    mean = Kg @ resid[obs]
    cov = Sxx - Kg @ H @ Sxx
    u, a_last, P_last = ffbs(np.broadcast_to(resid, (D, 1, 1, T)).copy(), np.broadcast_to(R, (D, 1, 1, T)).copy(),
                             obs[None, None], np.full((D, 1), sigma), np.full((D, 1), rho), rng)
    draws = u[:, 0, 0, :]
    se = np.sqrt(np.diag(cov) / D)
    assert np.all(np.abs(draws.mean(0) - mean) < 5 * se)
    assert np.allclose(np.cov(draws.T), cov, atol=0.01)
    # the last year's filtered moments are the smoother's there
    assert a_last[0, 0, 0] == pytest.approx(mean[-1]) and P_last[0, 0, 0] == pytest.approx(cov[-1, -1])


def test_crps_known_values():
    rng = np.random.default_rng(5)
    draws = rng.normal(0.0, 1.0, (40000, 3))
    y = np.array([0.0, 1.0, -2.0])
    assert np.allclose(crps_sample(draws, y), crps_normal(0.0, 1.0, y), atol=0.01)
    assert crps_normal(0.0, 1.0, 0.0) == pytest.approx((np.sqrt(2) - 1) / np.sqrt(np.pi))
    # a point forecast: CRPS is the absolute error
    assert np.allclose(crps_sample(np.full((10, 2), 3.0), np.array([1.0, 4.0])), [2.0, 1.0])
    assert np.allclose(crps_normal(3.0, 0.0, np.array([1.0, 4.0])), [2.0, 1.0])


def test_pit_coverage_and_uniformity_detect_miscalibration():
    rng = np.random.default_rng(6)
    n = 400
    truth = rng.standard_normal(n)
    good = rng.standard_normal((4000, n))
    narrow = 0.4 * rng.standard_normal((4000, n))
    assert 0.86 <= coverage(good, truth) <= 0.94
    assert coverage(narrow, truth) < 0.6
    assert uniformity(pit(good, truth))["ks_p"] > 0.01
    u_bad = uniformity(pit(narrow, truth))
    assert u_bad["ks_p"] < 1e-4 and u_bad["bins"][0] > 2 * n / 10  # too many observations in the tails
    assert pit(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([1.0]))[0] == pytest.approx(0.375)


def test_prepare_masks_need_covariates_by_peer_group():
    """The trend model follows the cross-section's need.by_group: specialist trusts get no need term (x = 0) and
    each covariate is standardised over the trusts it applies to only."""
    from models.trend_model import load_trend_config, prepare

    rng = np.random.default_rng(5)
    codes = [f"T{i:02d}" for i in range(8)]
    size = ["large"] * 3 + ["small"] * 3 + ["specialist"] * 2
    rows = []
    for i, c in enumerate(codes):
        for yr in (2022, 2023, 2024):
            rows.append({"org_code": c, "org_name": f"Trust {i}", "region": "R", "size_class": size[i], "year": yr,
                         "imd_score": 10.0 + 5 * i, "share_aged_75_plus": 0.05 + 0.01 * i,
                         "health_index_score": 100.0 - i,
                         "rtt_waiting_under_18w": 700.0 + rng.integers(0, 50), "rtt_total_waiting": 1000.0})
    cfg = load_trend_config(overrides={"indicators": {"use": ["rtt"]}})
    d = prepare(pd.DataFrame(rows), cfg)
    spec = d.trusts.peer_group.to_numpy() == "specialist"
    assert np.all(d.x[spec] == 0)
    # standardised over the six general trusts alone: mean 0 and SD 1 there
    assert np.allclose(d.x[~spec].mean(0), 0) and np.allclose(d.x[~spec].std(0, ddof=1), 1)


def test_student_t_national_steps_are_behind_config():
    """priors.national_step_df > 0 makes the national steps Student-t in the model and in the backtest's forecast;
    0 (the default) keeps them Normal."""
    from analysis.trend.backtest import national_step_draws
    from models.trend_model import build_model, load_trend_config, prepare
    from tests.analysis.trend.test_backtest_sweep import year_panel

    panel = year_panel(n=8)
    base = {"need": {"covariates": []}, "indicators": {"use": ["rtt"], "breaks": {}}}
    assert load_trend_config()["priors"]["national_step_df"] == 0
    lp = {}
    for df in (0, 4):
        cfg = load_trend_config(overrides={**base, "priors": {"national_step_df": df}})
        m = build_model(prepare(panel, cfg), cfg)
        point = m.initial_point()
        point["M"] = np.array([0.0, 0.0, 0.0, 1.5])  # one large national step (3.75 step SDs at the initial s_c)
        lp[df] = float(m.compile_logp(vars=[m["M_prior"]], jacobian=False)(point))
    assert lp[4] > lp[0]  # the large step is less surprising under heavy tails
    rng = np.random.default_rng(0)
    s_c = np.full(200_000, 0.1)
    t = national_step_draws(rng, [False], s_c, 0.6, 4.0)
    assert stats.kurtosis(t) > 2  # Student-t(4): infinite in theory, large in a sample; a Normal gives 0
    both = national_step_draws(rng, [True, False], s_c, 0.6, 4.0)  # a break year adds the wide Normal
    assert np.std(both) == pytest.approx(np.sqrt(0.6**2 + 0.1**2 * 2), rel=0.05)


def _tv_ar_cov(sigma, rho, vol):
    """Covariance of an AR(1) started at its stationary variance whose innovation variance into year t is
    sigma^2 (1 - rho^2) vol[t]."""
    T = len(vol)
    var = np.empty(T)
    var[0] = sigma**2
    for t in range(1, T):
        var[t] = rho**2 * var[t - 1] + sigma**2 * (1 - rho**2) * vol[t]
    i, j = np.meshgrid(np.arange(T), np.arange(T), indexing="ij")
    lo = np.minimum(i, j)
    return rho ** np.abs(i - j) * var[lo]


def test_kalman_and_ffbs_with_a_drifting_innovation_variance_match_the_dense_reference():
    """priors.volatility_step: the innovation variance of the step into year t is multiplied by vol[t]; the filter's
    log-likelihood and the FFBS draws must equal the dense Gaussian's."""
    rng = np.random.default_rng(6)
    T, D = 6, 20000
    sigma, rho = 0.5, 0.8
    vol = np.array([1.0, 1.0, 2.5, 0.4, 0.3, 1.7])
    obs = np.array([True, True, False, True, True, True])
    resid = rng.standard_normal(T)
    R = np.full(T, 0.05)
    Sxx = _tv_ar_cov(sigma, rho, vol)
    o = obs
    want = stats.multivariate_normal(np.zeros(o.sum()), Sxx[np.ix_(o, o)] + np.diag(R[o])).logpdf(resid[o])
    got = kalman_loglik(resid[None, None], R[None, None], obs[None, None], np.array([sigma])[None],
                        np.array([rho])[None], lib=np, vol=vol[None])
    assert got == pytest.approx(want, rel=1e-10)
    # without vol, or with vol = 1, the constant-variance filter
    ones = kalman_loglik(resid[None, None], R[None, None], obs[None, None], np.array([sigma])[None],
                         np.array([rho])[None], lib=np, vol=np.ones((1, T)))
    plain = kalman_loglik(resid[None, None], R[None, None], obs[None, None], np.array([sigma])[None],
                          np.array([rho])[None], lib=np)
    assert ones == pytest.approx(plain, rel=1e-12) and abs(plain - got) > 0.01
    H = np.eye(T)[obs]
    S = H @ Sxx @ H.T + np.diag(R[obs])
    Kg = Sxx @ H.T @ np.linalg.inv(S)
    mean, cov = Kg @ resid[obs], Sxx - Kg @ H @ Sxx
    u, a_last, P_last = ffbs(np.broadcast_to(resid, (D, 1, 1, T)).copy(), np.broadcast_to(R, (D, 1, 1, T)).copy(),
                             obs[None, None], np.full((D, 1), sigma), np.full((D, 1), rho), rng,
                             vol=np.broadcast_to(vol, (D, 1, T)))
    draws = u[:, 0, 0, :]
    assert np.all(np.abs(draws.mean(0) - mean) < 5 * np.sqrt(np.diag(cov) / D))
    assert np.allclose(np.cov(draws.T), cov, atol=0.01)
    assert a_last[0, 0, 0] == pytest.approx(mean[-1]) and P_last[0, 0, 0] == pytest.approx(cov[-1, -1])


def test_the_drifting_innovation_variance_is_behind_config():
    from models.trend_model import build_model, load_trend_config, prepare
    from tests.analysis.trend.test_backtest_sweep import year_panel

    panel = year_panel(n=8)
    base = {"need": {"covariates": []}, "indicators": {"use": ["rtt", "ae"], "breaks": {}}}
    assert load_trend_config()["priors"]["volatility_step"] == 0
    off = build_model(prepare(panel, load_trend_config(overrides=base)), load_trend_config(overrides=base))
    assert "s_h" not in off.named_vars and "h" not in off.named_vars
    cfg = load_trend_config(overrides={**base, "priors": {"volatility_step": 0.3}})
    on = build_model(prepare(panel, cfg), cfg)
    # five years: steps into years 2..4 of each indicator are free (the step into year 1 is the reference)
    assert on["h_z"].eval().shape == (6,) and on["s_h"] in on.free_RVs
    h = on["h"].eval()  # a prior draw: the first year and the reference step are 0, the later steps walk
    assert h.shape == (2, 5) and np.all(h[:, :2] == 0) and np.all(h[:, 2:] != 0)

"""Period noise (issue 19, item 6): the estimator, the beta-binomial marginal, the config option and the model term."""

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from analysis.period_noise import period_noise_sd, period_noise_sd_windows
from models import indicators as registry
from models.config import ConfigError, load_config

# ------------------------------------------------------------------------------------------------ the estimator


def _monthly(tau, rho=0.0, trusts=120, months=36, n=20000, seed=0, steady=False):
    """Monthly counts: trust level + national month movement + AR(1) shock of marginal SD tau + binomial."""
    rng = np.random.default_rng(seed)
    level = rng.normal(0.5, 0.5, trusts)
    common = rng.normal(0, 0.3, months)
    e = np.zeros((trusts, months))
    e[:, 0] = rng.normal(0, tau, trusts)
    for t in range(1, months):
        e[:, t] = rho * e[:, t - 1] + rng.normal(0, tau * np.sqrt(1 - rho**2), trusts)
    x = level[:, None] + common[None] + e
    den = rng.integers(n // 2, n * 2, (trusts, 1 if steady else months)) * np.ones((1, months), int)
    y = rng.binomial(den, special.expit(x))
    mon = [f"{2022 + (3 + t) // 12}-{(3 + t) % 12 + 1:02d}" for t in range(months)]  # from 2022-04
    return pd.DataFrame({"trust": np.repeat(np.arange(trusts), months), "month": np.tile(mon, trusts),
                         "y": y.ravel(), "n": den.ravel()})


def test_level_estimator_recovers_independent_shocks():
    est = period_noise_sd(_monthly(0.1), "level")
    assert est["sd"] == pytest.approx(0.1, rel=0.1), est
    assert est["n_trusts"] == 120 and est["sampling_sd"] < 0.05


def test_estimators_separate_under_autocorrelation():
    """Differences estimate tau^2 (1 - rho); the within-year level estimate is less affected."""
    f = _monthly(0.1, rho=0.8, seed=1)
    lev, dif = period_noise_sd(f, "level")["sd"], period_noise_sd(f, "differences")["sd"]
    assert dif == pytest.approx(0.1 * np.sqrt(0.2), rel=0.15)
    assert lev > 1.5 * dif


def test_sampling_variance_is_removed():
    """No shock: the binomial noise alone (small n) must not be read as period noise."""
    assert period_noise_sd(_monthly(0.0, n=500, seed=2), "level")["sd"] < 0.02


def test_national_movement_is_removed():
    assert period_noise_sd(_monthly(0.05, seed=3), "level", common=True)["sd"] == pytest.approx(0.05, rel=0.15)


def test_breaks_split_windows():
    f = _monthly(0.05, seed=4)
    f.loc[f.month >= "2023-10", "y"] = np.round(f.loc[f.month >= "2023-10", "y"] * 0.8)  # a step in every trust's
    trust = f.trust.isin(range(60))
    f = f[~trust | (f.month < "2023-10")].copy().pipe(lambda g: pd.concat([g, _shifted(f[trust])]))
    broken = period_noise_sd(f, "level")["sd"]
    split = period_noise_sd(f, "level", breaks=("2023-10",))["sd"]
    assert split < broken and split == pytest.approx(0.05, rel=0.25)


def _shifted(f):
    f = f[f.month >= "2023-10"].copy()
    f["y"] = np.round(f.y * 0.7)
    return f


def test_estimator_rejects_bad_input():
    with pytest.raises(ValueError, match="no column"):
        period_noise_sd(pd.DataFrame({"trust": [1], "month": ["2024-01"]}))
    with pytest.raises(ValueError, match="method"):
        period_noise_sd(_monthly(0.1), "median")


def test_windows_estimator():
    """(Denominators steady within a trust: pooled counts of months with very unequal denominators weight the
    national month movement differently per trust, which the estimator would read as period noise.)"""
    f = _monthly(0.1, months=6, trusts=400, seed=5, steady=True)
    a = f[f.month >= "2022-07"].groupby("trust")[["y", "n"]].sum()
    b = f[f.month < "2022-07"].groupby("trust")[["y", "n"]].sum()
    est = period_noise_sd_windows(a.y, a.n, b.y, b.n, 3)
    assert est["sd"] == pytest.approx(0.1, rel=0.2), est


# ------------------------------------------------------------------------------------------ the marginal term


@pytest.mark.parametrize("theta", [-1.0, 0.4, 2.9])
@pytest.mark.parametrize("tau", [0.05, 0.14, 0.3])
def test_beta_shapes_match_logit_moments(theta, tau):
    a, b = registry.Binomial.beta_shapes(theta, tau**2)
    mean = special.digamma(a) - special.digamma(b)
    sd = np.sqrt(special.polygamma(1, a) + special.polygamma(1, b))
    assert mean == pytest.approx(theta, abs=0.01 * tau)
    assert sd == pytest.approx(tau, rel=0.01)


@pytest.mark.parametrize("n,theta,tau", [(20000, 0.4, 0.07), (20000, 1.2, 0.13), (1000, 2.9, 0.17)])
def test_betabinomial_is_the_logit_normal_mixture(n, theta, tau):
    """The beta-binomial's probabilities agree with the binomial integrated over theta + Normal(0, tau^2): closely
    within one tau of theta; at 2.5 tau the beta's logit, skewed by order tau, differs by up to about 10% (the
    shocks' own shape beyond their SD is not known either)."""
    a, b = registry.Binomial.beta_shapes(theta, tau**2)
    x = np.linspace(-9, 9, 20001)  # a fine grid: the binomial is far narrower than tau in theta
    ys = np.unique(np.round(n * special.expit(theta + tau * np.array([-2.5, -1, 0, 1, 2.5]))).astype(int))
    mix = np.array([np.trapezoid(stats.binom.pmf(y, n, special.expit(theta + tau * x)) * stats.norm.pdf(x), x)
                    for y in ys])
    bb = stats.betabinom.pmf(ys, n, a, b)
    err = np.abs(np.log(bb) - np.log(mix))
    assert err[1:-1].max() < 0.03 and err.max() < 0.15, (ys, bb, mix)


def test_simulate_adds_the_period_shock():
    fam = registry.FAMILIES["binomial"]
    rng = np.random.default_rng(0)
    n, theta = np.full(20000, 100000), np.full(20000, 0.5)
    plain = special.logit(fam.simulate(rng, n, theta) / n)
    shocked = special.logit(fam.simulate(rng, n, theta, period_var=0.1**2) / n)
    assert np.var(shocked) - np.var(plain) == pytest.approx(0.01, rel=0.05)


def test_simulate_without_period_draws_as_before():
    fam = registry.FAMILIES["binomial"]
    a = fam.simulate(np.random.default_rng(3), np.full(5, 1000), np.zeros(5))
    b = np.random.default_rng(3).binomial(np.full(5, 1000), 0.5)
    assert (a == b).all()


# ------------------------------------------------------------------------------------------------- the config


def test_default_has_period_noise_and_off_has_none():
    cfg = load_config()
    assert cfg["quality"]["period_noise"] == "estimated"
    rec = registry.get("rtt")
    assert rec.fam.period_variance(rec, cfg) > 0.0 and rec.fam.loglik_kind(rec, cfg) == "betabinomial"
    off = load_config(overrides={"quality": {"period_noise": "off"}})
    assert "period_noise_sd" not in off["quality"] and "period_months" not in off["quality"]
    assert rec.fam.period_variance(rec, off) == 0.0 and rec.fam.loglik_kind(rec, off) == "binomial"


def test_synthetic_default_draws_the_models_period_shocks():
    """The embedded default is drawn from the model fitted to it: each binomial indicator's observed logit is its
    long-run theta plus a shock of the model's SD, tau / sqrt(M); the other draws are those of a panel without it."""
    from analysis.synthetic import generate, model_period_sd

    sd = model_period_sd()
    q = load_config()["quality"]
    assert sd["rtt"] == pytest.approx(q["period_noise_sd"]["rtt"])
    assert sd["cancer_62d"] == pytest.approx(q["period_noise_sd"]["cancer_62d"] / 12 ** 0.5)
    assert "shmi" not in sd and model_period_sd(load_config(overrides={"quality": {"period_noise": "off"}})) == {}
    panel, truth, trusts, _ = generate(5)
    plain, _, plain_trusts, _ = generate(5, period_sd=None)
    assert truth["period_sd"] == pytest.approx(sd) and "eps_rtt" not in plain_trusts
    assert np.allclose(trusts["theta_rtt"], plain_trusts["theta_rtt"])
    for k, v in sd.items():  # a shock of the stated SD (129 draws: within sampling error)
        assert np.std(trusts[f"eps_{k}"]) == pytest.approx(v, rel=0.3)
    assert panel["shmi_observed_deaths"].equals(plain["shmi_observed_deaths"])
    assert not panel["rtt_waiting_under_18w"].equals(plain["rtt_waiting_under_18w"])
    with pytest.raises(ValueError, match="period_sd must be"):
        generate(5, period_sd="estimated")


def test_estimated_fills_sds_and_months():
    cfg = load_config(overrides={"quality": {"period_noise": "estimated", "period_noise_sd": {"rtt": 0.2}}})
    q = cfg["quality"]
    binomial = {k for k in q["indicators"] if registry.get(k).family == "binomial"}
    assert q["period_noise_sd"]["rtt"] == 0.2 and set(q["period_noise_sd"]) == binomial
    # one month each, the cancer standards' financial year twelve (their records)
    assert q["period_months"] == {k: registry.get(k).period_months for k in binomial}
    assert {q["period_months"][k] for k in ("rtt", "ae", "fft")} == {1}
    assert {q["period_months"][k] for k in ("cancer_fds", "cancer_62d")} == {12}
    rec = registry.get("ae")
    assert rec.fam.period_variance(rec, cfg) == pytest.approx(q["period_noise_sd"]["ae"] ** 2)
    assert registry.get("shmi").fam.period_variance(registry.get("shmi"), cfg) == 0.0
    cfg = load_config(overrides={"quality": {"period_noise": "estimated", "period_months": {"rtt": 4}}})
    assert rec.fam.period_variance(registry.get("rtt"), cfg) == pytest.approx(cfg["quality"]["period_noise_sd"]["rtt"] ** 2 / 4)


def test_bad_period_options_are_explained():
    with pytest.raises(ConfigError, match="period_noise must be one of"):
        load_config(overrides={"quality": {"period_noise": "on"}})
    with pytest.raises(ConfigError, match="period_months"):
        load_config(overrides={"quality": {"period_noise": "estimated", "period_months": {"rtt": 0}}})
    with pytest.raises(ConfigError, match=r"period_noise_sd: need .*cancer_31d"):  # no estimate stored
        load_config(overrides={"quality": {"period_noise": "estimated",
                                           "indicators": ["shmi", "rtt", "cancer_31d"]},
                               "priors": {"quality_scale": {"cancer_31d": 0.5}},
                               "value": {"quality_weights": {"cancer_31d": 0.2}}})


# --------------------------------------------------------------------------------------------------- the model


def _small_panel():
    from analysis.synthetic import generate

    panel, _, _, _ = generate(20260401)
    return panel.sort_values("org_code").iloc[:30].reset_index(drop=True)


@pytest.mark.parametrize("tau2", [registry.STIRLING_MAX_TAU2, 0.0286, 0.005, 0.0001])
def test_stirling_betabinomial_is_exact(tau2):
    """The model's beta-binomial log pmf (Stirling's series for the log-gamma terms of the shapes) equals scipy's to
    1e-8 over the whole support's edges and middle, down to the smallest shapes it is used for and up to the
    largest a sampler can wander to."""
    n = np.array([1, 40, 40, 40, 5000, 5000, 120000, 120000, 120000, 120000, 40, 40, 120000])
    y = np.array([0, 0, 17, 40, 3100, 5000, 0, 61000, 120000, 61000, 40, 0, 61000])
    # the last four: shapes of 1e13-1e20, where a plain sum of log-gamma terms (PyMC's betaln) is off by up to 1e5
    theta = np.array([-3.0, 0.0, 0.5, 3.0, -0.2, 1.0, -4.0, 0.1, 4.0, -30.0, -40.0, 30.0, 40.0])
    a, b = registry.Binomial.beta_shapes(theta, tau2)
    got = registry._betabinom_logp(y.astype(float), n.astype(float), a, b).eval()
    assert got == pytest.approx(stats.betabinom.logpmf(y, n, a, b), abs=1e-7)


def test_model_uses_betabinomial_only_when_on(monkeypatch):
    from models.value_model import build_model, prepare

    panel = _small_panel()
    off = load_config(overrides={"quality": {"period_noise": "off"}})
    on = load_config()
    m_off, m_on = (build_model(prepare(panel, c), c) for c in (off, on))
    assert type(m_off["obs_rtt"].owner.op).__name__ == "BinomialRV"
    assert "obs_rtt" in type(m_on["obs_rtt"].owner.op).__name__  # the beta-binomial, Stirling's log-gamma
    monkeypatch.setattr(registry, "STIRLING_MAX_TAU2", -1.0)  # PyMC's own BetaBinomial: the same density
    m_pymc = build_model(prepare(panel, on), on)
    assert type(m_pymc["obs_rtt"].owner.op).__name__ == "BetaBinomialRV"
    ip = m_on.initial_point()
    assert m_on.compile_logp()(ip) == pytest.approx(m_pymc.compile_logp()(ip), abs=1e-6)
    assert type(m_on["obs_shmi"].owner.op).__name__ == "PoissonRV"
    assert np.isfinite(m_on.compile_logp()(m_on.initial_point()))
    # tau -> 0 recovers the binomial: the same log density at the same point, up to the beta-binomial's variance
    # factor 1 + (n - 1) / (a + b + 1), about 1 + n tau^2 = 1 + 1e-4 here
    tiny = load_config(overrides={"quality": {"period_noise": "estimated", "period_noise_sd": {
        k: 1e-4 for k in off["quality"]["indicators"] if registry.get(k).family == "binomial"}}})
    m_tiny = build_model(prepare(panel, tiny), tiny)
    ip = m_off.initial_point()
    assert m_tiny.compile_logp()(ip) == pytest.approx(m_off.compile_logp()(ip), rel=5e-4)


def test_period_noise_loo_pieces():
    """Pointwise log-likelihood: the beta-binomial given theta, the binomial with widened variance integrated."""
    from analysis.validation.loo import count_loglik, integrated_loglik

    y, n, th, tau2 = np.array([6100.0]), np.array([10000.0]), np.array([0.4]), 0.1**2
    ll, _, _ = count_loglik("betabinomial", y, n, th, tau2)
    a, b = registry.Binomial.beta_shapes(th, tau2)
    assert ll == pytest.approx(stats.betabinom.logpmf(y, n, a, b))
    assert integrated_loglik("betabinomial", y, n, th, np.array([0.04]), tau2) == pytest.approx(
        integrated_loglik("binomial", y, n, th, np.array([0.05])))

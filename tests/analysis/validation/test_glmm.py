"""The frequentist mixed-model comparison: the fit recovers known parameters, and the comparison measures what it says.

No sampling: the Bayesian side is a constructed posterior (``az.from_dict``) whose draws sit around known values.
"""

import dataclasses

import arviz as az
import numpy as np
import pytest
from statsmodels.stats.meta_analysis import combine_effects

from analysis.manifest import write_manifest
from analysis.synthetic import generate
from analysis.validation.glmm import (compare, fit_glmm, generalised_q, paule_mandel_tau2, q_profile, run_glmm,
                                      transformed_outcome)
from models.config import load_config
from models.value_model import prepare


@pytest.fixture(scope="module")
def synthetic():
    panel, truth, truth_trusts, _ = generate(20260401)
    d = prepare(panel, load_config())
    return d, truth, truth_trusts, fit_glmm(d)


def _true_sigma(d, truth):
    """True peer scales in the model data's peer order, (G, K)."""
    order = [truth["peer_groups"].index(p) for p in d.peer_groups]
    return np.array(truth["sigma"])[order]


# ----------------------------------------------------------------------------- the frequentist fit

def test_transformed_outcome_values():
    e, v = transformed_outcome(np.array([99.5]), np.array([50.0]), "shmi")
    assert e[0] == pytest.approx(np.log(2.0)) and v[0] == pytest.approx(0.01)
    e, v = transformed_outcome(np.array([74.5]), np.array([99.0]), "rtt")  # 75 successes vs 25 failures, +0.5 each
    assert e[0] == pytest.approx(np.log(3.0)) and v[0] == pytest.approx(1 / 75 + 1 / 25)


def test_paule_mandel_without_covariates_matches_statsmodels():
    rng = np.random.default_rng(1)
    var = rng.uniform(0.005, 0.05, 60)
    eff = 0.3 + rng.normal(0, 0.15, 60) + rng.normal(0, np.sqrt(var))
    ours = paule_mandel_tau2(eff, var, np.ones((60, 1)))
    assert ours == pytest.approx(combine_effects(eff, var, method_re="pm").tau2, rel=1e-6)
    # at the estimate, generalised Q equals its degrees of freedom; the Q-profile interval brackets it
    assert generalised_q(eff, var, np.ones((60, 1)), ours) == pytest.approx(59, abs=1e-6)
    lo, hi = q_profile(eff, var, np.ones((60, 1)))
    assert lo < ours < hi


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.PerfectSeparationWarning")
def test_homogeneous_data_give_zero_between_variance():
    x = np.linspace(-1, 1, 30)
    X = np.column_stack([np.ones(30), x])
    eff = 0.2 + 0.5 * x  # exactly on the regression line: Q(0) = 0 < N - p
    assert paule_mandel_tau2(eff, np.full(30, 0.01), X) == 0.0


def test_recovers_synthetic_truth(synthetic):
    d, truth, truth_trusts, fit = synthetic
    par = fit.parameters.set_index(["indicator", "parameter"])
    sig = _true_sigma(d, truth)
    for k, ind in enumerate(d.indicators):
        # the national tau is close to the root mean square of the true peer scales over the reporting trusts
        rms = np.sqrt(np.mean(sig[d.g[d.observed[:, k]], k] ** 2))
        row = par.loc[(ind, "sd_between")]
        assert row.estimate == pytest.approx(rms, rel=0.1)
        assert row.lo95 < rms < row.hi95
    # need coefficients: every true value inside the 95% interval, and estimates within 3 SE
    beta = np.array(truth["beta"])
    z = [(par.loc[(ind, f"beta[{c}]")].estimate - beta[k, j]) / par.loc[(ind, f"beta[{c}]")].se
         for k, ind in enumerate(d.indicators) for j, c in enumerate(d.need_names)]
    assert np.max(np.abs(z)) < 3 and np.mean(np.abs(z) < 1.96) >= 11 / 12
    # trust effects: BLUPs track the true effects (FFT, with the smallest counts, is the loosest at about 0.93)
    te = fit.trust_effects
    tt = truth_trusts.set_index("org_code")
    for ind in d.indicators:
        t = te[te.indicator == ind]
        assert np.corrcoef(t.glmm_blup, tt.loc[t.org_code, f"u_{ind}"])[0, 1] > 0.9


def test_repeated_simulation_is_unbiased_and_covers(synthetic):
    """Data simulated on the synthetic panel's structure with one national tau: tau and beta unbiased, BLUPs cover."""
    d, *_ = synthetic
    rng = np.random.default_rng(7)
    N, K = d.y.shape
    # between-trust SDs and centres (log or logit scale) near the real panel's, for whichever indicators it has
    tau = np.array([{"shmi": 0.1, "rtt": 0.3, "ae": 0.5, "fft": 0.5, "cancer_fds": 0.3, "cancer_62d": 0.4}[i]
                    for i in d.indicators])
    mu = (np.array([[{"shmi": 0.0, "rtt": 0.7, "ae": 1.1, "fft": 3.0, "cancer_fds": 1.3, "cancer_62d": 0.6}[i]
                     for i in d.indicators]]) + rng.normal(0, 0.1, (len(d.peer_groups), K)))
    beta = rng.normal(0, 0.1, (K, len(d.need_names)))
    taus, betas, cover = [], [], []
    for _ in range(12):
        u = rng.normal(0, 1, (N, K)) * tau
        theta = mu[d.g] + d.x @ beta.T + u
        y = np.full((N, K), np.nan)
        for k, ind in enumerate(d.indicators):
            ok = d.observed[:, k]
            y[ok, k] = (rng.poisson(d.n[ok, k] * np.exp(theta[ok, k])) if ind == "shmi"
                        else rng.binomial(d.n[ok, k].astype(np.int64), 1 / (1 + np.exp(-theta[ok, k]))))
        fit = fit_glmm(dataclasses.replace(d, y=y))
        p = fit.parameters
        taus.append([p[(p.indicator == i) & (p.kind == "between_sd")].estimate.item() for i in d.indicators])
        betas.append([p[(p.indicator == i) & (p.kind == "need_coef")].estimate.to_numpy() for i in d.indicators])
        te = fit.trust_effects
        for k, ind in enumerate(d.indicators):
            t = te[te.indicator == ind]
            true_u = u[fit.fits[ind].rows, k]
            cover.append(np.abs(t.glmm_blup.to_numpy() - true_u) < 1.96 * t.glmm_blup_se.to_numpy())
    # tau^2 (what Paule-Mandel estimates) within 12%: about 3 Monte Carlo SE at 12 replications, plus FFT's own
    # small-count bias (measured over 60 replications: -6% for FFT, within 1% for the others)
    assert np.allclose(np.mean(np.square(taus), 0) / tau**2, 1, atol=0.12)
    betas = np.array(betas)
    bias_z = (betas.mean(0) - beta) / (betas.std(0, ddof=1) / np.sqrt(len(betas)))
    assert np.abs(bias_z).max() < 3.5
    assert 0.93 < np.mean(np.concatenate(cover)) < 0.97


# ----------------------------------------------------------------------------- comparison with a posterior

def _fake_posterior(d, fit, S=200, u_shift=None, mu_shift=None, sigma_factor=None, seed=0):
    """Posterior draws centred exactly on the GLMM's answers (antithetic noise), optionally moved.

    ``u_shift``: (trust index, indicator index, shift) for one trust effect; ``mu_shift``: (peer index, indicator
    index, shift); ``sigma_factor``: (peer index, indicator index, factor) for a peer scale.
    """
    rng = np.random.default_rng(seed)
    N, K, G, P = d.N, len(d.indicators), len(d.peer_groups), len(d.need_names)
    u_c, u_s = np.full((N, K), np.nan), np.full((N, K), np.nan)
    mu_c, mu_s = np.zeros((G, K)), np.full((G, K), 0.05)
    beta_c, beta_s = np.zeros((K, P)), np.zeros((K, P))
    sig_c = np.zeros((G, K))
    for k, ind in enumerate(d.indicators):
        f = fit.fits[ind]
        u_c[f.rows, k], u_s[f.rows, k] = f.blup, f.blup_se
        for j, (kind, name) in enumerate(f.columns):
            se = np.sqrt(f.cov[j, j])
            if kind == "peer_mean":
                mu_c[d.peer_groups.index(name), k], mu_s[d.peer_groups.index(name), k] = f.params[j], se
            else:
                beta_c[k, d.need_names.index(name)], beta_s[k, d.need_names.index(name)] = f.params[j], se
        sig_c[:, k] = np.sqrt(f.tau2)
    if u_shift:
        u_c[u_shift[0], u_shift[1]] += u_shift[2]
    if mu_shift:
        mu_c[mu_shift[0], mu_shift[1]] += mu_shift[2]
    if sigma_factor:
        sig_c[sigma_factor[0], sigma_factor[1]] *= sigma_factor[2]

    def draws(centre, scale):
        z = rng.normal(size=(S // 2,) + centre.shape)
        return (centre + scale * np.concatenate([z, -z]))[None]  # mean exactly the centre

    sigma = sig_c * np.exp(draws(np.zeros((G, K)), 0.05 * np.ones((G, K))))
    post = {"u": draws(u_c, u_s), "mu": draws(mu_c, mu_s), "beta": draws(beta_c, beta_s), "sigma": sigma}
    return az.from_dict(posterior=post, coords=d.coords(),
                        dims={"u": ["trust", "indicator"], "mu": ["peer", "indicator"], "beta": ["indicator", "need"],
                              "sigma": ["peer", "indicator"]})


def test_compare_agreeing_posterior(synthetic):
    d, _, _, fit = synthetic
    c = compare(d, _fake_posterior(d, fit), fit)
    agr = c["agreement"].set_index("indicator")
    assert (agr.correlation > 0.999).all() and np.allclose(agr.slope, 1, atol=0.01)
    assert (agr.share_in_credible == 1).all() and (agr.max_abs_diff < 1e-9).all()
    p = c["parameters"]
    assert p.glmm_in_credible.all() and (p.explanation == "").all()
    assert len(c["trust_effects"]) == int(d.observed.sum())


def test_compare_finds_a_moved_trust_and_peer(synthetic):
    d, _, _, fit = synthetic
    k = d.indicators.index("rtt")
    i = int(fit.fits["rtt"].rows[5])
    gi = d.peer_groups.index("teaching")
    c = compare(d, _fake_posterior(d, fit, u_shift=(i, k, 1.0), mu_shift=(gi, k, 0.2),
                                   sigma_factor=(gi, d.indicators.index("ae"), 2.0)), fit)
    te = c["trust_effects"].set_index(["indicator", "org_code"])
    moved = te.loc[("rtt", d.trusts.org_code.iloc[i])]
    assert moved["diff"] == pytest.approx(1.0, abs=1e-9) and not moved.glmm_in_credible and moved.flag
    lg = c["largest"]
    assert lg[lg.indicator == "rtt"].org_code.iloc[0] == d.trusts.org_code.iloc[i]
    agr = c["agreement"].set_index("indicator")
    assert agr.loc["rtt", "share_in_credible"] == pytest.approx(1 - 1 / agr.loc["rtt", "n_trusts"])
    assert agr.loc["shmi", "share_in_credible"] == 1
    # the moved peer mean: expectation part = lambda_B * (GLMM - Bayes expectation) = -0.2 lambda_B, only in that group
    rtt = c["trust_effects"][c["trust_effects"].indicator == "rtt"]
    teach = rtt.peer_group == "teaching"
    assert np.allclose(rtt.diff_expectation[teach], -0.2 * rtt.bayes_shrinkage[teach], atol=1e-9)
    assert np.allclose(rtt.diff_expectation[~teach], 0, atol=1e-9)
    p = c["parameters"].set_index(["indicator", "parameter"])
    assert not p.loc[("rtt", "mu[teaching]")].glmm_in_credible
    assert p.loc[("rtt", "mu[teaching]")].z == pytest.approx(-0.2 / p.loc[("rtt", "mu[teaching]")].bayes_sd, rel=0.05)
    # a peer scale twice the national tau: tau is outside that group's interval, and the Bayesian model shrinks less
    sig = p.loc[("ae", "sigma[teaching]")]
    assert not sig.glmm_in_credible and "national τ" in sig.explanation
    ae = c["trust_effects"][(c["trust_effects"].indicator == "ae") & (c["trust_effects"].peer_group == "teaching")]
    assert (ae.bayes_shrinkage >= ae.glmm_shrinkage).all()


def test_run_glmm_writes_files_and_items(synthetic, tmp_path):
    d, _, _, fit = synthetic
    idata = _fake_posterior(d, fit, u_shift=(int(fit.fits["fft"].rows[0]), 3, 2.0))
    items = run_glmm(d, idata, tmp_path)
    for name in ("glmm_trust_effects.csv", "glmm_parameters.csv", "glmm_agreement.png"):
        assert (tmp_path / name).stat().st_size > 0
    write_manifest(tmp_path, "test", items)  # every table and figure an item names exists
    trust, params = items
    c = compare(d, idata, fit)
    r = c["agreement"].set_index("indicator").correlation
    assert trust.extra["correlation"] == pytest.approx(r.to_dict())
    assert f"| {r['fft']:.3f} |" in trust.text  # the number in the prose is the computed one
    assert trust.passed is True and params.passed is True
    assert params.extra["share_in_credible"] == 1.0
    assert d.trusts.org_code.iloc[fit.fits["fft"].rows[0]] in trust.text  # the moved trust is named as differing most

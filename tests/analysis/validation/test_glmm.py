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
from analysis.validation.glmm import (MIN_GROUP_TRUSTS, _trust_text, compare, fit_glmm, generalised_q, group_q,
                                      paule_mandel_groups, paule_mandel_tau2, q_profile, run_glmm,
                                      transformed_outcome)
from models.config import load_config
from models.value_model import prepare


@pytest.fixture(scope="module")
def generated():
    # drawn without period shocks: the GLMM has no period term, and would count the shock as between-trust spread
    return generate(20260401, period_sd=None)


@pytest.fixture(scope="module")
def synthetic(generated):
    panel, truth, truth_trusts, _ = generated
    d = prepare(panel, load_config())
    return d, truth, truth_trusts, fit_glmm(d)


@pytest.fixture(scope="module")
def per_group(synthetic):
    return fit_glmm(synthetic[0], per_group=True)


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
        sig_c[[d.peer_groups.index(p) for p in f.peer_names], k] = np.sqrt(f.tau2_group)
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


def test_run_glmm_writes_files_and_items(synthetic, per_group, tmp_path):
    d, _, _, fit = synthetic
    k_fft = d.indicators.index("fft")
    idata = _fake_posterior(d, per_group, u_shift=(int(per_group.fits["fft"].rows[0]), k_fft, 2.0))
    items = run_glmm(d, idata, tmp_path)
    for name in ("glmm_trust_effects.csv", "glmm_parameters.csv", "glmm_agreement.png"):
        assert (tmp_path / name).stat().st_size > 0
    write_manifest(tmp_path, "test", items)  # every table and figure an item names exists
    trust, params = items
    # the verdict uses the per-peer-group GLMM (like for like); the national one is reported beside it
    c = compare(d, idata, per_group, national=fit)
    r = c["agreement"].set_index("indicator").correlation
    assert trust.extra["correlation"] == pytest.approx(r.to_dict())
    r_nat = compare(d, idata, fit)["agreement"].set_index("indicator").correlation
    assert trust.extra["national_correlation"] == pytest.approx(r_nat.to_dict())
    assert f"| {r['fft']:.3f} |" in trust.text  # the number in the prose is the computed one
    assert f"| {r_nat['fft']:.3f} |" in trust.text
    assert trust.passed is True and params.passed is True
    assert params.extra["share_in_credible"] == 1.0
    assert d.trusts.org_code.iloc[per_group.fits["fft"].rows[0]] in trust.text  # the moved trust differs most
    te = c["trust_effects"]
    assert {"national_blup", "glmm_tau_national", "glmm_scale"} <= set(te.columns)


def test_verdict_follows_the_per_group_fit(synthetic, per_group, tmp_path, monkeypatch):
    """The pass/fail uses the per-group GLMM's correlations; the national ones do not enter it."""
    from analysis.validation import glmm

    d, _, _, fit = synthetic
    idata = _fake_posterior(d, per_group)  # centred on the per-group BLUPs: r = 1 there, below 1 for the national
    c = compare(d, idata, per_group, national=fit)["agreement"]
    lo_pg, lo_nat = c.correlation.min(), c.national_correlation.min()
    assert lo_nat < lo_pg
    monkeypatch.setattr(glmm, "MIN_CORRELATION", (lo_nat + lo_pg) / 2)  # the national fit would fail this bar
    assert run_glmm(d, idata, tmp_path)[0].passed is True
    monkeypatch.setattr(glmm, "MIN_CORRELATION", lo_pg + 1e-9)
    assert run_glmm(d, idata, tmp_path)[0].passed is False


# ----------------------------------------------------------------------------- one between-trust variance per group

def test_group_q_sums_to_generalised_q():
    rng = np.random.default_rng(3)
    grp = np.repeat([0, 1, 2], [20, 15, 10])
    X = np.column_stack([(grp == g).astype(float) for g in range(3)] + [rng.normal(size=45)])
    eff, var = rng.normal(size=45), rng.uniform(0.01, 0.05, 45)
    q, e = group_q(eff, var, X, grp, np.full(3, 0.1))
    assert q.sum() == pytest.approx(generalised_q(eff, var, X, 0.1), rel=1e-9)
    assert e.sum() == pytest.approx(45 - X.shape[1], rel=1e-9)  # the hat matrix's trace is p


def test_one_group_equals_national_estimator():
    rng = np.random.default_rng(1)
    var = rng.uniform(0.005, 0.05, 60)
    x = rng.normal(size=60)
    X = np.column_stack([np.ones(60), x])
    eff = 0.3 + 0.2 * x + rng.normal(0, 0.15, 60) + rng.normal(0, np.sqrt(var))
    gt = paule_mandel_groups(eff, var, X, np.zeros(60, int))
    assert gt.tau2[0] == pytest.approx(paule_mandel_tau2(eff, var, X), rel=1e-9)
    assert gt.tau2[0] == pytest.approx(gt.national, rel=1e-9) and gt.estimated[0]
    assert gt.ci[0] == pytest.approx(q_profile(eff, var, X), rel=1e-8)


def test_one_peer_group_fit_equals_national_fit(generated):
    """peer_groups.column = "national": the per-group GLMM is the national GLMM, BLUP for BLUP."""
    d = prepare(generated[0], load_config(overrides={"peer_groups": {"column": "national"}}))
    nat, pg = fit_glmm(d), fit_glmm(d, per_group=True)
    for ind in d.indicators:
        assert pg.fits[ind].tau2_group[0] == pytest.approx(nat.fits[ind].tau2, rel=1e-8)
        assert pg.fits[ind].blup == pytest.approx(nat.fits[ind].blup, rel=1e-6, abs=1e-10)


def test_recovers_per_group_variances():
    """Data simulated from known per-group tau^2 with shared need coefficients: each group's tau^2 recovered.

    Tolerance from the simulation: over 400 replications of this design the mean estimate was within 1.5 Monte Carlo
    SE of the truth for every group (mean / true 0.99, 1.03, 1.02, 1.05; per-replication relative SD 0.44, 0.36,
    0.35, 0.76 for the groups of 50, 30, 20 and 10 trusts), so with 60 replications each group's mean is checked
    within 3.5 Monte Carlo SE, and the single national tau^2, which the per-group fit must not return, is far
    outside that for the smallest and largest tau^2."""
    rng = np.random.default_rng(2026)
    sizes, t2 = np.array([50, 30, 20, 10]), np.array([0.02, 0.1, 0.5, 0.05])
    grp = np.repeat(np.arange(4), sizes)
    N = len(grp)
    x = rng.normal(size=(N, 2))
    X = np.column_stack([(grp == g).astype(float) for g in range(4)] + [x])
    var = rng.uniform(0.005, 0.05, N)
    est, nat = [], []
    for _ in range(60):
        eff = 0.1 * grp + x @ [0.3, -0.2] + rng.normal(0, np.sqrt(t2[grp])) + rng.normal(0, np.sqrt(var))
        gt = paule_mandel_groups(eff, var, X, grp)
        assert gt.estimated.all()
        q, e = group_q(eff, var, X, grp, gt.tau2)
        pos = gt.tau2 > 0
        assert q[pos] == pytest.approx(e[pos], rel=1e-6)  # each group's moment equation holds at the estimate
        est.append(gt.tau2)
        nat.append(gt.national)
    est = np.array(est)
    mc_se = est.std(0, ddof=1) / np.sqrt(len(est))
    assert np.all(np.abs(est.mean(0) - t2) < 3.5 * mc_se)
    assert abs(np.mean(nat) - t2[0]) > 10 * mc_se[0] and abs(np.mean(nat) - t2[2]) > 10 * mc_se[2]


def test_tiny_group_falls_back_to_national():
    rng = np.random.default_rng(5)
    grp = np.repeat([0, 1, 2], [40, 30, MIN_GROUP_TRUSTS - 1])
    N = len(grp)
    X = np.column_stack([(grp == g).astype(float) for g in range(3)] + [rng.normal(size=N)])
    var = rng.uniform(0.01, 0.05, N)
    eff = rng.normal(0, np.sqrt(np.array([0.05, 0.2, 1.0])[grp] + var))
    gt = paule_mandel_groups(eff, var, X, grp)
    assert list(gt.estimated) == [True, True, False]
    assert gt.tau2[2] == gt.national and tuple(gt.ci[2]) == pytest.approx(q_profile(eff, var, X))
    assert gt.tau2[0] != gt.national


def test_fallback_and_absent_groups_are_reported(synthetic, tmp_path):
    """A peer group below the minimum keeps the national tau and says so; one with no data is named as absent."""
    d, _, _, fit = synthetic
    k = d.indicators.index("shmi")
    sizes = {p: int(np.sum(d.g[d.observed[:, k]] == gi)) for gi, p in enumerate(d.peer_groups)}
    gone = min(sizes, key=sizes.get)  # specialist trusts report no SHMI, as on the real panel; else make it so
    y = d.y.copy()
    y[d.g == d.peer_groups.index(gone), k] = np.nan
    d2 = dataclasses.replace(d, y=y)
    small = min((p for p in sizes if p != gone), key=sizes.get)
    pg = fit_glmm(d2, per_group=True, min_trusts=sizes[small] + 1)
    f = pg.fits["shmi"]
    j = f.peer_names.index(small)
    assert gone not in f.peer_names and not f.group_own[j] and f.tau2_group[j] == f.tau2
    assert f.group_own[[i for i in range(len(f.peer_names)) if i != j]].all()
    row = pg.parameters.set_index(["indicator", "parameter"]).loc[("shmi", f"sd_between[{small}]")]
    assert row.source == f"national (fallback: only {sizes[small]} trusts report it)"
    c = compare(d2, _fake_posterior(d2, pg), pg, national=fit_glmm(d2))
    a = c["agreement"].set_index("indicator").loc["shmi"]
    assert a.absent_groups == gone and a.fallback_groups == f"{small} ({sizes[small]} trusts)"
    text = _trust_text(c)
    assert f"no trust in the {gone} group(s) reports it" in text
    assert f"too few reporting trusts in {small} ({sizes[small]} trusts)" in text
    te = c["trust_effects"]
    assert (te[(te.indicator == "shmi") & (te.peer_group == small)].glmm_scale == row.source).all()
    p = c["parameters"].set_index(["indicator", "parameter"])
    assert p.loc[("shmi", f"sigma[{small}]")].glmm_scale == row.source
    assert ("shmi", f"sigma[{gone}]") not in p.index

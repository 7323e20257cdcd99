"""Integrated LOO, its quadrature and conditioning, and LOO-PIT."""

import numpy as np
import pytest
from scipy import integrate, stats

from analysis.validation import loo


@pytest.mark.parametrize("kind,y,n,m,v", [
    ("poisson", 850, 800, 0.0, 0.01),         # a large trust: likelihood much narrower than the prior
    ("poisson", 3, 2.5, 0.2, 0.3),            # a tiny count: prior dominates
    ("binomial", 70000, 90000, 1.2, 0.04),
    ("binomial", 5, 40, -3.0, 0.5),
    ("negbin", 900, 800, 0.0, 0.02),
])
def test_quadrature_matches_adaptive_numerical_integration(kind, y, n, m, v):
    alpha = 50.0 if kind == "negbin" else None
    f = lambda t: np.exp(loo.count_loglik(kind, y, n, t, alpha)[0]) * stats.norm.pdf(t, m, np.sqrt(v))
    centre = np.log((y + 0.5) / n) if kind != "binomial" else np.log((y + 0.5) / (n - y + 0.5))
    ref = np.log(integrate.quad(f, -12, 12, points=[centre, m], limit=1000, epsabs=0, epsrel=1e-12)[0])
    assert loo.integrated_loglik(kind, y, n, m, v, alpha) == pytest.approx(ref, abs=1e-8)


def test_count_loglik_derivatives_match_finite_differences():
    for kind, y, n in (("poisson", 40, 35.0), ("binomial", 30, 100), ("negbin", 40, 35.0)):
        t, h = 0.13, 1e-5
        ll = lambda x: loo.count_loglik(kind, y, n, x, 7.0)[0]
        _, g, hh = loo.count_loglik(kind, y, n, t, 7.0)
        assert g == pytest.approx((ll(t + h) - ll(t - h)) / (2 * h), rel=1e-5)
        assert hh == pytest.approx((ll(t + h) - 2 * ll(t) + ll(t - h)) / h**2, rel=1e-3)


def test_conditional_moments_equal_gaussian_conditioning():
    rng = np.random.default_rng(1)
    K = 3
    A = rng.normal(size=(K, K))
    C = A @ A.T + K * np.eye(K)
    sd = np.sqrt(np.diag(C))
    R = C / np.outer(sd, sd)
    theta = rng.normal(size=(1, 2, K))
    eta = rng.normal(size=(1, 2, K))
    sig = np.broadcast_to(sd, (1, 2, K)).copy()
    obs = np.array([[True, True, True], [True, False, True]])
    m, v = loo.conditional_moments(theta, eta, sig, R[None], obs)
    # trust 0, cell 1 given cells 0 and 2
    o = [0, 2]
    w = np.linalg.solve(C[np.ix_(o, o)], C[o, 1])
    assert m[0, 0, 1] == pytest.approx(eta[0, 0, 1] + w @ (theta[0, 0, o] - eta[0, 0, o]))
    assert v[0, 0, 1] == pytest.approx(C[1, 1] - C[1, o] @ w)
    # trust 1 does not report cell 1: its cell 0 conditions on cell 2 only, and cell 1 is NaN
    w2 = C[0, 2] / C[2, 2]
    assert m[0, 1, 0] == pytest.approx(eta[0, 1, 0] + w2 * (theta[0, 1, 2] - eta[0, 1, 2]))
    assert np.isnan(m[0, 1, 1])


def test_integrated_loo_is_reliable_where_conditional_is_not(synthetic_posterior):
    s = synthetic_posterior
    pw = loo.pointwise_loglik(s["idata"], s["data"], s["cfg"])
    summ, point, _ = loo.loo_summary(pw)
    t = summ.set_index("likelihood")
    n = int(t.loc["quality_integrated", "n_obs"])
    assert n == int(s["data"].observed.sum())
    # the design's known pathology, and its cure
    assert t.loc["quality_conditional", "k_gt_0.7"] > 0.5 * n
    assert t.loc["quality_integrated", "k_gt_0.7"] <= 0.05 * n
    assert len(point) == n + int((~np.isnan(s["data"].cost_y)).sum())


def test_loo_pit_is_uniform_for_the_generating_model(synthetic_posterior):
    s = synthetic_posterior
    pw = loo.pointwise_loglik(s["idata"], s["data"], s["cfg"])
    pit = loo.loo_pit(pw, s["data"], s["cfg"], s["idata"])
    assert ((pit >= 0) & (pit <= 1)).all()
    groups = pw["cells"].block + ":" + pw["cells"].outcome
    unif = loo.pit_uniformity(pit, groups)
    assert unif.set_index("outcome").loc["all", "p_value"] > 0.001


def test_pit_uniformity_rejects_a_miscalibrated_pit():
    import pandas as pd

    rng = np.random.default_rng(0)
    pit = np.concatenate([rng.uniform(size=300), rng.beta(5, 5, size=300)])  # second half: overdispersed model
    groups = pd.Series(["good"] * 300 + ["bad"] * 300)
    u = loo.pit_uniformity(pit, groups).set_index("outcome")
    assert u.loc["good", "p_value"] > 0.01
    assert u.loc["bad", "p_value"] < 1e-6

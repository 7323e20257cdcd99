"""Model building (no sampling): data preparation, peer groups from config, structure of the PyMC model."""

import numpy as np
import pymc as pm
import pytensor
import pytest

from analysis.synthetic import generate
from models.config import ConfigError, load_config
from models.value_model import build_model, parameterisation, peer_assignment, prepare


@pytest.fixture(scope="module")
def panel():
    return generate(9)[0]


def test_prepare_standardises_need_and_masks_missing(panel):
    cfg = load_config()
    d = prepare(panel, cfg)
    assert np.allclose(d.x.mean(0), 0, atol=1e-12) and np.allclose(d.x.std(0, ddof=1), 1)
    spec = (d.trusts.size_class == "specialist").to_numpy()
    assert not d.observed[spec, d.indicators.index("shmi")].any()
    assert d.observed[~spec, d.indicators.index("shmi")].all()
    ae = d.indicators.index("ae")
    ok = d.observed[:, ae]
    p = panel.set_index("org_code").loc[d.trusts.org_code]
    np.testing.assert_array_equal(d.y[ok, ae], (p.ae_attendances - p.ae_over_4h).to_numpy()[ok])


def test_peer_groups_come_from_config(panel):
    code = panel.org_code.iloc[0]
    cfg = load_config(overrides={"peer_groups": {"overrides": {code: "reviewed-peers"}}})
    peer = peer_assignment(panel, cfg)
    assert peer[panel.org_code == code].item() == "reviewed-peers"
    assert (peer[panel.org_code != code] == panel.size_class[panel.org_code != code]).all()
    with pytest.raises(ValueError, match="unknown trust code"):
        peer_assignment(panel, load_config(overrides={"peer_groups": {"overrides": {"NOPE": "x"}}}))


def test_missing_cells_are_marginalised_not_sampled(panel):
    cfg = load_config()
    d = prepare(panel, cfg)
    m = build_model(d, cfg)
    free = {v.name: v for v in m.free_RVs}
    assert "theta_obs" in free
    n_cells = m.initial_point()["theta_obs"].size + (m.initial_point()["z"].size if "z" in free else 0)
    assert n_cells == d.observed.sum() < d.N * len(d.indicators)


def test_logp_finite_at_initial_point_for_each_variant(panel):
    for over in ({}, {"quality": {"correlation": "factor"}}, {"quality": {"trust_effects": "non_centred"}},
                 {"quality": {"shmi_likelihood": "negbin"}}):
        cfg = load_config(overrides=over)
        m = build_model(prepare(panel, cfg), cfg)
        assert np.isfinite(m.compile_logp()(m.initial_point())), over


@pytest.mark.parametrize("over, msg", [
    ({"quality": {"indicators": ["shmi", "bogus"]}}, "unknown"),
    ({"quality": {"correlation": "tree"}}, "correlation"),
    ({"benchmark": {"cost": "best"}}, "benchmark.cost"),
    ({"sampler": {"name": "gibbs"}}, "sampler.name"),
    ({"value": {"quality_share": 2}}, "quality_share"),
    ({"priors": {"quality_scale": {"fft": "wide"}}}, r"quality_scale.*\['fft'\]"),
    ({"priors": {"quality_scale": {"shmi": 0, "rtt": 0.5, "ae": 0.6, "fft": 0.6}}}, "quality_scale"),
    ({"priors": {"cost_scale": {"ae": -1}}}, r"priors.cost_scale.*\[.ae.\]"),
    ({"priors": {"scale_variation": 0}}, "priors.scale_variation"),
    ({"quality": {"correlation": "factor", "factor_anchor": "los"}}, "factor_anchor"),
])
def test_config_validation(over, msg):
    with pytest.raises(ConfigError, match=msg):
        load_config(overrides=over)


def test_priors_follow_config_scales(panel):
    """Each indicator's prior is on its own declared scale: peer mean s, need effect s/2, trust SD s."""
    cfg = load_config()
    m = build_model(prepare(panel, cfg), cfg)
    sc = np.array([cfg["priors"]["quality_scale"][k] for k in cfg["quality"]["indicators"]])
    draws = pm.draw([m["mu"], m["beta"]], draws=4000, random_seed=1)
    np.testing.assert_allclose(draws[0].std(axis=0).mean(axis=0), sc, rtol=0.08)
    np.testing.assert_allclose(draws[1].std(axis=0).mean(axis=1), sc / 2, rtol=0.08)
    half = load_config(overrides={"priors": {"quality_scale": {k: v / 2 for k, v in
                                                               cfg["priors"]["quality_scale"].items()}}})
    m2 = build_model(prepare(panel, half), half)
    mu2 = pm.draw(m2["mu"], draws=4000, random_seed=1)
    np.testing.assert_allclose(mu2.std(axis=0).mean(axis=0), sc / 2, rtol=0.08)


def test_factor_anchor_loading_is_positive(panel):
    cfg = load_config(overrides={"quality": {"correlation": "factor", "factor_anchor": "ae"}})
    m = build_model(prepare(panel, cfg), cfg)
    lam = pm.draw(m["loading"], draws=2000, random_seed=2)
    k = cfg["quality"]["indicators"].index("ae")
    assert (lam[:, k] >= 0).all() and (np.delete(lam, k, axis=1) < 0).any()


@pytest.mark.parametrize("correlation, mixed", [("lkj", "none"), ("factor", "none"), ("lkj", "some"),
                                                ("factor", "some"), ("lkj", "all")])
def test_trust_effect_density_matches_scipy(panel, correlation, mixed):
    """Whichever peer group x indicator cells are non-centred, the trust effects have the multivariate normal
    density of each trust's observed cells (scipy): the Potential of the centred cells, plus the N(0, 1) density of
    z, less the log-Jacobian of z -> theta (computed numerically), equals it at a random point.  So the
    marginalisation of missing cells and the conditional draw of non-centred cells given centred ones are exact."""
    from scipy import stats

    cfg = load_config(overrides={"quality": {"correlation": correlation}})
    d = prepare(panel, cfg)
    d.observed[3, 1] = d.observed[7, 2] = d.observed[7, 3] = False  # extra patterns: 3 and 2 indicators observed
    d.observed[11, 1:] = False  # and one alone
    G, K = len(d.peer_groups), len(d.indicators)
    nc = {"none": np.zeros((G, K), bool), "all": np.ones((G, K), bool),
          "some": np.arange(G * K).reshape(G, K) % 3 == 1}[mixed]
    m = build_model(d, cfg, noncentred=nc)
    names = {v.name for v in m.free_RVs}
    assert ("z" in names) == bool(nc.any()) and (m.initial_point()["theta_obs"].size == 0) == nc.all()
    rng = np.random.default_rng(5)
    point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in m.initial_point().items()}
    outs = m.replace_rvs_by_values([m["theta_prior"], m["theta"], m["u"], m["sigma"], m["corr"]])
    fn = pytensor.function(m.value_vars, outs, on_unused_input="ignore")
    got, theta, u, sig, R = fn(*[point[v.name] for v in m.value_vars])
    if nc.any():
        zv = next(v for v in m.value_vars if v.name == "z")
        th = m.replace_rvs_by_values([m["theta"]])[0]
        rows, cols = np.nonzero(d.observed & nc[d.g])
        jac = pytensor.gradient.jacobian(th[rows, cols], zv)
        J = pytensor.function(m.value_vars, jac, on_unused_input="ignore")(*[point[v.name] for v in m.value_vars])
        got = got + stats.norm.logpdf(point["z"]).sum() - np.linalg.slogdet(J)[1]
    eta = theta - u
    ref = 0.0
    for i in range(d.N):
        c = np.nonzero(d.observed[i])[0]
        if len(c) == 0:
            continue
        s = sig[d.g[i], c]
        ref += stats.multivariate_normal(eta[i, c], np.outer(s, s) * R[np.ix_(c, c)]).logpdf(theta[i, c])
    assert len(np.unique(d.observed, axis=0)) >= 3
    assert float(got) == pytest.approx(ref, rel=1e-9, abs=1e-6)


def test_auto_parameterisation_follows_data_strength(panel):
    """"auto" non-centres a peer group x indicator whose trusts' data are weak against the group's plausible
    scale, and keeps strong cells centred; "centred" and "non_centred" apply to every cell."""
    cfg = load_config(overrides={"quality": {"trust_effects": "auto"}})
    d = prepare(panel, cfg)
    base = parameterisation(d, cfg)
    g, k = 0, d.indicators.index("rtt")
    rows = np.nonzero((d.g == g) & d.observed[:, k])[0]
    assert len(rows) >= 3 and not base["noncentred"][g, k]  # RTT: tens of thousands of pathways per trust
    weak = prepare(panel, cfg)
    weak.n[rows, k] = 20.0  # twenty pathways per trust, all alike: the data cannot pin the effects
    weak.y[rows, k] = 12.0
    assert parameterisation(weak, cfg)["noncentred"][g, k]
    t = base["table"]
    assert len(t) == len(d.peer_groups) * len(d.indicators)
    assert set(t.parameterisation) <= {"centred", "non-centred"}
    for mode, want in (("centred", False), ("non_centred", True)):
        c = load_config(overrides={"quality": {"trust_effects": mode}})
        assert (parameterisation(d, c)["noncentred"] == want).all()


def test_one_peer_group_has_no_scale_multipliers(panel):
    """National shrinkage (one group): the peer-scale multiplier would be an unidentified rescaling of sd0."""
    cfg = load_config(overrides={"peer_groups": {"column": "national"}})
    m = build_model(prepare(panel, cfg), cfg)
    names = {v.name for v in m.free_RVs}
    assert not names & {"s_scale", "eps_scale", "s_scale_c", "eps_scale_c"}
    assert np.isfinite(m.compile_logp()(m.initial_point()))
    base = build_model(prepare(panel, load_config()), load_config())
    assert {"s_scale", "eps_scale", "s_scale_c", "eps_scale_c"} <= {v.name for v in base.free_RVs}


def test_peer_scale_deviations_sum_to_zero_with_unit_marginal_sd(panel):
    """sd0 is the geometric-mean scale: log multipliers sum to zero over peer groups, each N(0, 1) marginally."""
    cfg = load_config()
    d = prepare(panel, cfg)
    m = build_model(d, cfg)
    for name, dim in (("eps_scale", "indicator"), ("eps_scale_c", "cost_outcome")):
        assert m.named_vars_to_dims[name] == (dim, "peer") and len(d.peer_groups) > 1
        eps = pm.draw(m[name], draws=4000, random_seed=3)  # (draw, outcome, peer)
        np.testing.assert_allclose(eps.sum(axis=-1), 0, atol=1e-9)
        assert eps.std(axis=0).min() > 0.95 and eps.std(axis=0).max() < 1.05

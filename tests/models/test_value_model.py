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
    spec = (d.trusts.size_class == "specialist").to_numpy()
    # standardised over the trusts the covariates apply to (all but specialist: need.by_group)
    assert np.allclose(d.x[~spec].mean(0), 0, atol=1e-12) and np.allclose(d.x[~spec].std(0, ddof=1), 1)
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
                                                ("factor", "some"), ("lkj", "all"), ("lkj", "partial")])
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
          "some": np.arange(G * K).reshape(G, K) % 3 == 1,
          "partial": np.where(np.arange(G * K).reshape(G, K) % 3 == 1, 0.6, 0.0)}[mixed]
    m = build_model(d, cfg, noncentred=nc)
    names = {v.name for v in m.free_RVs}
    assert ("z" in names) == bool(nc.any()) and (m.initial_point()["theta_obs"].size == 0) == (nc > 0).all()
    rng = np.random.default_rng(5)
    point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in m.initial_point().items()}
    outs = m.replace_rvs_by_values([m["theta_prior"], m["theta"], m["u"], m["sigma"], m["corr"]])
    fn = pytensor.function(m.value_vars, outs, on_unused_input="ignore")
    got, theta, u, sig, R = fn(*[point[v.name] for v in m.value_vars])
    if nc.any():
        zv = next(v for v in m.value_vars if v.name == "z")
        th = m.replace_rvs_by_values([m["theta"]])[0]
        rows, cols = np.nonzero(d.observed & (nc[d.g] > 0))
        jac = pytensor.gradient.jacobian(th[rows, cols], zv)
        J = pytensor.function(m.value_vars, jac, on_unused_input="ignore")(*[point[v.name] for v in m.value_vars])
        z_logp = m.compile_logp(vars=[m["z"]])(point)  # N(0, 1), or N(0, sigma^(1 - a)) partially non-centred
        got = got + z_logp - np.linalg.slogdet(J)[1]
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
    assert not {n for n in names if n.startswith(("s_scale", "scale_dev"))}
    assert np.isfinite(m.compile_logp()(m.initial_point()))
    base = build_model(prepare(panel, load_config()), load_config())
    assert {"s_scale", "s_scale_c"} <= {v.name for v in base.free_RVs}


@pytest.mark.parametrize("mode", ["centred", "non_centred"])
def test_peer_scale_multipliers_sum_to_zero_over_groups_with_data(panel, mode):
    """sd0 is the geometric-mean scale of the peer groups that report an outcome: their log multipliers sum to zero,
    each with marginal SD s_scale; a group reporting nothing (specialist trusts have no SHMI) has multiplier 1.  The
    same prior whether the multipliers are centred or not."""
    cfg = load_config(overrides={"quality": {"scale_multipliers": mode}, "cost": {"scale_multipliers": mode}})
    d = prepare(panel, cfg)
    m = build_model(d, cfg)
    present_q = np.stack([d.observed[d.g == g].any(0) for g in range(len(d.peer_groups))])
    present_c = np.stack([(~np.isnan(d.cost_y[d.g == g])).any(0) for g in range(len(d.peer_groups))])
    assert not present_q.all()  # the synthetic panel has a group without SHMI
    for lm, s, present in (("log_scale_dev", "s_scale", present_q), ("log_scale_dev_c", "s_scale_c", present_c)):
        assert m.named_vars_to_dims[lm] == ("peer", m.named_vars_to_dims[s][0])
        draws_l, draws_s = pm.draw([m[lm], m[s]], draws=4000, random_seed=3)  # (draw, peer, outcome), (draw, outcome)
        eps = draws_l / draws_s[:, None, :]
        np.testing.assert_allclose(np.where(present, draws_l, 0).sum(axis=1), 0, atol=1e-9)
        np.testing.assert_array_equal(draws_l[:, ~present], 0)
        sd = eps.std(axis=0)[present]
        assert sd.min() > 0.95 and sd.max() < 1.05


def test_scale_multiplier_parameterisation_follows_data_strength(panel):
    """"auto" centres an outcome's log multipliers when the peer groups' scales are determined by their data (they
    differ by more than their sampling error) and non-centres them when they are alike."""
    cfg = load_config()
    d = prepare(panel, cfg)
    k = d.indicators.index("rtt")

    def with_spreads(spread_of_group):
        out = prepare(panel, cfg)
        for g in range(len(d.peer_groups)):
            rows = np.nonzero((d.g == g) & d.observed[:, k])[0]
            p = 1 / (1 + np.exp(-(0.3 + spread_of_group(g) * np.linspace(-1.7, 1.7, len(rows)))))
            out.y[rows, k] = np.round(p * out.n[rows, k])
        return out

    assert parameterisation(with_spreads(lambda g: np.exp(g - 2.5)), cfg)["scales_centred"]["quality"][k]
    assert not parameterisation(with_spreads(lambda g: 0.4), cfg)["scales_centred"]["quality"][k]
    t = parameterisation(d, cfg)["scale_table"]
    assert list(t.block.unique()) == ["quality", "cost"] and len(t) == len(d.indicators) + len(d.cost_outcomes)
    for mode, want in (("centred", True), ("non_centred", False)):
        c = load_config(overrides={"quality": {"scale_multipliers": mode}, "cost": {"scale_multipliers": mode}})
        r = parameterisation(d, c)["scales_centred"]
        assert (r["quality"] == want).all() and (r["cost"] == want).all()


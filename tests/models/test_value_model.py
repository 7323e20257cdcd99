"""Model building (no sampling): data preparation, peer groups from config, structure of the PyMC model."""

import numpy as np
import pytest

from analysis.synthetic import generate
from models.config import ConfigError, load_config
from models.value_model import build_model, peer_assignment, prepare


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
    assert m.initial_point()["theta_obs"].size == d.observed.sum() < d.N * len(d.indicators)
    assert not any(n.startswith("z") for n in free)


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
])
def test_config_validation(over, msg):
    with pytest.raises(ConfigError, match=msg):
        load_config(overrides=over)

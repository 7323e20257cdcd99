"""Prior sensitivity: power-scaling names the most sensitive element and ignores constant ones."""

import arviz as az
import numpy as np
import pytest
import xarray as xr
from scipy import stats

from analysis.validation import prior


def _ld(prior_sd_peer_b: float, seed: int = 0) -> az.InferenceData:
    """Two peer means: 'a' pinned by its data, 'b' barely informed, so its posterior follows its prior."""
    rng = np.random.default_rng(seed)
    C, D = 4, 500
    a = rng.normal(0.0, 0.05, (C, D))           # posterior of mu[a]: likelihood dominates
    b = rng.normal(0.0, prior_sd_peer_b, (C, D))  # posterior of mu[b]: the prior itself
    mu = np.stack([a, b], axis=-1)
    coords = {"chain": np.arange(C), "draw": np.arange(D), "peer": ["a", "b"], "indicator_": ["x", "y"]}
    corr = np.broadcast_to(np.eye(2), (C, D, 2, 2)).copy()
    corr[..., 0, 1] = corr[..., 1, 0] = np.tanh(rng.normal(0, 0.1, (C, D)))
    post = xr.Dataset({"mu": (("chain", "draw", "peer"), mu),
                       "corr": (("chain", "draw", "peer", "indicator_"), corr)}, coords=coords)
    # log prior: Normal(0, 1) on both; log likelihood: only mu[a] is informed
    lp = xr.Dataset({"mu": (("chain", "draw"), stats.norm.logpdf(mu, 0, 1).sum(-1))}, coords=coords)
    ll = xr.Dataset({"y": (("chain", "draw", "obs"), stats.norm.logpdf(0.0, a[..., None], 0.05)
                            * np.ones((1, 1, 3)))}, coords={**coords, "obs": np.arange(3)})
    return az.InferenceData(posterior=post, log_prior=lp, log_likelihood=ll)


def test_power_scaling_names_the_sensitive_element_and_skips_constants():
    ps = prior.power_scaling(_ld(prior_sd_peer_b=1.0))
    row = ps[(ps.prior_group == "peer means (mu)") & (ps.quantity == "mu")].iloc[0]
    assert row.most_sensitive == "mu[b]" and row.prior_sensitivity > 0.05
    assert row.n_sensitive == 1 and row.elements == 2
    c = ps[ps.quantity == "corr"].iloc[0]
    assert c.elements == 2  # the two off-diagonal elements; the constant diagonal is not counted
    assert "," in c.most_sensitive and c.most_sensitive.split("[")[1].split(",")[0] != \
        c.most_sensitive.split(", ")[1].rstrip("]")


@pytest.mark.parametrize("overrides", [{}, {"quality": {"correlation": "factor", "shmi_likelihood": "negbin",
                                                          "scale_multipliers": "centred"},
                                            "cost": {"scale_multipliers": "centred"}}])
def test_prior_groups_cover_every_hyperprior_of_the_model(overrides):
    """Power-scaling scales the priors named in PRIOR_GROUPS: each hyperparameter the model samples must be in one
    group (a renamed or reparameterised variable would otherwise drop out of the check silently)."""
    from analysis.synthetic import generate
    from analysis.validation.prior import PRIOR_GROUPS
    from models.config import load_config
    from models.value_model import build_model, prepare

    cfg = load_config(overrides=overrides)
    m = build_model(prepare(generate(4)[0], cfg), cfg)
    grouped = {v for members in PRIOR_GROUPS.values() for v in members}
    trust_level = {"theta_obs", "z"}  # the trust effects themselves, not hyperpriors
    assert {v.name for v in m.free_RVs} - trust_level <= grouped

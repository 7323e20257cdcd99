"""Constructed posteriors with known answers for the claims tests (no sampling)."""

import arviz as az
import numpy as np
import pytest

from analysis import claims as C
from analysis.synthetic import generate
from models.config import load_config
from models.value_model import prepare


def _panel(seed=5):
    panel, *_ = generate(seed)
    panel = panel.copy()
    # give one small trust Barnsley's code so claim 5 is testable
    i = panel.index[panel.size_class == "small"][0]
    panel.loc[i, ["org_code", "org_name"]] = ["RFF", "BARNSLEY HOSPITAL NHS FOUNDATION TRUST"]
    return panel


def _fake_idata(d, S=200, seed=0, worse_large=0.0, best=None):
    """A posterior with known structure.

    Every trust's cost expectation is its own log cost index (residual 0) unless ``worse_large`` > 0, when the
    13 largest non-specialist trusts (by NCC actual cost) carry that much extra log cost over a need-free
    expectation; ``best`` (a trust index) gets a value index far above every other trust.
    """
    rng = np.random.default_rng(seed)
    N, K, J = d.N, len(d.indicators), len(d.cost_outcomes)
    P = d.x.shape[1]
    jit = lambda shape, s=1e-3: rng.normal(0, s, shape)
    u = np.tile(0.05 * np.linspace(-1, 1, N)[:, None], (1, K))
    if best is not None:
        u[best] = [-1.0 if ind == "shmi" else 1.0 for ind in d.indicators]
    u = np.where(d.observed, u, np.nan)
    theta = np.where(d.observed, np.log(np.where(d.observed, d.y, 1) / np.where(d.observed, d.n, 1)), np.nan)
    cost_y = np.where(np.isnan(d.cost_y), 0.0, d.cost_y)
    cost_exp = cost_y.copy()
    if worse_large:
        eligible = (d.trusts.size_class != "specialist").to_numpy()
        large = C.largest(d.cost_actual[:, 0], eligible, 13)
        cost_exp[large] -= worse_large  # large trusts' cost is above expectation
    post = {"u": u[None, None] + jit((1, S, N, K)), "theta": theta[None, None] + jit((1, S, N, K)),
            "sd0": np.full((1, S, K), 0.1), "sd0_c": np.full((1, S, J), 0.1),
            "cost_expectation": cost_exp[None, None] + jit((1, S, N, J)),
            "beta_c": jit((1, S, J, P), 1e-4), "beta": jit((1, S, K, P), 1e-4)}
    dims = {"u": ["trust", "indicator"], "theta": ["trust", "indicator"], "cost_expectation": ["trust", "cost_outcome"],
            "beta_c": ["cost_outcome", "need"], "beta": ["indicator", "need"]}
    idata = az.from_dict(posterior=post, dims=dims, coords=d.coords())
    idata.attrs["svi_model_id"] = "fake"
    return idata


@pytest.fixture(scope="module")
def base_setup():
    panel = _panel()
    cfg = load_config()
    d = prepare(panel, cfg)
    return panel, cfg, d



def _draws(d, cfg, name="base", **kw):
    return C.draws_from_idata(_fake_idata(d, **kw), d, cfg, name)


"""The dynamic model's log density and gradient against stored values.

Speed-ups of ``models/trend_model.py`` (the Kalman filter, the graph around it) must leave the posterior unchanged:
the log density and its gradient, at fixed points of the sampler's (unconstrained) space, must equal the values
stored in ``tests/fixtures/trend_logp_reference.json`` to 1e-8 relative.  The file was written by the model before
the sixth-session speed-ups (commit 9808ce5) with ``python -m tests.analysis.trend.test_trend_logp_reference``;
regenerate it only for a change that is meant to change the model, and say so in the commit.

The panels are synthetic but laid out like the real one: an indicator observed from the first year with two years
missing in the middle (A&E), indicators starting late (RTT with a series break, cancer), one observed in the last
year alone (SHMI), need covariates, trust-years missing at random.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

FIXTURE = Path(__file__).parents[2] / "fixtures" / "trend_logp_reference.json"
YEARS = list(range(2016, 2026))
#: model options evaluated: the default and every option behind config at once
OPTIONS = {"default": {},
           "options_on": {"priors": {"national_step_df": 4.0, "volatility_step": 0.3, "peer_steps": True}}}


def _data(cfg: dict):
    from analysis.trend.synthetic import draw_truth, simulate, template

    inds = ("rtt", "ae", "cancer_fds", "shmi")
    d = template(n_trusts=40, years=YEARS, indicators=inds, first_year={"rtt": 2022, "cancer_fds": 2022, "shmi": 2025},
                 seed=11, cfg=cfg)
    d.n[:, 1, 3:5] = np.nan  # A&E: two years without data in the middle (as 2019/20-2020/21 on the real panel)
    rng = np.random.default_rng(12)
    d, _ = simulate(d, draw_truth(d, cfg, rng, from_prior=False), rng)
    return d


def _model(name: str):
    from models.trend_model import build_model, load_trend_config

    cfg = load_trend_config(overrides={"indicators": {"use": ["rtt", "ae", "cancer_fds", "shmi"]}, **OPTIONS[name]})
    return build_model(_data(cfg), cfg)


def _points(model, n: int = 4) -> list[dict]:
    rng = np.random.default_rng(5)
    ip = model.initial_point()
    return [{k: (v + 0.3 * rng.standard_normal(np.shape(v))).tolist() for k, v in ip.items()} for _ in range(n)]


def _evaluate(model, points: list[dict]) -> list[dict]:
    """Log density and gradient as numpyro sees them: JAX's autodiff of the jaxified log density (nutpie and PyMC's
    NUTS differentiate the same graph symbolically)."""
    import jax
    from pymc.sampling.jax import get_jaxified_logp

    jax.config.update("jax_enable_x64", True)
    names = [v.name for v in model.value_vars]
    vg = jax.jit(jax.value_and_grad(get_jaxified_logp(model, negative_logp=False)))  # numpyro's potential: -logp
    out = []
    for p in points:
        v, g = vg([np.asarray(p[n], float) for n in names])
        out.append({"logp": -float(v), "grad": {n: (-np.asarray(gi)).ravel().tolist() for n, gi in zip(names, g)}})
    return out


def write_reference() -> None:
    ref = {}
    for name in OPTIONS:
        model = _model(name)
        pts = _points(model)
        ref[name] = {"points": pts, "values": _evaluate(model, pts)}
    FIXTURE.write_text(json.dumps(ref))


def _close(got, want, what):
    got, want = np.asarray(got, float), np.asarray(want, float)
    scale = max(np.abs(want).max(), 1e-300)
    assert np.allclose(got, want, rtol=1e-8, atol=1e-8 * scale), (what, np.abs(got - want).max() / scale)


@pytest.mark.parametrize("name", list(OPTIONS))
def test_log_density_and_gradient_equal_the_stored_reference(name):
    ref = json.loads(FIXTURE.read_text())[name]
    model = _model(name)
    assert sorted(ref["points"][0]) == sorted(model.initial_point()), "the sampled variables changed"
    got = _evaluate(model, ref["points"])
    for g, w in zip(got, ref["values"]):
        _close(g["logp"], w["logp"], f"{name} logp")
        for var in w["grad"]:
            _close(g["grad"][var], w["grad"][var], f"{name} gradient of {var}")


if __name__ == "__main__":
    write_reference()

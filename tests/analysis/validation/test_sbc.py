"""Simulation-based calibration: prior draws, the simulator, rank statistics, and a small-N run."""

import numpy as np
import pandas as pd
import pytest

from analysis.sweeps import SweepError
from analysis.validation import sbc
from models.value_model import build_model
from tests.small_model import SMALL


@pytest.fixture(scope="module")
def model_and_data(synthetic_compiled):
    s = synthetic_compiled
    return build_model(s["data"], s["cfg"]), s["data"], s["cfg"]


def test_prior_draws_come_from_the_models_priors(model_and_data):
    model, d, cfg = model_and_data
    draws = sbc.draw_prior(model, 1000, seed=3)
    sd0 = np.array([p["sd0"] for p in draws])
    mu = np.array([p["mu"] for p in draws])
    # each indicator's reference scale s (config [priors]): sd0 ~ HalfNormal(s), mean s sqrt(2/pi);
    # peer means ~ Normal(centre, s)
    s = np.array([cfg["priors"]["quality_scale"][k] for k in d.indicators])
    np.testing.assert_allclose(sd0.mean(axis=0), s * np.sqrt(2 / np.pi), rtol=0.1)
    np.testing.assert_allclose(mu.std(axis=0).mean(axis=0), s, rtol=0.1)
    corr = np.array([p["corr"] for p in draws])
    assert np.allclose(np.diagonal(corr, axis1=1, axis2=2), 1.0)


def test_simulated_data_keep_the_panel_structure(model_and_data):
    model, d, _ = model_and_data
    prior = sbc.draw_prior(model, 1, seed=4)[0]
    sim = sbc.simulate_data(d, prior, np.random.default_rng(0))
    assert np.array_equal(np.isnan(sim["y"]), ~d.observed)
    assert np.array_equal(np.isnan(sim["cost_y"]), np.isnan(d.cost_y))
    ok = d.observed
    assert (sim["y"][ok] >= 0).all() and (sim["y"][ok] == np.round(sim["y"][ok])).all()
    k = d.indicators.index("rtt")
    assert (sim["y"][ok[:, k], k] <= d.n[ok[:, k], k]).all()
    up = sbc.data_updates(d, sim)
    assert set(up) == {f"y_{i}" for i in d.indicators} | {f"y_cost_{o}" for o in d.cost_outcomes}


def test_rank_of_truth_among_draws(model_and_data):
    _, d, _ = model_and_data
    draws = {"sd0": np.linspace(0, 1, 1000)[:, None] * np.ones(4)}
    r = sbc.ranks_of({"sd0": np.array([0.5, -1.0, 2.0, 0.25])}, draws, d, L=99)
    assert r["rank"].tolist()[1:] == [0, 99, 25]
    assert 48 <= r["rank"].iloc[0] <= 51


def test_uniformity_test_separates_uniform_from_biased_ranks():
    rng = np.random.default_rng(0)
    good = pd.DataFrame({"parameter": "a", "element": "a", "rank": rng.integers(0, 100, 400)})
    bad = pd.DataFrame({"parameter": "b", "element": "b", "rank": np.clip(rng.normal(20, 10, 400), 0, 99).astype(int)})
    u = sbc.uniformity(pd.concat([good, bad]))
    v = sbc.verdict(u)
    assert v["failing"] == ["b"] and not v["passed"]
    assert sbc.verdict(sbc.uniformity(good))["passed"]


def test_small_sbc_run(synthetic_compiled):
    """Two replications with short chains: the machinery end to end, and no gross miscalibration.

    A sign or indexing error in the simulator puts the truth outside the posterior: ranks pile up at 0 and L.
    """
    from analysis.fitting import compile_model
    from models.config import merge
    from models.value_model import prepare

    # the small model (tests/small_model.py); the full model's SBC is `svi validate`'s (benchmarks/RESULTS.md)
    cfg = merge(synthetic_compiled["cfg"], {"sampler": {"chains": 2, "tune": 150, "draws": 150}, **SMALL})
    d = prepare(synthetic_compiled["panel"], cfg)
    model = build_model(d, cfg)
    ranks, diag = sbc.run_sbc(d, model, compile_model(model, cfg), cfg, reps=2, seed=11, progress=False)
    assert len(diag) == 2 and ranks["rank"].between(0, 99).all()
    assert set(ranks.parameter) >= {"mu", "beta", "sd0", "corr", "mu_c", "beta_c", "nu_c", "u"}
    extreme = ranks["rank"].isin([0, 99]).mean()
    assert extreme < 0.15, extreme


def test_finished_replications_are_resumed_from_the_checkpoint(model_and_data, tmp_path):
    """Replications already in the checkpoint are not sampled again (compiled=None would fail if they were)."""
    model, d, cfg = model_and_data
    ranks = pd.DataFrame({"rep": [0, 0, 1, 1], "parameter": "sd0", "element": ["sd0[0]", "sd0[1]"] * 2,
                          "rank": [3, 40, 77, 12]})
    diag = pd.DataFrame({"rep": [0, 1], "seconds": 1.0, "divergences": 0})
    ranks.to_csv(tmp_path / "ranks.csv", index=False)
    diag.to_csv(tmp_path / "replications.csv", index=False)
    lines = []
    r, dg = sbc.run_sbc(d, model, None, cfg, reps=2, seed=1, progress=False, echo=lines.append, checkpoint=tmp_path)
    assert r["rank"].tolist() == [3, 40, 77, 12] and dg.rep.tolist() == [0, 1]
    assert "reusing 2 finished replications" in lines[0]


def test_a_pymc_models_data_are_restored_after_sbc(model_and_data, monkeypatch):
    """PyMC and numpyro refit the model itself with simulated data set in place: the panel's data come back, even
    when a replication fails."""
    import analysis.fitting as fitting

    model, d, cfg = model_and_data
    before = {k: model[k].get_value().copy() for k in ("y_shmi", "y_cost_total")}
    seen = {}

    def failing_sample(m, cfg, seed=None, progress=False):
        seen["y_shmi"] = m["y_shmi"].get_value().copy()
        raise RuntimeError("sampler stopped")

    monkeypatch.setattr(fitting, "sample", failing_sample)
    with pytest.raises(SweepError, match="sampler stopped"):  # retried once, then reported
        sbc.run_sbc(d, model, model, cfg, reps=1, seed=5, progress=False)
    assert not np.array_equal(seen["y_shmi"], before["y_shmi"])  # the replication saw simulated data
    for k, v in before.items():
        np.testing.assert_array_equal(model[k].get_value(), v)

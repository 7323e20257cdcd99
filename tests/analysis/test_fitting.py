"""Fitting machinery: the convergence gate, model ids, saved-fit mismatch errors, seeded reproducibility."""

import json

import arviz as az
import numpy as np
import pytest

from analysis.errors import FitMismatchError
from analysis.fitting import (compile_model, convergence_gate, load_fit, model_id, posterior_hash, sample, save_fit,
                              stamp)
from analysis.synthetic import generate
from models.config import load_config, merge
from models.value_model import build_model, parameterisation, prepare
from tests.small_model import SMALL


def _idata(post, diverging=None):
    ss = {"diverging": diverging} if diverging is not None else {}
    return az.from_dict(posterior=post, sample_stats=ss)


def test_gate_passes_well_mixed_draws():
    rng = np.random.default_rng(0)
    idata = _idata({"mu": rng.normal(size=(4, 1000, 3)), "sd0": np.abs(rng.normal(size=(4, 1000, 2)))},
                   np.zeros((4, 1000), bool))
    g = convergence_gate(idata, load_config())
    assert g.passed and g.max_rhat < 1.01 and not g.failing


def test_gate_names_a_stuck_chain():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(4, 1000, 3))
    mu[0, :, 1] += 3  # one chain elsewhere for one element
    g = convergence_gate(_idata({"mu": mu}, np.zeros((4, 1000), bool)), load_config())
    assert not g.passed and g.failing == ["mu[1]"] and "NOT publishable" in g.text()


def test_gate_refuses_fit_without_divergence_information():
    rng = np.random.default_rng(0)
    g = convergence_gate(_idata({"mu": rng.normal(size=(4, 1000, 3))}), load_config())
    assert not g.passed and "divergence information missing" in g.failing[-1]


def test_gate_fails_on_divergences_and_low_ess():
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.normal(size=(4, 1000)), axis=1) * 0.01  # highly autocorrelated
    div = np.zeros((4, 1000), bool)
    div[1, 5] = True
    g = convergence_gate(_idata({"nu_c": walk}, div), load_config())
    assert not g.passed and g.divergences == 1 and "nu_c" in g.failing


def test_gate_ignores_constant_elements():
    rng = np.random.default_rng(1)
    corr = np.ones((4, 500, 2, 2))
    corr[..., 0, 1] = corr[..., 1, 0] = np.tanh(rng.normal(size=(4, 500)))
    cfg = load_config(overrides={"gate": {"ess_bulk_min": 100, "ess_tail_min": 100}})
    g = convergence_gate(_idata({"corr": corr}, np.zeros((4, 500), bool)), cfg)
    assert g.passed and np.isfinite(g.max_rhat)


def test_model_id_tracks_config_and_data():
    panel, *_ = generate(1)
    cfg = load_config()
    base = model_id(panel, cfg)
    assert model_id(panel, load_config()) == base
    assert model_id(panel, load_config(overrides={"quality": {"correlation": "factor"}})) != base
    assert model_id(generate(2)[0], cfg) != base
    # summary-only settings do not change the posterior, so they do not change the id
    assert model_id(panel, load_config(overrides={"benchmark": {"cost": "peer_best_quartile"}})) == base


@pytest.fixture(scope="module")
def small_fit(synthetic_compiled):
    """One compiled model (the small one: tests/small_model.py) sampled briefly, twice with one seed and once with
    another."""
    panel = synthetic_compiled["panel"]
    cfg = load_config(overrides={"sampler": {"draws": 60, "tune": 60, "chains": 2}, **SMALL})
    compiled = compile_model(build_model(prepare(panel, cfg), cfg), cfg)
    a, b = sample(compiled, cfg, seed=11), sample(compiled, cfg, seed=11)
    c = sample(compiled, cfg, seed=12)
    stamp(a, panel, cfg)
    return panel, cfg, a, b, c


def test_seeded_sampling_is_bit_for_bit(small_fit):
    """Same machine, same seed: identical draws of every variable (one hash over the whole posterior)."""
    _, _, a, b, c = small_fit
    for v in ("mu", "u", "beta_c"):
        np.testing.assert_array_equal(a.posterior[v].values, b.posterior[v].values)
    assert not np.array_equal(a.posterior["mu"].values, c.posterior["mu"].values)
    assert posterior_hash(a) == posterior_hash(b) != posterior_hash(c)
    assert a.attrs["svi_posterior_hash"] == posterior_hash(a)
    flipped = b.copy()
    flipped.posterior["nu_c"].values[0, 0] += 1e-12  # one draw changed in the last bits
    assert posterior_hash(flipped) != posterior_hash(a)


def _fake_sampler(results):
    """A stand-in for ``fitting.sample`` returning prepared draws: (divergences, stuck chain) per call."""
    calls = []

    def fake(model, cfg, seed=None, progress=False):
        div_n, stuck = results[len(calls)]
        calls.append(cfg["sampler"]["target_accept"])
        rng = np.random.default_rng(len(calls))
        mu = rng.normal(size=(4, 1000, 3))
        if stuck:
            mu[0, :, 1] += 3
        div = np.zeros((4, 1000), bool)
        div[1, :div_n] = True
        idata = _idata({"mu": mu}, div)
        idata.attrs.update(svi_sampling_seconds=1.0, svi_compile_seconds=0.0)
        return idata

    return fake, calls


@pytest.mark.parametrize("results, want_calls, passed", [
    ([(2, False), (0, False)], [0.9, 0.97], True),      # divergences only: refitted once, passes
    ([(2, False), (1, False)], [0.9, 0.97], False),     # still divergent after the refit: not publishable
    ([(2, True)], [0.9], False),                        # R-hat fails too: not refitted
    ([(0, False)], [0.9], True),                        # passes first time: one attempt
])
def test_fit_refits_once_when_only_divergences_fail(monkeypatch, results, want_calls, passed):
    from analysis import fitting
    from analysis.fitinfo import attempts, attempts_text

    fake, calls = _fake_sampler(results)
    monkeypatch.setattr(fitting, "sample", fake)
    panel, *_ = generate(3)
    cfg = load_config(overrides={"sampler": {"target_accept": 0.9, "retry_target_accept": 0.97}})
    said = []
    idata, _, gate = fitting.fit(panel, cfg, echo=said.append)
    assert calls == want_calls and gate.passed == passed
    att = attempts(idata.attrs)
    assert [a["target_accept"] for a in att] == want_calls
    assert fitting.gate_record(gate, idata)["attempts"] == att
    assert idata.attrs["svi_model_id"] == model_id(panel, cfg)  # the configured procedure, retry included
    # the parameterisation used is on record: which cells' trust effects and which outcomes' multipliers
    param = parameterisation(prepare(panel, cfg), cfg)
    assert idata.attrs["svi_centred_scales"] == ";".join(
        f"{r.block} {r.outcome}" for r in param["scale_table"].itertuples() if r.parameterisation == "centred")
    assert all(("divergences_at" in a) == (a["divergences"] > 0) for a in att)
    if att[0]["divergences"]:
        assert att[0]["divergences_at"].startswith(f"{att[0]['divergences']} divergent draw(s) of 4,000")
    if len(want_calls) == 2:
        assert any("refitting once at target_accept 0.97" in s for s in said)
        assert "refitted with the same seed at target acceptance 0.97" in attempts_text(idata.attrs)
    else:
        assert attempts_text(idata.attrs) == ""


def test_saved_fit_roundtrip_and_mismatch(small_fit, tmp_path):
    panel, cfg, a, *_ = small_fit
    path = save_fit(a, tmp_path / "fit" / "posterior.nc")
    back = load_fit(path, panel, cfg)
    np.testing.assert_array_equal(back.posterior["mu"].values, a.posterior["mu"].values)
    with pytest.raises(FitMismatchError, match="the panel differs"):
        load_fit(path, generate(4)[0], cfg)
    with pytest.raises(FitMismatchError, match="model config differs"):
        load_fit(path, panel, merge(cfg, {"quality": {"lkj_eta": 4.0}}))
    # a fit saved by an older version whose config lacks a section (here: no [priors]) is a mismatch, not a crash
    old = a.copy()
    saved = json.loads(old.attrs["svi_config"])
    del saved["priors"]
    old.attrs.update(svi_config=json.dumps(saved), svi_model_id="0" * 16)
    with pytest.raises(FitMismatchError, match="model config differs"):
        load_fit(save_fit(old, tmp_path / "old" / "posterior.nc"), panel, cfg)


@pytest.mark.parametrize("env, want", [({}, 8), ({"XLA_FLAGS": "--xla_force_host_platform_device_count=3"}, 3)])
def test_numpyro_chains_get_one_device_each(env, want):
    """jax starts with one CPU device, on which numpyro draws chains one after another; before jax starts, fitting
    asks for enough devices for every chain, unless the user has set the count."""
    import os
    import subprocess
    import sys

    code = "from analysis.fitting import jax_host_devices; print(jax_host_devices(4))"
    base = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True, check=True)
    assert int(out.stdout.split()[-1]) == want


@pytest.mark.parametrize("damage", ["missing", "truncated", "not netcdf", "no posterior"])
def test_unreadable_saved_fit_names_the_file(tmp_path, damage):
    """Issue 13, class 6: 'OSError: truncated file' without the file's path."""
    from analysis.errors import SVIError

    path = tmp_path / "res" / "fit" / "posterior.nc"
    if damage != "missing":
        groups = {"posterior": {"a": np.zeros((2, 50))}} if damage != "no posterior" else {}
        save_fit(az.from_dict(**groups) if groups else az.from_dict(observed_data={"y": np.zeros(3)}), path)
        if damage == "truncated":
            path.write_bytes(path.read_bytes()[:3000])
        elif damage == "not netcdf":
            path.write_text("hello")
    with pytest.raises(SVIError) as e:
        load_fit(path)
    assert str(path) in str(e.value) and f"svi fit --out {tmp_path / 'res'}" in str(e.value)

"""Recovery and a small SBC of the dynamic model on synthetic panels drawn from its own structure (slow: fits)."""

import numpy as np
import pytest

from analysis.trend.fit import fit_data
from analysis.trend.synthetic import draw_truth, simulate, template
from models.trend_model import load_trend_config

SHORT = {"sampler": {"chains": 4, "tune": 500, "draws": 1000}}  # the default: 500 draws left tau tail ESS 285


@pytest.mark.slow
def test_recovery_of_persistence_scales_and_states():
    cfg = load_trend_config(overrides=SHORT)
    d0 = template(n_trusts=60, years=(2019, 2020, 2021, 2022, 2023), indicators=("rtt", "ae"), seed=11, cfg=cfg)
    rng = np.random.default_rng(12)
    truth = draw_truth(d0, cfg, rng, from_prior=False)
    d, u_true = simulate(d0, truth, rng, counts=True)  # binomial counts: also tests the logit-normal likelihood
    idata, gate, st = fit_data(d, cfg, seed=13, echo=lambda *a: None)
    assert gate.passed, gate.text()
    post = idata.posterior
    for name in ("sigma", "rho", "tau"):
        draws = post[name].values.reshape(-1, post[name].shape[-1])
        lo, hi = np.quantile(draws, [0.005, 0.995], axis=0)
        want = truth[name][: draws.shape[1]]
        assert np.all((want >= lo) & (want <= hi)), (name, want, lo, hi)
    lo, hi = np.quantile(st["u"], [0.05, 0.95], axis=0)
    obs = d.obs
    cover = ((u_true >= lo) & (u_true <= hi))[obs].mean()
    assert 0.84 <= cover <= 0.96, cover


@pytest.mark.slow
def test_small_sbc_ranks_uniform():
    """Ranks of the true sigma, rho and tau among thinned posterior draws, over replications drawn from the
    priors: uniform if model, sampler and state draws are right (chi-square over 5 bins per parameter)."""
    from scipy import stats

    cfg = load_trend_config(overrides={"sampler": {"chains": 2, "tune": 300, "draws": 400}})
    d0 = template(n_trusts=30, years=(2020, 2021, 2022, 2023), indicators=("rtt",), seed=21, cfg=cfg)
    reps, L = 30, 99
    ranks = {"sigma": [], "rho": [], "tau": [], "u": []}
    for r in range(reps):
        rng = np.random.default_rng(1000 + r)
        truth = draw_truth(d0, cfg, rng, from_prior=True)
        d, u_true = simulate(d0, truth, rng, counts=False)
        idata, gate, st = fit_data(d, cfg, seed=2000 + r, echo=lambda *a: None, retry=False)
        post = idata.posterior
        for name in ("sigma", "rho", "tau"):
            dr = post[name].values.reshape(-1)
            dr = dr[np.linspace(0, len(dr) - 1, L).astype(int)]
            ranks[name].append(int((dr < truth[name][0]).sum()))
        dr = st["u"][np.linspace(0, st["u"].shape[0] - 1, L).astype(int), 0, 0, -1]
        ranks["u"].append(int((dr < u_true[0, 0, -1]).sum()))
    for name, rk in ranks.items():
        counts = np.histogram(rk, bins=5, range=(0, L + 1))[0]
        assert stats.chisquare(counts).pvalue > 0.001, (name, counts)

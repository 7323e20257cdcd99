"""Summaries tested on constructed posteriors with known answers (no sampling)."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import arviz as az

from analysis.summaries import (dirichlet_weights, peer_quantile, rank_draws, rank_summary, summarise,
                                trapped_value)
from analysis.summaries.posterior import composites
from analysis.synthetic import generate
from models.config import load_config
from models.value_model import prepare


def test_rank_draws_best_is_one_and_groups():
    score = np.array([[3.0, 1.0, 2.0, 5.0], [1.0, 3.0, 2.0, 0.0]])
    assert rank_draws(score).tolist() == [[2, 4, 3, 1], [3, 1, 2, 4]]
    r = rank_draws(score, np.array([0, 0, 1, 1]))
    assert r.tolist() == [[1, 2, 2, 1], [2, 1, 1, 2]]


def test_rank_draws_nan_trust_unranked():
    score = np.array([[3.0, np.nan, 1.0]])
    r = rank_draws(score)
    assert r[0, 0] == 1 and r[0, 2] == 2 and np.isnan(r[0, 1])


def test_rank_summary_certain_ranking():
    ranks = np.tile(np.arange(1, 9), (100, 1)).astype(float)
    s = rank_summary(ranks)
    assert s.rank_median.tolist() == list(range(1, 9))
    assert s.p_top_quartile.tolist() == [1, 1, 0, 0, 0, 0, 0, 0]
    assert s.p_bottom_quartile.tolist() == [0, 0, 0, 0, 0, 0, 1, 1]
    assert s.sucra.iloc[0] == 1 and s.sucra.iloc[-1] == 0


def test_rank_summary_exchangeable_trusts():
    rng = np.random.default_rng(0)
    ranks = np.array([rng.permutation(8) + 1 for _ in range(4000)], float)
    s = rank_summary(ranks)
    assert np.allclose(s.sucra, 0.5, atol=0.03) and np.allclose(s.p_top_quartile, 0.25, atol=0.03)


def test_trapped_value_formula():
    actual = np.array([100.0, 100.0])
    resid = np.array([[np.log(1.25), -0.1]])
    bench = np.zeros((1, 2))
    tv = trapped_value(actual, resid, bench)
    assert tv[0, 0] == pytest.approx(20.0)  # cost 25% above benchmark: 100 - 100/1.25
    assert tv[0, 1] == 0.0  # already below its benchmark: nothing released


def test_peer_quantile():
    v = np.array([[1.0, 2.0, 3.0, 10.0, 20.0]])
    g = np.array([0, 0, 0, 1, 1])
    assert peer_quantile(v, g, 0.5).tolist() == [[2, 2, 2, 15, 15]]


def test_dirichlet_weights():
    fixed = dirichlet_weights([1, 1, 2], 0, 5, 1)
    assert np.allclose(fixed, [0.25, 0.25, 0.5])
    w = dirichlet_weights([1, 1, 2], 50, 20000, 1)
    assert np.allclose(w.sum(1), 1) and np.allclose(w.mean(0), [0.25, 0.25, 0.5], atol=0.01)
    assert w.std(0).min() > 0


def _fake_idata(d, S=200, seed=0):
    """A posterior where every trust's effect is exactly its true effect (tiny jitter)."""
    rng = np.random.default_rng(seed)
    N, K, J = d.N, len(d.indicators), len(d.cost_outcomes)
    # effects improve with trust index on every indicator (SHMI: lower is better)
    u = np.tile(0.1 * np.arange(N)[:, None] / N, (1, K))
    u[:, 0] *= -1
    theta = np.log(np.where(d.observed, d.y, 1) / np.where(d.observed, d.n, 1))
    theta[:, 0] = np.log(np.nanmean(d.y[:, 0] / d.n[:, 0])) + u[:, 0]
    jit = lambda shape: rng.normal(0, 1e-4, shape)
    cost_exp = np.where(np.isnan(d.cost_y), 0, d.cost_y) - 0.05  # every trust 5% above expectation
    post = {"u": u[None, None] + jit((1, S, N, K)), "theta": theta[None, None] + jit((1, S, N, K)),
            "sd0": np.full((1, S, K), 0.1), "sd0_c": np.full((1, S, J), 0.1),
            "cost_expectation": cost_exp[None, None] + jit((1, S, N, J)),
            "sigma": np.full((1, S, len(d.peer_groups), K), 0.1)}
    return az.from_dict(posterior=post, dims={"u": ["trust", "indicator"], "theta": ["trust", "indicator"],
                                              "cost_expectation": ["trust", "cost_outcome"]})


@pytest.fixture(scope="module")
def tables():
    panel, *_ = generate(5)
    cfg = load_config()
    d = prepare(panel, cfg)
    return summarise(_fake_idata(d), d, cfg), d, cfg


def test_tables_have_every_trust_and_intervals(tables):
    t, d, _ = tables
    for name in ("trust_effects", "health_alpha", "value_index", "ranks", "trapped_value", "avoidable_deaths"):
        assert name in t
        tab = t[name]
        assert set(d.trusts.org_code) <= set(tab.org_code)
    ha = t["health_alpha"].dropna(subset=["mean"])
    assert (ha.lo95 <= ha["median"]).all() and (ha["median"] <= ha.hi95).all()
    assert (ha.lo95 <= ha.lo80).all() and (ha.hi80 <= ha.hi95).all()


def test_missing_indicator_is_not_imputed(tables):
    t, d, _ = tables
    te = t["trust_effects"]
    spec = d.trusts.org_code[d.trusts.size_class == "specialist"]
    shmi = te[(te.indicator == "shmi") & te.org_code.isin(spec)]
    assert len(shmi) == len(spec) and shmi["mean"].isna().all() and (~shmi.observed).all()


def test_shmi_ratio_and_avoidable_deaths(tables):
    t, d, _ = tables
    ha = t["health_alpha"]
    r = ha[(ha.measure == "shmi_ratio_to_expected")].dropna(subset=["mean"])
    assert np.allclose(r["median"], np.exp(-0.1 * np.arange(d.N) / d.N)[d.observed[:, 0]], atol=1e-3)
    ad = t["avoidable_deaths"]
    eng = ad[ad.org_code == "ENGLAND"].iloc[0]
    per = ad[ad.org_code != "ENGLAND"]["median"].sum()
    assert eng["median"] == pytest.approx(per, rel=1e-2)
    assert (ad["median"].dropna() >= 0).all()


def test_trapped_value_uniform_excess_is_zero_at_peer_median(tables):
    """Every trust 5% above its expectation: the peer median benchmark absorbs it, so nothing is trapped."""
    t, d, _ = tables
    tv = t["trapped_value"]
    eng = tv[tv.org_code == "ENGLAND"].set_index("setting")["mean"]
    total_actual = np.nansum(d.cost_actual, axis=0)
    # only the posterior jitter (1e-4 on the log scale) can be trapped
    assert (eng[d.cost_outcomes].to_numpy() < 1e-3 * total_actual).all()
    assert eng["gross"] < 1e-3 * total_actual.sum()


def test_ranks_follow_the_composite(tables):
    t, d, _ = tables
    vi = t["value_index"]
    v = vi[vi.measure == "value_index"].set_index("org_code")["median"]
    rk = t["ranks"]
    nat = rk[rk.scope == "national"].set_index("org_code")
    best = v.idxmax()
    assert nat.loc[best, "rank_median"] == 1 and nat.loc[best, "p_top_quartile"] == 1
    from scipy.stats import spearmanr
    ranked = nat.rank_median.dropna().index
    assert spearmanr(v[ranked], nat.loc[ranked, "rank_median"]).statistic < -0.95
    assert set(rk.scope) == {"national", "peer group", "region"}


def test_groups_without_an_indicator_are_not_ranked_nationally(tables):
    """The specialist group reports no SHMI: its trusts have a peer-group rank but no national or regional one, and
    the national ranks run 1..n over the other trusts only."""
    t, d, _ = tables
    rk = t["ranks"]
    k = d.indicators.index("shmi")
    no_shmi = [g for g in np.unique(d.g) if not d.observed[d.g == g, k].any()]
    assert no_shmi, "the synthetic panel should have a group without SHMI"
    out = d.trusts.org_code[np.isin(d.g, no_shmi)]
    nat = rk[rk.scope == "national"].set_index("org_code")
    assert nat.loc[out, "rank_median"].isna().all()
    assert rk[(rk.scope == "region") & rk.org_code.isin(out)].rank_median.isna().all()
    assert rk[(rk.scope == "peer group") & rk.org_code.isin(out)].rank_median.notna().all()
    n_in = int((~np.isin(d.g, no_shmi)).sum())
    assert nat.n_ranked.max() == n_in and nat.rank_hi95.max() <= n_in


def test_value_drivers_add_up_to_the_value_index():
    """Each trust's parts (indicators and cost) add up to its value index in every draw; weights sum to 1."""
    from analysis.summaries.posterior import composites, driver_draws, driver_weights

    panel, *_ = generate(5)
    cfg = load_config(overrides={"value": {"dirichlet_concentration": 50}})  # weights vary by draw
    d = prepare(panel, cfg)
    rng = np.random.default_rng(3)
    idata = _fake_idata(d)
    idata.posterior["u"] = idata.posterior["u"] + rng.normal(0, 0.05, idata.posterior["u"].shape)
    c = composites(idata.posterior, d, cfg)
    dr, w = driver_draws(c), driver_weights(c)
    has = ~np.isnan(c.value).all(0)
    assert np.allclose(np.nansum(dr, -1)[:, has], c.value[:, has])
    assert np.allclose(np.nansum(w, -1)[:, has], 1.0)
    k = d.indicators.index("shmi")
    assert np.isnan(dr[:, ~d.observed[:, k], k]).all()  # a trust without SHMI: no SHMI part
    t = summarise(idata, d, cfg)["value_drivers"]
    assert set(t.part) == set(d.indicators) | {"cost"}
    one = t[t.org_code == d.trusts.org_code.iloc[0]].set_index("part")
    assert one.loc["cost", "median"] == pytest.approx(np.median(dr[:, 0, -1]))


def test_quality_per_1000_spent(tables):
    """Every trust 5% above its need-adjusted expected cost, quality log-ratio 0.1 i/N on every indicator."""
    t, d, _ = tables
    vi = t["value_index"]
    q = vi[vi.measure == "quality_per_1000"].set_index("org_code").loc[d.trusts.org_code]
    i = np.arange(d.N)
    expected = 1000 * np.exp(0.1 * i / d.N - 0.05)
    has = d.observed.any(axis=1)
    assert np.allclose(q["median"].to_numpy()[has], expected[has], rtol=1e-3)
    assert q["median"].iloc[0] < 1000 < q["median"].iloc[-1]


def test_peer_composites_divide_by_the_groups_own_scale(tables):
    """The chart's composites: each trust's effects over its own peer group's scale (sigma[g], sigma_c[g]); a
    group whose scale doubles has its peer composites halved, other groups and the value index unchanged."""
    _, d, cfg = tables
    idata = _fake_idata(d)
    post = idata.posterior
    G, J = len(d.peer_groups), len(d.cost_outcomes)
    post["sigma_c"] = (("chain", "draw", "peer", "cost_outcome"), np.full((1, post.sizes["draw"], G, J), 0.1))
    a = composites(post, d, cfg)
    # equal scales everywhere: the peer composites are the national ones
    np.testing.assert_allclose(a.quality_peer, a.quality, equal_nan=True)
    np.testing.assert_allclose(a.cost_peer, a.cost, equal_nan=True)
    g = d.peer_groups.index("specialist")
    post["sigma"][:, :, g, :] = 0.2
    post["sigma_c"][:, :, g, :] = 0.4
    b = composites(post, d, cfg)
    spec = d.g == g
    np.testing.assert_allclose(b.quality_peer[:, spec], a.quality_peer[:, spec] / 2, equal_nan=True)
    np.testing.assert_allclose(b.cost_peer[:, spec], a.cost_peer[:, spec] / 4, equal_nan=True)
    np.testing.assert_allclose(b.quality_peer[:, ~spec], a.quality_peer[:, ~spec], equal_nan=True)
    np.testing.assert_allclose(b.value, a.value, equal_nan=True)


def test_value_table_has_the_peer_composites(tables):
    t, d, _ = tables
    vi = t["value_index"]
    for m in ("quality_composite_peer", "cost_composite_peer"):
        assert set(vi.loc[vi.measure == m, "org_code"]) == set(d.trusts.org_code)

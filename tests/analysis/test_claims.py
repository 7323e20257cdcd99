"""The claims re-test (analysis/claims.py) on constructed posteriors with known answers; no sampling."""

import json

import arviz as az
import numpy as np
import pandas as pd
import pytest

from analysis import claims as C
from analysis.summaries import summarise
from analysis.synthetic import generate
from models.config import load_config
from models.value_model import prepare


# ----------------------------------------------------------------------------- verdict rule

@pytest.mark.parametrize("p, expected", [
    (1.0, (C.SUPPORTED, "strong evidence for")),
    (C.SUPPORT_P, (C.SUPPORTED, "strong evidence for")),
    (C.SUPPORT_P - 1e-9, (C.NOT_SUPPORTED, "inconclusive")),
    (0.5, (C.NOT_SUPPORTED, "inconclusive")),
    (C.AGAINST_P + 1e-9, (C.NOT_SUPPORTED, "inconclusive")),
    (C.AGAINST_P, (C.NOT_SUPPORTED, "strong evidence against")),
    (0.0, (C.NOT_SUPPORTED, "strong evidence against")),
    (None, (C.NOT_TESTABLE, "-")),
    (float("nan"), (C.NOT_TESTABLE, "-")),
])
def test_verdict_rule_edges(p, expected):
    assert C.verdict(p) == expected


def test_verdict_rule_text_states_the_thresholds():
    t = C.verdict_rule_text()
    assert f"{C.SUPPORT_P:g}" in t and f"{C.AGAINST_P:g}" in t and f"{C.ABOUT_FACTOR:g}" in t


# ----------------------------------------------------------------------------- pure functions

def test_largest_picks_eligible_and_ignores_nan():
    size = np.array([5.0, 9.0, np.nan, 7.0, 8.0, 1.0])
    eligible = np.array([True, False, True, True, True, True])
    assert C.largest(size, eligible, 2).tolist() == [False, False, False, True, True, False]
    with pytest.raises(ValueError):
        C.largest(size, eligible, 5)


def test_group_productivity_and_ratio():
    actual = np.array([200.0, 200.0, 100.0, 100.0])
    exp_adj = np.full((3, 4), 100.0)
    large, rest = np.array([1, 1, 0, 0], bool), ~np.array([1, 1, 0, 0], bool)
    assert np.allclose(C.group_productivity(actual, exp_adj, large), 0.5)
    assert np.allclose(C.productivity_ratio(actual, exp_adj, large, rest), 0.5)


def test_cost_saving_floor_and_net():
    # benchmark cost index of the rest: (100 + 100) / (100 + 100) = 1
    actual = np.array([150.0, 80.0, 100.0, 100.0])
    exp_adj = np.full((1, 4), 100.0)
    large, rest = np.array([1, 1, 0, 0], bool), np.array([0, 0, 1, 1], bool)
    assert C.cost_saving(actual, exp_adj, large, rest, floor=True)[0] == pytest.approx(50.0)
    assert C.cost_saving(actual, exp_adj, large, rest, floor=False)[0] == pytest.approx(30.0)
    # the rest 25% dearer than expected: the benchmark moves, so the large trusts save less
    actual2 = np.array([150.0, 80.0, 125.0, 125.0])
    assert C.cost_saving(actual2, exp_adj, large, rest)[0] == pytest.approx(25.0)


def test_deaths_avoided_known_answer_and_missing_shmi():
    E = np.array([100.0, 100.0, 100.0, 100.0, np.nan])
    theta = np.log(np.array([[1.2, 0.8, 1.0, 1.0, 1.0]]))
    theta[0, 4] = np.nan
    ref = np.zeros((1, 5))
    large = np.array([1, 1, 0, 0, 1], bool)  # the last has no SHMI: left out
    rest = np.array([0, 0, 1, 1, 0], bool)
    assert C.deaths_avoided(E, theta, ref, large, rest)[0] == pytest.approx(20.0)
    assert C.deaths_avoided(E, theta, ref, large, rest, floor=False)[0] == pytest.approx(0.0, abs=1e-9)
    # need reference: trust 0's need predicts 20% more deaths, so it is at its need-adjusted benchmark
    ref2 = np.log(np.array([[1.2, 1.0, 1.0, 1.0, 1.0]]))
    assert C.deaths_avoided(E, theta, ref2, large, rest)[0] == pytest.approx(0.0, abs=1e-9)


def test_bootstrap_weights_sum_to_group_size():
    g1 = np.array([1, 1, 1, 0, 0, 0], bool)
    g2 = np.array([0, 0, 0, 1, 1, 0], bool)
    w = C.bootstrap_weights([g1, g2], 500, seed=1)
    assert np.allclose(w[:, g1].sum(1), 3) and np.allclose(w[:, g2].sum(1), 2)
    assert np.all(w[:, 5] == 1) and w[:, g1].std() > 0.1
    assert np.allclose(C.bootstrap_weights([g1, g2], 5, seed=1), C.bootstrap_weights([g1, g2], 5, seed=1))


def test_lowest_among_largest_per_region():
    size = np.array([10.0, 9.0, 1.0, 5.0, 4.0, 3.0])
    region = np.array(["A", "A", "A", "B", "B", "B"])
    eligible = np.ones(6, bool)
    # region A: the largest is lowest in every draw; region B: the smallest is lowest in half the draws
    score = np.array([[-5, 0, 1, 0, 1, -3], [-5, 0, 1, -2, 1, 0]], float)
    reg, hits = C.lowest_among_largest(score, size, region, eligible, top=2)
    assert reg.set_index("region").p_lowest_is_largest.to_dict() == {"A": 1.0, "B": 0.5}
    assert hits.all(1).tolist() == [False, True]
    assert reg.set_index("region").largest["A"] == [0, 1]


def test_rank_of_and_eligibility():
    score = np.array([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    assert C.rank_of(score, 1).tolist() == [2, 2]
    assert C.rank_of(score, 1, np.array([False, True, True])).tolist() == [1, 2]


def test_interval_and_formatting():
    s = C.interval(np.arange(1001.0))
    assert s["median"] == 500 and s["lo95"] == pytest.approx(25) and s["hi95"] == pytest.approx(975)
    assert C._fmt(-216.4, "GBP m") == "−£216m" and C._fmt(8000, "GBP m") == "£8.00bn"
    assert C._peq(0.0001) == " < 0.001" and C._peq(0.5) == " = 0.500"
    assert C.nice_name("GUY'S AND ST THOMAS' NHS FOUNDATION TRUST") == "Guy's and St Thomas' NHS Foundation Trust"


# ----------------------------------------------------------------------------- constructed posteriors

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


def test_value_index_draws_match_summaries(base_setup):
    _, cfg, d = base_setup
    idata = _fake_idata(d)
    vi = C.value_index_draws(idata.posterior, d, cfg)
    tab = summarise(idata, d, cfg)["value_index"]
    med = tab[tab.measure == "value_index"].set_index("org_code")["median"].reindex(d.trusts.org_code)
    assert np.allclose(np.nanmedian(vi, 0), med.to_numpy(), equal_nan=True)


def test_draws_without_need_covariates(base_setup):
    panel, _, _ = base_setup
    cfg = load_config(overrides={"need": {"covariates": []}})
    d = prepare(panel, cfg)
    idata = _fake_idata(d)
    dr = C.draws_from_idata(idata, d, cfg, "no_need")
    assert np.all(dr.need_cost == 0) and np.all(dr.need_shmi == 0)


def _draws(d, cfg, name="base", **kw):
    return C.draws_from_idata(_fake_idata(d, **kw), d, cfg, name)


def test_clearly_worse_largest_trusts_are_supported(base_setup):
    """Largest trusts' need-adjusted cost 50% above the rest: claim 1 supported with P = 1 in the primary row."""
    _, cfg, d = base_setup
    t = C.trust_frame(d)
    # make the 13 largest clearly dearer than everyone else in the data themselves
    eligible = t.eligible.to_numpy()
    large = C.largest(t.actual.to_numpy(), eligible, 13)
    t.loc[large, "expected"] = t.loc[large, "actual"] / 1.5
    t.loc[~large, "expected"] = t.loc[~large, "actual"]
    rows, _ = C.scenario_rows(t, {"base": _draws(d, cfg)})
    df = C.rows_frame(rows)
    p1 = df[(df.claim == 1) & df.primary].iloc[0]
    assert p1.probability == 1.0 and p1.verdict == C.SUPPORTED
    assert p1["median"] == pytest.approx(1 / 1.5, rel=1e-2)
    # claim 2's saving is exactly a third of their spend
    p2 = df[(df.claim == 2) & df.primary].iloc[0]
    assert p2["median"] == pytest.approx(t.actual[large].sum() / 3, rel=1e-2)
    # variants not given are reported as not run, MFF without data as not testable
    assert set(df[df.variant.isin(["national", "no_need"])].verdict) == {C.NOT_RUN}
    assert set(df[df.scenario == "mff"].verdict) == {C.NOT_TESTABLE}


def test_equal_productivity_is_not_supported(base_setup):
    _, cfg, d = base_setup
    t = C.trust_frame(d)
    t["expected"] = t["actual"]  # every trust has cost index 1
    rows, _ = C.scenario_rows(t, {"base": _draws(d, cfg)})
    df = C.rows_frame(rows)
    p2 = df[(df.claim == 2) & df.primary].iloc[0]
    spend = t.actual[C.largest(t.actual.to_numpy(), t.eligible.to_numpy(), 13)].sum()
    # only the need-adjustment jitter (1e-4 on the log scale) separates the trusts
    assert p2["median"] < 1e-3 * spend and p2.verdict == C.NOT_SUPPORTED and p2.evidence == "strong evidence against"
    net = df[(df.claim == 2) & (df.scenario == "net")].iloc[0]
    assert abs(net["median"]) < 1e-3 * spend


def test_mff_scenario_uses_unadjusted_cost(base_setup):
    _, cfg, d = base_setup
    mff = pd.Series(1.0, index=d.trusts.org_code)
    t = C.trust_frame(d, mff)
    rows, _ = C.scenario_rows(t, {"base": _draws(d, cfg)})
    df = C.rows_frame(rows).set_index(["claim", "scenario"])
    # MFF of 1 everywhere: the same as the primary analysis
    assert df.loc[(1, "mff"), "median"] == pytest.approx(df.loc[(1, "primary"), "median"])
    # a higher MFF at the largest trusts makes them look dearer once unadjusted
    large = C.largest(t.actual.to_numpy(), t.eligible.to_numpy(), 13)
    t.loc[large, "mff"] = 1.2
    df2 = C.rows_frame(C.scenario_rows(t, {"base": _draws(d, cfg)})[0]).set_index(["claim", "scenario"])
    assert df2.loc[(1, "mff"), "median"] < df.loc[(1, "mff"), "median"]


def test_index_claims_barnsley_best(base_setup):
    _, cfg, d = base_setup
    i = d.trusts.org_code.tolist().index("RFF")
    t = C.trust_frame(d)
    rows, detail = C.index_rows(t, {"base": _draws(d, cfg, best=i)})
    df = C.rows_frame(rows)
    p5 = df[(df.claim == 5) & df.primary].iloc[0]
    assert p5.probability == 1.0 and p5.verdict == C.SUPPORTED and p5["median"] == 1
    assert df[(df.claim == 4) & df.primary].iloc[0].verdict in (C.SUPPORTED, C.NOT_SUPPORTED)
    assert len(detail[(4, "primary")]) == t.loc[t.eligible, "region"].nunique()


def test_peer_finder_loader_and_data_dir(tmp_path, base_setup):
    from analysis.panel import panel_hash

    panel, _, _ = base_setup
    f = tmp_path / "raw" / "thf_trust_reference" / "appendix_a_data.csv"
    f.parent.mkdir(parents=True)
    f.write_text("\ufeffProcode,Operating Expenses,MFF payment index\nRFF,-250000,1.02\nXYZ,    ,    \n",
                 encoding="utf-8")
    pf = C.load_peer_finder(tmp_path).set_index("org_code")
    assert pf.loc["RFF", "opex_gbp_m"] == 250.0 and pf.loc["RFF", "mff"] == 1.02 and np.isnan(pf.loc["XYZ", "mff"])
    f.write_text("Procode,Operating Expenses,MFF payment index\nRFF,-1,7.5\n", encoding="utf-8")
    with pytest.raises(C.DataError, match="line 2"):
        C.load_peer_finder(tmp_path)
    with pytest.raises(C.DataError):
        C.load_peer_finder(tmp_path / "nowhere")
    out = tmp_path / "res"
    (out / "panel").mkdir(parents=True)
    (out / "panel" / "manifest.json").write_text(json.dumps(
        {"kind": "real", "data_dir": str(tmp_path), "panel_hash": panel_hash(panel)}))
    assert C.find_data_dir(panel, out) == tmp_path
    (out / "panel" / "manifest.json").write_text(json.dumps(
        {"kind": "real", "data_dir": str(tmp_path), "panel_hash": "other"}))
    assert C.find_data_dir(panel, out) is None


# ----------------------------------------------------------------------------- run_claims end to end, no sampling

def test_run_claims_writes_table_figures_and_manifest(tmp_path, monkeypatch, base_setup):
    panel, _, _ = base_setup
    from analysis import variants

    calls = []

    def fake_fit_cached(panel_, cfg, directory, echo=print, compiled=None):
        calls.append((directory, cfg))
        d = prepare(panel_, cfg)
        return _fake_idata(d, S=120, worse_large=0.3), d, None

    monkeypatch.setattr(variants, "fit_cached", fake_fit_cached)
    printed = []
    res = C.run_claims(panel, out=tmp_path, quick=True, seed=11, echo=printed.append)
    # one fit per variant, in the layout svi validate shares, with the quick sampler and the seed
    assert [p.name for p, _ in calls] == list(C.VARIANTS_USED)
    assert all(p.parent == tmp_path / "variants" for p, _ in calls)
    # refit variants other than the default draw VARIANT_DRAWS_FACTOR times as many
    assert all(cfg["sampler"]["seed"] == 11 and cfg["sampler"]["draws"] == variants.QUICK_SAMPLER["draws"] *
               (1 if p.name == "base" else variants.VARIANT_DRAWS_FACTOR) for p, cfg in calls)
    assert calls[1][1]["peer_groups"]["column"] == "national" and calls[2][1]["need"]["covariates"] == []

    out = tmp_path / "claims"
    df = pd.read_csv(out / "claims.csv")
    assert set(df.claim) == {1, 2, 3, 4, 5} and df.primary.sum() == 5
    assert df.verdict.isin([C.SUPPORTED, C.NOT_SUPPORTED, C.NOT_TESTABLE]).all()
    prim = df[df.primary].set_index("claim")
    assert prim.loc[1, "verdict"] == C.SUPPORTED  # the fake posterior makes the largest 35% dearer
    assert df[df.scenario == "mff"].verdict.eq(C.NOT_TESTABLE).all()  # synthetic: no MFF
    for f in ("claims_regions.csv", "claims_trusts.csv", "claims_productivity.svg", "claims_sensitivity.svg"):
        assert (out / f).exists()
    m = json.loads((out / "manifest.json").read_text())
    assert m["producer"] == "svi claims"
    ids = [it["id"] for it in m["items"]]
    assert ids == ["claims_method"] + [f"claim_{i}" for i in range(1, 6)]
    for it in m["items"][1:]:
        assert it["extra"]["verdict"] in (C.SUPPORTED, C.NOT_SUPPORTED, C.NOT_TESTABLE)
        assert "Verdict" in it["text"] and "Caveats" in it["text"]
    c1 = m["items"][1]["extra"]
    assert c1["probability"] == 1.0 and c1["lo95"] <= c1["median"] <= c1["hi95"]
    text = "\n".join(printed)
    assert "verdict" in text and "Sensitivity checks" in text and "--quick" in text
    assert res.headline().shape[0] == 5


def test_run_claims_with_given_fits_does_not_fit(tmp_path, monkeypatch, base_setup):
    panel, cfg, d = base_setup
    from analysis import variants

    monkeypatch.setattr(variants, "fit_cached", lambda *a, **k: pytest.fail("must not fit"))
    fits = {"base": (_fake_idata(d, S=80), d, None, cfg)}
    res = C.run_claims(panel, out=tmp_path, fits=fits, fit_missing=False, echo=lambda *_: None)
    assert set(res.table[res.table.variant == "national"].verdict) == {C.NOT_RUN}
    assert (tmp_path / "claims" / "manifest.json").exists()


def test_failed_gates_are_flagged(tmp_path, base_setup):
    from analysis.fitting import GateResult

    panel, cfg, d = base_setup
    ok, bad = GateResult(True, 1.0, 1000, 1000, 0), GateResult(False, 1.05, 50, 50, 3, ["mu"])
    nat = load_config(overrides={"peer_groups": {"column": "national"}})
    d_nat = prepare(panel, nat)
    fits = {"base": (_fake_idata(d, S=60), d, ok, cfg), "national": (_fake_idata(d_nat, S=60), d_nat, bad, nat)}
    res = C.run_claims(panel, out=tmp_path, fits=fits, fit_missing=False, echo=lambda *_: None)
    t = res.table
    assert t[t.variant == "national"].note.str.contains("FAILED the convergence gate").all()
    assert not t[t.variant == "base"].note.str.contains("FAILED").any()
    m = json.loads((tmp_path / "claims" / "manifest.json").read_text())
    assert m["items"][0]["passed"] is True and "diagnosis only" in m["items"][0]["text"]
    # a failed base fit marks every item failed
    fits["base"] = (fits["base"][0], d, bad, cfg)
    C.run_claims(panel, out=tmp_path, fits=fits, fit_missing=False, echo=lambda *_: None)
    m = json.loads((tmp_path / "claims" / "manifest.json").read_text())
    assert all(it["passed"] is False for it in m["items"])

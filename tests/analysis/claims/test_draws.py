"""Pure functions of posterior draws: the quantities the claims are about."""

import numpy as np
import pytest

from analysis import claims as C
from analysis.summaries import summarise
from models.config import load_config
from models.value_model import prepare
from tests.analysis.claims.conftest import _fake_idata

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




def test_draws_without_need_covariates(base_setup):
    panel, _, _ = base_setup
    cfg = load_config(overrides={"need": {"covariates": []}})
    d = prepare(panel, cfg)
    idata = _fake_idata(d)
    dr = C.draws_from_idata(idata, d, cfg, "no_need")
    assert np.all(dr.need_cost == 0) and np.all(dr.need_shmi == 0)



def test_the_claims_value_index_is_the_tables(base_setup):
    """One definition of the value index (analysis.summaries.composites) serves the tables and the claims."""
    _, cfg, d = base_setup
    idata = _fake_idata(d)
    vi = C.draws_from_idata(idata, d, cfg, "base").value_index
    tab = summarise(idata, d, cfg)["value_index"]
    med = tab[tab.measure == "value_index"].set_index("org_code")["median"].reindex(d.trusts.org_code)
    assert np.allclose(np.nanmedian(vi, 0), med.to_numpy(), equal_nan=True)

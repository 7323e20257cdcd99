"""The equity lens (analysis.summaries.equity) on constructed posteriors with known answers (no sampling)."""

import numpy as np
import pytest

from analysis.summaries import summarise
from analysis.summaries.equity import equity_table, need_terms, unadjusted_composites
from analysis.summaries.posterior import composites
from analysis.synthetic import generate
from models.config import load_config
from models.value_model import prepare
from tests.analysis.summaries.test_posterior import _fake_idata


@pytest.fixture(scope="module")
def setup():
    panel, *_ = generate(5)
    cfg = load_config()
    d = prepare(panel, cfg)
    return d, cfg


def _with_need(idata, d, beta_q: np.ndarray, beta_c: np.ndarray):
    S = idata.posterior.sizes["draw"]
    idata.posterior["beta"] = (("chain", "draw", "indicator", "need"), np.broadcast_to(beta_q, (1, S) + beta_q.shape).copy())
    idata.posterior["beta_c"] = (("chain", "draw", "cost_outcome", "need"),
                                 np.broadcast_to(beta_c, (1, S) + beta_c.shape).copy())
    return idata


def test_no_need_effects_change_nothing(setup):
    d, cfg = setup
    idata = _fake_idata(d)  # no beta in the posterior: the adjustment is zero
    a = composites(idata.posterior, d, cfg)
    t = equity_table(a, unadjusted_composites(idata.posterior, d, cfg), d)
    assert len(t) == d.N and set(t.org_code) == set(d.trusts.org_code)
    ranked = t.rank_adjusted_median.notna()
    assert ranked.sum() > 0.8 * d.N
    assert (t.loc[ranked, "places_up_median"] == 0).all() and (t.loc[ranked, "p_up"] == 0).all()
    assert np.allclose(t.value_adjusted_median, t.value_unadjusted_median, equal_nan=True)


def test_the_adjustment_is_exactly_the_need_term(setup):
    """Adding back beta . x changes each standardised effect by sign * beta . x / sd0, and the cost residual by
    beta_c . x; a catchment whose need lowers its expectations looks worse without the adjustment."""
    d, cfg = setup
    K, J, P = len(d.indicators), len(d.cost_outcomes), d.x.shape[1]
    bq = np.zeros((K, P))
    bq[:, 0] = 0.05  # higher need (first covariate) raises every expectation
    bc = np.zeros((J, P))
    bc[:, 0] = 0.04
    idata = _with_need(_fake_idata(d), d, bq, bc)
    post = idata.posterior
    a = composites(post, d, cfg)
    un = unadjusted_composites(post, d, cfg)
    q, c = need_terms(post, d)
    assert np.allclose(q[0], d.x @ bq.T) and np.allclose(c[0], d.x @ bc.T)
    assert np.allclose(un.z - a.z, a.sign * q / post["sd0"].values.reshape(-1, K)[:, None, :])
    ok = ~np.isnan(a.resid)  # trusts without a cost outcome have no residual
    assert ok.any() and np.allclose((un.resid - a.resid)[ok], c[ok])
    t = equity_table(a, un, d).set_index("org_code")
    hi, lo = d.trusts.org_code.iloc[np.argmax(d.x[:, 0])], d.trusts.org_code.iloc[np.argmin(d.x[:, 0])]
    # the neediest catchment: its cost looks higher and SHMI worse without adjustment, RTT/A&E/FFT better; the
    # table's difference in value index is the composite's own
    diff = un.value - a.value
    i = list(d.trusts.org_code).index(hi)
    assert t.loc[hi, "value_unadjusted_median"] - t.loc[hi, "value_adjusted_median"] == pytest.approx(
        np.median(un.value[:, i]) - np.median(a.value[:, i]))
    assert np.sign(np.median(diff[:, i])) != np.sign(np.median(diff[:, list(d.trusts.org_code).index(lo)]))


def test_summarise_writes_the_table(setup):
    d, cfg = setup
    t = summarise(_fake_idata(d), d, cfg)["equity_lens"]
    assert {"rank_adjusted_median", "rank_unadjusted_lo95", "places_up_median", "p_up", "scope",
            "n_ranked"} <= set(t.columns)
    assert set(t.scope) <= {"national", "peer group"}
    nat = t[t.scope == "national"]
    assert nat.n_ranked.dropna().nunique() == 1  # one national ranking

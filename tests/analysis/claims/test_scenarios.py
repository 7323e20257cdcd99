"""Every claim under every scenario, on constructed posteriors with known answers."""

import pandas as pd
import pytest

from analysis import claims as C
from tests.analysis.claims.conftest import _draws

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

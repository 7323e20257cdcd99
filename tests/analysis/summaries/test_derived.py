"""Tables derived from the posterior tables and the panel: funnel, categories, headlines, need context."""

import numpy as np
import pandas as pd
import pytest

from analysis.shmi_funnel import shmi_banding
from analysis.summaries import derived_tables, summarise
from analysis.summaries.derived import (categories, headline_values, headlines, mortality_category, need_context,
                                        shmi_funnel, value_category)
from analysis.synthetic import generate
from models.config import load_config
from models.value_model import prepare
from tests.analysis.summaries.test_posterior import _fake_idata


@pytest.fixture(scope="module")
def fitted():
    panel, *_ = generate(5)
    cfg = load_config()
    d = prepare(panel, cfg)
    return summarise(_fake_idata(d), d, cfg), panel


def test_category_rules():
    assert value_category([0.95, 0.6, 0.0, 0.1, 0.2, np.nan], [0, 0, 0.95, 0.6, 0.2, np.nan]).tolist() == [
        "best quarter (very likely)", "best quarter (likely)", "lowest quarter (very likely)",
        "lowest quarter (likely)", "uncertain", "not ranked"]
    assert mortality_category([1.1, 0.8, 0.9, np.nan], [1.3, 0.95, 1.1, np.nan]).tolist() == [
        "higher than expected", "lower than expected", "as expected", "no SHMI"]


def test_categories_table(fitted):
    t, _ = fitted
    c = categories(t).set_index("org_code")
    nat = t["ranks"][t["ranks"].scope == "national"].set_index("org_code")
    assert list(c.index) == list(nat.index)
    best = nat.p_top_quartile.idxmax()
    assert c.at[best, "value"] == "best quarter (very likely)"
    sh = t["health_alpha"][t["health_alpha"].measure == "shmi_ratio_to_expected"].set_index("org_code")
    assert set(c.mortality[sh.reindex(c.index)["median"].isna()]) == {"no SHMI"}


def test_funnel_is_nhs_digitals_banding_of_the_panel(fitted):
    _, panel = fitted
    f = shmi_funnel(panel)
    has = panel.shmi_observed_deaths.notna()
    assert len(f) == has.sum() and f.org_code.tolist() == panel.org_code[has].tolist()
    ref = shmi_banding(panel[has].reset_index(drop=True), observed="shmi_observed_deaths",
                       expected="shmi_expected_deaths", shmi="shmi_value")
    assert f.phi.iloc[0] == ref.attrs["phi"] and f.tau2.iloc[0] == ref.attrs["tau2"] and ref.attrs["tau2"] > 0
    assert f.band.tolist() == ref.band.tolist()
    # O/E is banded when a trust lacks the published SHMI; too few trusts: an empty table with the same columns
    p2 = panel.copy()
    p2.loc[p2.index[0], "shmi_value"] = np.nan
    assert shmi_funnel(p2).ratio.tolist() == (p2.shmi_observed_deaths / p2.shmi_expected_deaths)[has].tolist()
    empty = shmi_funnel(panel.iloc[:2])
    assert len(empty) == 0 and list(empty.columns) == list(f.columns)


def test_headlines(fitted):
    t, panel = fitted
    funnel = shmi_funnel(panel)
    h = headline_values(headlines(t, funnel))
    tv = t["trapped_value"]
    eng = tv[tv.org_code == "ENGLAND"].set_index("setting")
    # the headline is the sum of the care settings; the net figure is the total cost's
    assert h["trapped_value_mean"] == eng.loc["gross", "mean"] and h["trapped_value_hi95"] == eng.loc["gross", "hi95"]
    assert h["trapped_value_net_mean"] == eng.loc["total", "mean"]
    ad = t["avoidable_deaths"]
    assert h["avoidable_deaths_lo95"] == ad[ad.org_code == "ENGLAND"].lo95.iloc[0]
    nat = t["ranks"][t["ranks"].scope == "national"]
    assert h["ranks_n"] == nat.n_ranked.max() and h["ranks_top90"] == (nat.p_top_quartile > 0.9).sum()
    assert h["funnel_n"] == len(funnel) and h["funnel_phi"] == funnel.phi.iloc[0]
    assert h["funnel_higher"] + h["funnel_lower"] + h["funnel_as_expected"] == len(funnel)
    assert h["n_trusts"] == panel.org_code.nunique()
    no_funnel = headline_values(headlines(t, funnel.iloc[:0]))
    assert np.isnan(no_funnel["funnel_tau2"])


def test_need_context_leaves_the_trust_out_of_its_peers(fitted):
    t, panel = fitted
    nc = need_context(t, panel)
    tr = nc[(nc.scope == "trust") & (nc.column == "imd_score")].set_index("org_code")
    vi = t["value_index"]
    info = vi[vi.measure == "value_index"].set_index("org_code")
    pan = panel.set_index("org_code")
    code = info.index[0]
    peers = info.index[(info.peer_group == info.peer_group[code]) & (info.index != code)]
    assert tr.at[code, "value"] == pan.imd_score[code]
    assert tr.at[code, "peer_median"] == np.median(pan.imd_score[peers])
    assert tr.at[code, "peer_max"] == pan.imd_score[peers].max()
    assert tr.at[code, "england_median"] == np.median(pan.imd_score.dropna())
    grp = nc[(nc.scope == "peer group") & (nc.column == "imd_score")].set_index("peer_group")
    assert grp.at[info.peer_group[code], "value"] == pan.imd_score[info.index[info.peer_group == info.peer_group[code]]].median()
    al = nc[(nc.scope == "trust") & (nc.column == "rtt_pp_vs_expected")].set_index("org_code")
    ha = t["health_alpha"]
    rtt = ha[ha.measure == "rtt_pp_vs_expected"].set_index("org_code")["median"]
    assert al.at[code, "peer_median"] == rtt.reindex(peers).median()


def test_derived_tables_are_saved_whole(fitted):
    t, panel = fitted
    out = derived_tables(t, panel)
    assert set(out) == {"shmi_funnel", "categories", "headlines", "need_context"}
    assert all(isinstance(v, pd.DataFrame) for v in out.values())

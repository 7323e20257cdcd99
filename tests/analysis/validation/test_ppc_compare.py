"""Posterior predictive checks, variant comparison categories, SHMI agreement."""

import numpy as np
import pandas as pd
import pytest

from analysis.validation import agreement, compare, ppc


def test_ppc_of_the_generating_model_is_not_extreme(synthetic_posterior):
    s = synthetic_posterior
    reps = ppc.replicate(s["idata"], s["data"], s["cfg"], n_draws=300)
    tab = ppc.ppc_table(reps)
    assert set(tab.outcome) == set(s["data"].indicators) | {f"cost_{o}" for o in s["data"].cost_outcomes}
    assert tab.extreme.sum() <= 2, tab[tab.extreme]


def test_ppc_flags_data_more_spread_than_the_model():
    rng = np.random.default_rng(0)
    rep = rng.normal(0, 1, (500, 100))
    obs = rng.normal(0, 3, 100)
    t = ppc.ppc_table({"x": {"rep": rep, "obs": obs}})
    sd = t[t.statistic == "sd"].iloc[0]
    assert sd.ppp == 0.0 and sd.extreme


def test_category_changes_counts_moves():
    a = pd.DataFrame({"value": ["x", "y", "z"], "mortality": ["m", "m", "n"], "rank_median": [1, 2, 3]},
                     index=["A", "B", "C"])
    b = pd.DataFrame({"value": ["x", "z", "z"], "mortality": ["m", "m", "m"], "rank_median": [1, 3, 2]},
                     index=["A", "B", "C"])
    ch = compare.category_changes(a, b)
    assert ch["value_changed"] == 1 and ch["mortality_changed"] == 1 and ch["max_rank_shift"] == 1


def test_shmi_banding_reproduces_published_for_every_real_trust(real_data_dir):
    from analysis.real_panel import build_real_panel

    panel, _ = build_real_panel(real_data_dir)
    band, summ = agreement.banding_agreement(panel)
    assert summ["n_published"] == 118
    assert summ["n_match"] == 118, summ["mismatches"]


def test_shmi_cross_tab_on_synthetic(synthetic_posterior):
    from analysis.summaries import summarise

    s = synthetic_posterior
    band, summ = agreement.banding_agreement(s["panel"])
    assert summ["n_published"] == 0 and summ["n_trusts"] == int(s["data"].observed[:, 0].sum())
    xt, per = agreement.cross_tab(band, summarise(s["idata"], s["data"], s["cfg"])["health_alpha"])
    assert xt.values.sum() == summ["n_trusts"]
    assert set(per.bayes_category) <= {"higher than expected", "lower than expected", "as expected"}

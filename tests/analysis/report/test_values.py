"""Values of the documents: chosen and formatted from the saved tables, never recomputed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import report as rep
from analysis.report.values import VERDICTS, paper_values, trust_values
from analysis.summaries.derived import value_category


def test_every_value_category_has_a_verdict():
    cats = value_category([np.nan, 0.95, 0.6, 0.0, 0.0, 0.1], [np.nan, 0.0, 0.0, 0.95, 0.6, 0.1])
    assert set(cats) == set(VERDICTS)


def test_values_come_from_the_saved_tables(results):
    """Change a saved category, headline and context row: the documents print the saved value."""
    res = rep.load_results(results)
    code = res.codes[0]
    cat = res.tables["categories"].copy()
    cat.loc[cat.org_code == code, "value"] = "lowest quarter (very likely)"
    h = res.tables["headlines"].copy()
    h.loc[h.measure == "funnel_tau2", "value"] = 0.012345
    nc = res.tables["need_context"].copy()
    nc.loc[(nc.org_code == code) & (nc.column == "imd_score"), "peer_median"] = 77.7
    res.tables.update(categories=cat, headlines=h, need_context=nc)
    v = trust_values(res, code)["svi"]
    assert v["verdict"] == VERDICTS["lowest quarter (very likely)"]
    assert v["need"]["imd"]["peer_median"] == "77.7"
    assert paper_values(res)["svi"]["funnel"]["tau2"] == "0.01235"


def test_a_trust_without_context_rows_shows_none(results):
    res = rep.load_results(results)
    code = res.codes[0]
    nc = res.tables["need_context"]
    res.tables["need_context"] = nc[~((nc.org_code == code) & (nc.column == "imd_score"))]
    assert set(trust_values(res, code)["svi"]["need"]["imd"].values()) == {"not in the panel"}  # a reason, not n/a
    assert isinstance(res.tables["need_context"], pd.DataFrame)


def test_period_noise_sentence_follows_the_fit_config(results):
    """The paper says whether this run's model used the period-noise option, read from the fit's config, with each
    indicator's period as the panel dictionary labels it."""
    from analysis.report.values import period_noise_text

    res = rep.load_results(results)
    assert "uses it" in period_noise_text(res)  # the default model has the option on
    res.config["quality"]["period_noise"] = "off"
    off = period_noise_text(res)
    periods = res.dictionary.set_index("name")["period"]
    assert f"RTT: {periods['rtt_total_waiting']}" in off and "does not" in off and "uses it" not in off
    res.config["quality"].update(period_noise="estimated", period_noise_sd={"rtt": 0.5, "ae": 0.25, "fft": 0.125},
                                 period_months={"rtt": 3, "ae": 1, "fft": 1})
    on = period_noise_text(res)
    assert "uses it" in on and "RTT 0.500" in on and "RTT 3" in on and "does not" not in on
    assert paper_values(res)["svi"]["quality"]["period"] == on


def test_a_fixed_cost_gap_prints_no_interval_and_says_why(tables):
    """A trust whose peer group has no need adjustment has the same cost gap in every draw: the documents print no
    zero-width interval and no 0%/100% chance, and say why."""
    from analysis.report.trapped import FIXED_GAP_NOTE, NO_INTERVAL, trust_trapped

    code = tables["trapped_value"].org_code.iloc[0]
    plain = trust_trapped(tables, code, "peer_median", "peer_median")
    fixed = trust_trapped(tables, code, "peer_median", "peer_median", fixed_gap=True)
    assert plain["tv"]["gross"]["est"] == fixed["tv"]["gross"]["est"]
    assert NO_INTERVAL not in str(plain) and FIXED_GAP_NOTE not in plain["tv_coverage"]
    assert {fixed["tv"][s][c] for s in ("gross", "total") for c in ("i80", "i95")} == {NO_INTERVAL}
    assert {fixed["tv"][s]["p"] for s in ("gross", "total")} == {"not estimated"}
    assert FIXED_GAP_NOTE in fixed["tv_coverage"] and "no interval" in fixed["tv_slide"]
    assert "95% interval" not in fixed["tv_slide"]


def test_fixed_gap_is_read_from_the_table():
    from analysis.report.trapped import TrappedIndex

    rows = []
    for code, lo, hi, mean in (("A", 7.9, 7.9, 7.9), ("B", 0.0, 0.0, 0.0), ("C", 1.0, 9.0, 4.0)):
        for s in ("apc", "op", "gross", "total"):
            m = mean if s in ("apc", "gross") else 0.0
            rows.append({"org_code": code, "setting": s, "mean": m, "lo95": lo if m else 0.0,
                         "hi95": hi if m else (0.0 if code != "C" else 2.0)})
    tx = TrappedIndex({"trapped_value": pd.DataFrame(rows)})
    # A: a positive gap the same in every draw; B: every draw at zero (ordinary); C: uncertain
    assert [tx.fixed_gap(c) for c in "ABC"] == [True, False, False] and not tx.fixed_gap("Z")

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
    off = period_noise_text(res)
    periods = res.dictionary.set_index("name")["period"]
    assert f"RTT: {periods['rtt_total_waiting']}" in off and "does not" in off and "uses it" not in off
    res.config["quality"].update(period_noise="estimated", period_noise_sd={"rtt": 0.5, "ae": 0.25, "fft": 0.125},
                                 period_months={"rtt": 3, "ae": 1, "fft": 1})
    on = period_noise_text(res)
    assert "uses it" in on and "RTT 0.500" in on and "RTT 3" in on and "does not" not in on
    assert paper_values(res)["svi"]["quality"]["period"] == on

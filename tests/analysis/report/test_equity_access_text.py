"""Equity of access in the documents (analysis.report.equity, part b): the appendix line and the paper's national
summary follow equity_access.csv, and say why when there is no gap or no table."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.equity_access import equity_gap
from analysis.errors import SVIError
from analysis.report.data import read_equity_access
from analysis.report.equity import (ACCESS_ABSENT, ACCESS_ABSENT_PAPER, ACCESS_CAVEAT, latest_access, paper_access,
                                    period_words, trust_access)
from analysis.report.text import signed


def _deciles(org, counts, period="2026-03-29"):
    return pd.DataFrame({"org_code": org, "period": period, "imd_decile": pd.array(list(counts), dtype="Int64"),
                         "total_waiting": [float(t) for t, _ in counts.values()],
                         "within_18w": [float(w) for _, w in counts.values()]})


@pytest.fixture
def table():
    frame = pd.concat([
        _deciles("LNG", {1: (3000, 1500), 2: (3000, 1500), 9: (3000, 1800), 10: (3000, 1800)}),  # 50% vs 60%
        _deciles("SHT", {1: (3000, 1900), 2: (3000, 1900), 9: (3000, 1500), 10: (3000, 1500)}),  # wait less long
        _deciles("EQL", {1: (400, 240), 2: (400, 240), 9: (400, 240), 10: (400, 240)}),          # no clear gap
        _deciles("SML", {1: (400, 240), 2: (400, 240), 9: (10, 5), 10: (5, 3)}),                 # too small
        # an older snapshot of LNG with no gap at all: the latest must be the one shown
        _deciles("LNG", {1: (3000, 1800), 2: (3000, 1800), 9: (3000, 1800), 10: (3000, 1800)}, "2026-02-22"),
    ], ignore_index=True)
    return equity_gap(frame)


def test_a_clear_gap_states_the_shares_the_gap_its_interval_a_reading_and_the_caveat(table):
    r = table[(table.org_code == "LNG") & (table.period == "2026-03-29")].iloc[0]
    a = trust_access(table, "LNG", "Alpha")
    assert a["has"] == "yes"
    assert a["text"].startswith("In its waiting list of 29 March 2026, 50.0% of patients from the most deprived "
                                "fifth")
    assert "against 60.0% of those from the least deprived fifth" in a["text"] and "6,000 patients" in a["text"]
    assert (f"a gap of {signed(r.gap_pp_median, 1)} points (95% interval {signed(r.gap_pp_lo95, 1)} to "
            f"{signed(r.gap_pp_hi95, 1)})") in a["text"]
    assert signed(r.gap_pp_median, 1).startswith("\u221210.")  # the constructed gap, from the table
    assert "most deprived patients wait longer" in a["text"] and "whole interval is below zero" in a["text"]
    assert a["text"].endswith(ACCESS_CAVEAT)
    for limit in ("home area", "small numbers", "not need-adjusted", "specialties"):
        assert limit in ACCESS_CAVEAT


def test_other_readings_a_trust_without_a_gap_and_one_not_in_the_table(table):
    assert "wait less long" in trust_access(table, "SHT", "S")["text"]
    eq = trust_access(table, "EQL", "E")["text"]
    assert "no clear gap: the interval includes zero (chance that the most deprived wait longer: " in eq
    small = trust_access(table, "SML", "Small Trust")
    assert small["text"].startswith("No equity-of-access gap for Small Trust in the snapshot of 29 March 2026: least "
                                    "deprived quintile (deciles 9-10) has 15 patients, fewer than 30")
    assert small["has"] == "no" and small["text"].count("no gap") == 0
    filler = pd.DataFrame({"org_code": ["NOP"], "period": ["2026-03-29"],
                           "note": ["no rows for this trust in the publication"]})  # as build_table writes it
    missing = trust_access(pd.concat([table, filler], ignore_index=True), "NOP", "Nop")["text"]
    assert missing == ("No equity-of-access gap for Nop in the snapshot of 29 March 2026: no rows for this trust in "
                       "the publication.")
    gone = trust_access(table, "ZZZ", "Gone")
    assert gone["has"] == "no" and "not in this run's equity-of-access table" in gone["text"]


def test_a_run_without_the_table_says_so_in_one_sentence():
    a = trust_access(None, "LNG", "Alpha")
    assert a == {"text": ACCESS_ABSENT, "has": "no"} and a["text"].count(". ") == 0
    p = paper_access(None)
    assert p["has"] == "no" and p["text"] == ACCESS_ABSENT_PAPER and p["draws"] == "4,000"


def test_latest_snapshot_and_dates():
    t = latest_access(pd.DataFrame({"org_code": ["A", "A", "B"], "period": ["2026-03-29", "2026-02-22", "x"],
                                    "gap_pp_median": [1.0, 2.0, 3.0]}))
    assert t.loc["A", "gap_pp_median"] == 1.0 and t.loc["B", "period"] == "x"
    assert period_words("2025-06-29") == "29 June 2025" and period_words("June 2025") == "June 2025"


def test_paper_counts_and_distribution_come_from_the_table(table):
    p = paper_access(table)
    latest = latest_access(table)
    g = latest[latest.gap_pp_median.notna()]
    assert p["n"] == str(len(g)) == "3" and p["n_all"] == "4"
    assert (p["longer"], p["shorter"]) == ("1", "1")
    assert p["median"] == signed(g.gap_pp_median.median(), 1)
    assert "For 2 of the 3 the 95% interval excludes 0: in 1 the most deprived patients wait longer, in 1 less long" \
        in p["text"]


def test_an_unreadable_table_is_an_error_not_an_absent_publication(tmp_path):
    f = tmp_path / "equity_access.csv"
    assert read_equity_access(f) is None
    f.write_text("org_code,period\nRA1,2026-03-29\n")
    with pytest.raises(SVIError, match=r"equity_access.csv, line 1: no column 'share_most_deprived'.*svi data build"):
        read_equity_access(f)

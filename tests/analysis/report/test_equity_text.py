"""The equity lens's sentences (analysis.report.equity) follow the table: a clear shift, no clear shift, no index."""

import pandas as pd

from analysis.report.equity import ordinal, paper_equity, trust_equity


def _table():
    return pd.DataFrame({
        "org_code": ["A", "B", "C"], "scope": ["national", "peer group", "national"], "n_ranked": [118, 11, None],
        "rank_unadjusted_median": [84, 3, None], "rank_unadjusted_lo95": [70, 1, None],
        "rank_unadjusted_hi95": [101, 6, None], "rank_adjusted_median": [52, 3, None],
        "rank_adjusted_lo95": [35, 1, None], "rank_adjusted_hi95": [77, 6, None],
        "places_up_median": [32, 0, None], "places_up_lo95": [20, -1, None], "places_up_hi95": [45, 1, None],
        "p_up": [1.0, 0.3, None]})


def test_a_clear_shift_names_both_ranks_and_the_interval():
    e = trust_equity(_table(), "A", "Barnsley")
    assert "from 84th (70 to 101) to 52nd (35 to 77) of 118 nationally: 32 places up" in e["text"]
    assert e["slide"].startswith("84th without the need adjustment, 52nd with it (up 32")


def test_no_clear_shift_says_so_within_the_peer_group():
    e = trust_equity(_table(), "B", "X")
    assert "makes no clear difference" in e["text"] and "within its peer group" in e["text"]
    assert "n/a" not in e["text"] + e["slide"]


def test_a_trust_without_an_index_and_a_run_without_the_table():
    assert "not estimated" in trust_equity(_table(), "C", "Y")["slide"]
    assert "not estimated" in trust_equity(_table(), "Z", "Y")["slide"]
    assert "svi summarise" in trust_equity(None, "A", "Y")["text"]


def test_paper_counts_the_table():
    assert paper_equity(_table()) == {"n": "2", "up": "1", "down": "0", "median_shift": "16", "largest": "32"}
    assert [ordinal(x) for x in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"]

"""RTT waiting list (WLMDS) by provider and IMD decile: parser (analysis.sources.official.wlmds_imd).

Every rejection must name the file, the 1-based line (header = line 1) and the column as written in the file.
"""

from __future__ import annotations

import pandas as pd

from analysis.sources import official
from tests.analysis.sources.official.helpers import WLMDS_IMD, edit_csv, raises_at


def test_rows_suppression_and_unknown_deciles():
    frame = official.parse_wlmds_imd_decile(WLMDS_IMD)
    assert frame["imd_decile"].dtype == "Int64"
    rz1 = frame[frame.org_code == "RZ1"].dropna(subset=["imd_decile"]).set_index("imd_decile")
    assert rz1.loc[1, ["total_waiting", "within_18w"]].tolist() == [4000, 2180]  # '1 - Most deprived' read as 1
    assert rz1.loc[10, ["total_waiting", "within_18w"]].tolist() == [1900, 1250]
    unknown = frame[frame.org_code.eq("RZ1") & frame.imd_decile.isna()]
    assert unknown[["total_waiting", "within_18w"]].values.tolist() == [[150, 95]]  # 'Unknown' kept, no decile
    rz2 = frame[frame.org_code == "RZ2"]
    assert rz2[rz2.imd_decile.eq(2)][["total_waiting", "within_18w"]].isna().all(axis=None)  # '*' suppressed
    nine = rz2[rz2.imd_decile.eq(9)].iloc[0]
    assert nine.total_waiting == 120 and pd.isna(nine.within_18w)
    assert rz2.imd_decile.isna().sum() == 1  # blank decile kept as unknown
    assert frame[frame.org_code == "RZ3"].imd_decile.max() == 7  # no rows in the least deprived deciles
    assert set(frame.org_code) == {"RZ1", "RZ2", "RZ3", "RZ4", "NZ9"} and set(frame.period) == {"2026-03-29"}


def test_over_18_weeks_alone_gives_within(tmp_path):
    text = WLMDS_IMD.read_text().replace("Within 18 Weeks", "Untitled")
    f = tmp_path / "w.csv"
    f.write_text(text)
    a, b = official.parse_wlmds_imd_decile(f), official.parse_wlmds_imd_decile(WLMDS_IMD)
    known = b.within_18w.notna() & b.total_waiting.notna()
    assert (a.loc[known, "within_18w"] == b.loc[known, "within_18w"]).all()


def test_repeated_rows_are_summed_and_rollups_dropped(tmp_path):
    lines = WLMDS_IMD.read_text().splitlines()
    extra = [lines[1], lines[1].replace("1 - Most deprived", "Total").replace("4000", "99999")]
    f = tmp_path / "w.csv"
    f.write_text("\n".join(lines + extra) + "\n")
    frame = official.parse_wlmds_imd_decile(f)
    assert frame[(frame.org_code == "RZ1") & frame.imd_decile.eq(1)].total_waiting.tolist() == [8000]
    assert frame.total_waiting.max() < 99999


def test_missing_column(tmp_path):
    broken = edit_csv(WLMDS_IMD, tmp_path / "w.csv", 1, "Total Waiting List", "Waiting")
    with raises_at(broken, 1, "Total Waiting List", "missing required column.*'Total Waiting List'.*WLMDS_IMD_HEADERS"):
        official.parse_wlmds_imd_decile(broken)


def test_non_numeric_count(tmp_path):
    broken = edit_csv(WLMDS_IMD, tmp_path / "w.csv", 4, ",3000,", ",3O00,")
    with raises_at(broken, 4, "Total Waiting List", "expected a number, got '3O00'"):
        official.parse_wlmds_imd_decile(broken)


def test_negative_count(tmp_path):
    broken = edit_csv(WLMDS_IMD, tmp_path / "w.csv", 5, ",1680,", ",-1680,")
    with raises_at(broken, 5, "Within 18 Weeks", "must not be negative, got '-1680'"):
        official.parse_wlmds_imd_decile(broken)


def test_within_above_total(tmp_path):
    broken = edit_csv(WLMDS_IMD, tmp_path / "w.csv", 6, ",1600,", ",2700,")
    with raises_at(broken, 6, "Within 18 Weeks", r"within 18 weeks \(2700\) is above the total waiting \(2600\)"):
        official.parse_wlmds_imd_decile(broken)


def test_decile_out_of_range(tmp_path):
    broken = edit_csv(WLMDS_IMD, tmp_path / "w.csv", 3, ",2,", ",11,")
    with raises_at(broken, 3, "IMD Decile", "IMD decile must be 1 .* got '11'"):
        official.parse_wlmds_imd_decile(broken)

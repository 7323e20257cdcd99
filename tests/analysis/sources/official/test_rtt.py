"""RTT full CSV parser (analysis.sources.official.rtt).

Every rejection must name the file, the 1-based line (header = line 1; for spreadsheets the row
number) and the column as written in the file.
"""

from __future__ import annotations

import csv
import io

import numpy as np

from analysis.sources import official
from tests.analysis.sources.official.helpers import SHMI, RTT, AE, raises_at, edit_csv


def test_rtt_sums_commissioners_and_counts_waits():
    frame = official.parse_rtt_full_csv(RTT)
    surgery = frame[(frame.org_code == "RZ1") & (frame.rtt_part_type == "Part_2")
                    & (frame.treatment_function_code == "C_100")].iloc[0]
    # two commissioners: bands {0:40, 5:30, 17:20, 18:10, 51:4, 52:3, 104+:2} and {1:5, 20:5, 60:1}
    assert surgery["total_all"] == 120 and surgery["weeks_band_total"] == 120
    assert surgery["within_18_weeks"] == 40 + 30 + 20 + 5  # bands ending at or before 18 weeks
    assert surgery["over_52_weeks"] == 3 + 2 + 1  # bands starting at 52 weeks or later
    assert np.isnan(surgery["unknown_clock_start"]) and surgery["period"] == "RTT-March-2026"
    completed = frame[frame.rtt_part_type == "Part_1A"].iloc[0]
    assert completed["unknown_clock_start"] == 2 and completed["total_all"] == 17
    assert len(frame) == 4


def test_rtt_missing_week_band(tmp_path):
    broken = edit_csv(RTT, tmp_path / "rtt.csv", 1, "Gt 30 To 31 Weeks SUM 1", "Gt 30 To 31 Weeks")
    with raises_at(broken, 1, "Gt 30 To 31 Weeks SUM 1", "missing week band"):
        official.parse_rtt_full_csv(broken)


def test_rtt_missing_total_all(tmp_path):
    broken = edit_csv(RTT, tmp_path / "rtt.csv", 1, "Total All", "Total (all)")
    with raises_at(broken, 1, "Total All", "missing required column"):
        official.parse_rtt_full_csv(broken)


def test_rtt_negative_count(tmp_path):
    rows = list(csv.reader(io.StringIO(RTT.read_text(encoding="utf-8"), newline="")))
    band = rows[0].index("Gt 03 To 04 Weeks SUM 1")
    assert rows[5][band] == "7"  # RZ2 orthopaedics, line 6
    rows[5][band] = "-7"
    broken = tmp_path / "rtt.csv"
    with broken.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    with raises_at(broken, 6, "Gt 03 To 04 Weeks SUM 1", "must not be negative, got '-7'"):
        official.parse_rtt_full_csv(broken)


def test_rows_with_too_many_or_too_few_fields_are_rejected(tmp_path):
    unquoted = edit_csv(SHMI, tmp_path / "shmi.csv", 4, "0.8472", "0,8472")
    with raises_at(unquoted, 4, None, "has 8 fields but the header .* has 7: a value holds an unquoted comma"):
        official.parse_shmi_trust(unquoted)
    cut = tmp_path / "ae.csv"
    data = AE.read_bytes()
    cut.write_bytes(data[: data.index(b"RIVERSIDE URGENT") + 9])  # a download cut short
    with raises_at(cut, 4, None, "fields but the header"):
        official.parse_ae_monthly(cut)


def test_rtt_blank_total_all(tmp_path):
    lines = RTT.read_bytes().split(b"\n")
    lines[2] = lines[2].rsplit(b",", 1)[0] + b",\r"
    broken = tmp_path / "rtt.csv"
    broken.write_bytes(b"\n".join(lines))
    with raises_at(broken, 3, "Total All", "must not be blank"):
        official.parse_rtt_full_csv(broken)

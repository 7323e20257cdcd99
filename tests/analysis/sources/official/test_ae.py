"""A&E monthly CSV parser (analysis.sources.official.ae).

Every rejection must name the file, the 1-based line (header = line 1; for spreadsheets the row
number) and the column as written in the file.
"""

from __future__ import annotations

import csv

import pandas as pd

from analysis.sources import official
from tests.analysis.sources.official.helpers import AE, raises_at, edit_csv


def test_ae_drops_the_total_row_and_keeps_every_count():
    frame = official.parse_ae_monthly(AE).set_index("org_code")
    assert list(frame.index) == ["RZ1", "RZ2", "NZ9"]
    rz1 = frame.loc["RZ1"]
    assert rz1["period"] == "MSitAE-MARCH-2026" and rz1["parent_org"] == "NHS ENGLAND MIDLANDS"
    assert rz1[["attendances_type1", "over_4h_type1", "dta_wait_over_12h"]].tolist() == [12001, 3900, 310]
    assert frame.loc["NZ9", "attendances_other"] == 2900


def test_ae_optional_columns_may_be_absent(tmp_path):
    table = pd.read_csv(AE, dtype=str, keep_default_na=False)
    table = table.drop(columns=["Patients who have waited 4-12 hs from DTA to admission"])
    older = tmp_path / "older.csv"
    table.to_csv(older, index=False)
    frame = official.parse_ae_monthly(older)
    assert frame["dta_wait_4_12h"].isna().all() and frame["dta_wait_over_12h"].notna().all()


def test_ae_missing_required_column(tmp_path):
    broken = edit_csv(AE, tmp_path / "ae.csv", 1, "Attendances over 4hrs Type 1,", "Attendances > 4hrs Type 1,")
    with raises_at(broken, 1, "Attendances over 4hrs Type 1", "missing required column"):
        official.parse_ae_monthly(broken)


def test_ae_non_numeric_count(tmp_path):
    broken = edit_csv(AE, tmp_path / "ae.csv", 3, ",410,", ",4l0,")
    with raises_at(broken, 3, "A&E attendances Type 2", "expected a number, got '4l0'"):
        official.parse_ae_monthly(broken)


def test_ae_wrong_encoding_names_line_and_column(tmp_path):
    broken = tmp_path / "ae.csv"
    broken.write_bytes(AE.read_bytes().replace(b"RIVERSIDE URGENT", b"RIVERSIDE \x96 URGENT"))
    with raises_at(broken, 4, "Org name", r"not valid UTF-8 text \(byte 0x96"):
        official.parse_ae_monthly(broken)

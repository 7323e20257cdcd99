"""IoD 2019 File 10 parser (analysis.sources.official.imd).

Every rejection must name the file, the 1-based line (header = line 1; for spreadsheets the row
number) and the column as written in the file.
"""

from __future__ import annotations


import pytest
from openpyxl import load_workbook

from analysis.sources import official
from tests.analysis.sources.official.helpers import IMD, raises_at


def test_imd_joins_the_domain_sheets():
    frame = official.parse_imd2019_ltla(IMD).set_index("lad_code")
    assert frame.loc["E08000903", "lad_name"] == "Port Ashby"
    assert frame.loc["E08000903", "imd_average_score"] == pytest.approx(35.774)  # header 'IMD - Average score '
    assert frame.loc["E07000902", "income_average_score"] == pytest.approx(0.075)
    assert frame.loc["E07000902", "health_average_score"] == pytest.approx(-0.652)  # health scores can be < 0


def test_imd_non_numeric_score(tmp_path):
    workbook = load_workbook(IMD)
    workbook["Income"]["E3"] = "0.07 5"
    broken = tmp_path / IMD.name
    workbook.save(broken)
    with raises_at(f"{broken} [sheet 'Income']", 3, "Income - Average score ", "got '0.07 5'"):
        official.parse_imd2019_ltla(broken)


def test_imd_district_missing_from_a_domain_sheet(tmp_path):
    workbook = load_workbook(IMD)
    workbook["Health"].delete_rows(3)
    broken = tmp_path / IMD.name
    workbook.save(broken)
    with raises_at(f"{broken} [sheet 'Health']", None, "Local Authority District code (2019)",
                   "district 'E07000902' .* is missing"):
        official.parse_imd2019_ltla(broken)

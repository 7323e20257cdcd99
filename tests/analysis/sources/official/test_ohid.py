"""OHID catchment populations parser (analysis.sources.official.ohid).

Every rejection must name the file, the 1-based line (header = line 1; for spreadsheets the row
number) and the column as written in the file.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from analysis.sources import official
from tests.analysis.sources.official.helpers import AE, OHID, raises_at


def ods_copy(tmp_path: Path, old: str, new: str) -> Path:
    dest = tmp_path / OHID.name
    with zipfile.ZipFile(OHID) as src, zipfile.ZipFile(dest, "w") as out:
        for name in src.namelist():
            data = src.read(name)
            if name == "content.xml":
                assert old.encode() in data
                data = data.replace(old.encode(), new.encode(), 1)
            out.writestr(name, data)
    return dest


def test_ohid_reads_table_1():
    frame = official.parse_ohid_catchments(OHID)
    assert len(frame) == 7  # the repeated empty rows below the table are not data
    rz1 = frame[(frame.org_code == "RZ1") & (frame.admission_type == "All Admissions")]
    assert rz1["catchment_population"].sum() == pytest.approx(10234.56 + 6021.4 + 9870.02 + 7011.98)
    assert frame["catchment_year"].dtype == "Int64" and set(frame["catchment_year"]) == {2024}
    assert set(frame["sex_description"]) == {"Male", "Female"}


def test_ohid_non_numeric_population(tmp_path):
    broken = ods_copy(tmp_path, 'office:value-type="float" office:value="6021.4"><text:p>6021.4</text:p>',
                      'office:value-type="string"><text:p>c. 6000</text:p>')
    # title row 1, note row 2, header row 3, first trust row 4
    with raises_at(f"{broken} [sheet 'Trust_analysis']", 5, "Catchment population", "got 'c. 6000'"):
        official.parse_ohid_catchments(broken)


def test_ohid_missing_column(tmp_path):
    broken = ods_copy(tmp_path, "<text:p>Age group</text:p>", "<text:p>Age band</text:p>")
    with raises_at(f"{broken} [sheet 'Trust_analysis']", 3, "Age group", "missing required column"):
        official.parse_ohid_catchments(broken)


def test_ohid_missing_sheet(tmp_path):
    broken = ods_copy(tmp_path, 'table:name="Trust_analysis"', 'table:name="Table_1"')
    with raises_at(broken, None, None, r"has no sheet 'Trust_analysis' \(sheets: Table_1, All_admissions\)"):
        official.parse_ohid_catchments(broken)


def test_ohid_not_a_spreadsheet(tmp_path):
    with raises_at(AE, None, None, "not an OpenDocument spreadsheet"):
        official.parse_ohid_catchments(AE)

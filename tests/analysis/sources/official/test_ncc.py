"""National Cost Collection parser (analysis.sources.official.ncc).

Every rejection must name the file, the 1-based line (header = line 1; for spreadsheets the row
number) and the column as written in the file.
"""

from __future__ import annotations

import csv
import zipfile

import pytest

from analysis.sources import official
from tests.analysis.sources.official.helpers import NCC, raises_at, edit_csv


def test_ncc_sums_by_provider_and_mapping_pot():
    frame = official.parse_ncc_org_mff(NCC).set_index(["org_code", "mapping_pot"])
    op = frame.loc[("RZ1", "05_OP")]
    assert op["rows"] == 2 and op["suppressed_cells"] == 3  # one row fully suppressed ('*')
    assert op["activity"] == 5100 and op["actual_cost_mffd_gbp"] == 765000.0
    assert frame.loc[("RZ1", "01_EI"), "actual_cost_mffd_gbp"] == pytest.approx(310000.5)
    assert frame["actual_cost_mffd_gbp"].sum() == pytest.approx(4017000.5)
    assert set(frame.index.get_level_values("mapping_pot")) <= set(official.NCC_MAPPING_POT_SETTINGS)


def test_ncc_reads_a_zip_with_one_csv(tmp_path):
    archive = tmp_path / "NCC_FY2024-25_Org_File2.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(NCC, f"NCC_FY2024-25_Org_File2/{NCC.name}")
    assert official.parse_ncc_org_mff(archive).equals(official.parse_ncc_org_mff(NCC))


def test_ncc_non_numeric_cost(tmp_path):
    broken = edit_csv(NCC, tmp_path / "ncc.csv", 8, "350000.00", '"£350,000"')
    with raises_at(broken, 8, "MFFd Actual Cost", "expected a number, got '£350,000'"):
        official.parse_ncc_org_mff(broken)


def test_ncc_missing_provider_code(tmp_path):
    broken = edit_csv(NCC, tmp_path / "ncc.csv", 3, "RZ1,", ",")
    with raises_at(broken, 3, "Provider Code", "is empty"):
        official.parse_ncc_org_mff(broken)

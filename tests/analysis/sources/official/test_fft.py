"""Friends and Family Test workbook parser (analysis.sources.official.fft).

Every rejection must name the file, the 1-based line (header = line 1; for spreadsheets the row
number) and the column as written in the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from openpyxl import load_workbook

from analysis.sources import official
from tests.analysis.sources.official.helpers import AE, FFT, raises_at


def fft_copy(tmp_path: Path, cell: str, value: object) -> Path:
    workbook = load_workbook(FFT)
    workbook["Trusts"][cell] = value
    dest = tmp_path / FFT.name
    workbook.save(dest)
    return dest


def test_fft_skips_england_rows_and_reads_shares():
    frame = official.parse_fft_inpatient(FFT).set_index("org_code")
    assert list(frame.index) == ["RZ1", "RZ2", "RZ3"]  # England summary rows have no trust code
    assert frame.loc["RZ1", "share_positive"] == pytest.approx(0.96)
    assert frame.loc["RZ1", "total_responses"] == 1500 and frame.loc["RZ1", "icb_code"] == "QZ1"
    assert np.isnan(frame.loc["RZ2", "dont_know"])  # suppressed '*'


def test_fft_non_numeric_cell(tmp_path):
    broken = fft_copy(tmp_path, "D16", "lots")
    with raises_at(f"{broken} [sheet 'Trusts']", 16, "Total Responses", "expected a number, got 'lots'"):
        official.parse_fft_inpatient(broken)


def test_fft_share_given_as_percentage(tmp_path):
    broken = fft_copy(tmp_path, "F17", 97.5)
    with raises_at(f"{broken} [sheet 'Trusts']", 17, "Percentage Positive", "between 0 and 1, got '97.5'"):
        official.parse_fft_inpatient(broken)


def test_fft_missing_column(tmp_path):
    broken = fft_copy(tmp_path, "E10", "Eligible")
    with raises_at(f"{broken} [sheet 'Trusts']", 10, "Total Eligible", "missing required column"):
        official.parse_fft_inpatient(broken)


def test_fft_missing_sheet_and_wrong_format(tmp_path):
    workbook = load_workbook(FFT)
    workbook["Trusts"].title = "Providers"
    renamed = tmp_path / FFT.name
    workbook.save(renamed)
    with raises_at(renamed, None, None, r"has no sheet 'Trusts' \(sheets: Notes, Providers\)"):
        official.parse_fft_inpatient(renamed)
    with raises_at(AE, None, None, "is not an Excel workbook"):
        official.parse_fft_inpatient(AE)

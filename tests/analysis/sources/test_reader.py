"""The one reader stack: compiled CSVs and official publications accept and refuse the same cells."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.errors import DataError
from analysis.schema import Range
from analysis.sources.base import read_csv_checked
from analysis.sources.official import parse_ae_monthly
from analysis.sources.reader import MISSING_TOKENS, is_missing_token, parse_numbers

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "official"
AE = FIXTURES / "Monthly-AE-March-2026.csv"
ANY = Range(-1e9, 1e9, "test range")

#: written forms of the tokens: as listed, upper case, padded with spaces
WRITTEN = sorted({form for t in MISSING_TOKENS for form in (t, t.upper(), f" {t} ")})


def compiled_value(tmp_path: Path, cell: str) -> float:
    """The value a compiled loader reads from one numeric cell."""
    path = tmp_path / "compiled.csv"
    path.write_text(f'code,value\nRAA,"{cell}"\n', encoding="utf-8")
    frame = read_csv_checked(path, required={"code": "str", "value": "num"}, key="code", ranges={"value": ANY})
    return frame["value"].iloc[0]


def official_value(tmp_path: Path, cell: str) -> float:
    """The value the official A&E parser reads from RZ2's type 2 attendances (line 3, a quoted name before it)."""
    rows = list(csv.reader(io.StringIO(AE.read_bytes().decode(), newline="")))
    assert rows[2][1] == "RZ2" and rows[2][5] == "410"
    rows[2][5] = cell
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path = tmp_path / "ae.csv"
    path.write_bytes(buf.getvalue().encode())
    return parse_ae_monthly(path).set_index("org_code").loc["RZ2", "attendances_type2"]


@pytest.mark.parametrize("cell", WRITTEN)
def test_every_missing_token_is_missing_on_both_sides(tmp_path, cell):
    assert is_missing_token(cell)
    assert np.isnan(compiled_value(tmp_path, cell))
    assert np.isnan(official_value(tmp_path, cell))


@pytest.mark.parametrize("cell, value", [("1,234", 1234.0), (" 410 ", 410.0), ("2.5e3", 2500.0)])
def test_numbers_are_read_alike_on_both_sides(tmp_path, cell, value):
    assert compiled_value(tmp_path, cell) == value
    assert official_value(tmp_path, cell) == value


@pytest.mark.parametrize("cell", ["4l0", "£410", "n.a.", "O"])
def test_a_cell_that_is_neither_number_nor_missing_is_refused_on_both_sides(tmp_path, cell):
    with pytest.raises(DataError, match=f"line 2, column 'value': expected a number, got '{cell}'"):
        compiled_value(tmp_path, cell)
    with pytest.raises(DataError, match=f"line 3, column 'A&E attendances Type 2': expected a number, got '{cell}'"):
        official_value(tmp_path, cell)


def test_parse_numbers_separates_missing_from_unparsed():
    numbers, missing, unparsed = parse_numbers(pd.Series(["1", "*", "x1", "", "inf"], dtype=object))
    assert missing.tolist() == [False, True, False, True, False]
    assert unparsed.tolist() == [False, False, True, False, False]
    assert numbers.iloc[0] == 1 and np.isinf(numbers.iloc[4])

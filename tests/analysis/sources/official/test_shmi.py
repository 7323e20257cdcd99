"""SHMI trust-level CSV parser (analysis.sources.official.shmi).

Every rejection must name the file, the 1-based line (header = line 1; for spreadsheets the row
number) and the column as written in the file.
"""

from __future__ import annotations

import csv
import zipfile

import pytest

from analysis.sources import official
from tests.analysis.sources.official.helpers import SHMI, raises_at, edit_csv


def test_shmi_values_and_suppression():
    frame = official.parse_shmi_trust(SHMI).set_index("org_code")
    assert frame.loc["RZ2", "org_name"] == "BETA, GAMMA AND DELTA NHS TRUST"  # quoted comma
    assert frame.loc["RZ1", ["spells", "observed_deaths", "expected_deaths"]].tolist() == [100115, 2995, 2895]
    assert frame.loc["RZ1", "shmi_value"] == pytest.approx(1.0345)
    assert frame["banding"].dtype == "Int64" and frame.loc["RZ3", "banding"] == 3
    assert frame.loc["RZ4"].drop("org_name").isna().all()  # '*' and '**' are suppression markers


def test_shmi_reads_the_trust_level_csv_from_the_publication_zip(tmp_path):
    archive = tmp_path / "SHMI_data_Jan25-Dec25.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(SHMI, f"SHMI data/{SHMI.name}")
        z.writestr("SHMI data/Historical_trust_level_SHMI_data_Jan25-Dec25_csv.csv", "TIME_PERIOD\n")
        z.writestr("SHMI data/SHMI_contextual_indicators_Jan25-Dec25_csv.csv", "x\n")
    assert official.parse_shmi_trust(archive).equals(official.parse_shmi_trust(SHMI))


def test_shmi_zip_without_a_trust_level_csv_is_rejected(tmp_path):
    archive = tmp_path / "SHMI.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("SHMI data/SHMI_contextual_indicators.csv", "x\n")
    with raises_at(archive, None, None, "found 0 .*archive holds: SHMI data/SHMI_contextual_indicators.csv"):
        official.parse_shmi_trust(archive)


def test_shmi_non_numeric_value(tmp_path):
    broken = edit_csv(SHMI, tmp_path / "shmi.csv", 3, "45020", "45O20")
    with raises_at(broken, 3, "SPELLS", "expected a number, got '45O20'"):
        official.parse_shmi_trust(broken)


def test_shmi_error_inside_a_zip_names_the_member(tmp_path):
    broken = edit_csv(SHMI, tmp_path / SHMI.name, 4, "0.8472", "0.84.72")
    archive = tmp_path / "SHMI.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(broken, f"SHMI data/{SHMI.name}")
    with raises_at(f"{archive} (member SHMI data/{SHMI.name})", 4, "SHMI_VALUE", "expected a number"):
        official.parse_shmi_trust(archive)


def test_shmi_line_numbers_count_blank_lines_and_quoted_newlines(tmp_path):
    text = SHMI.read_bytes().decode()
    text = text.replace("ALPHA VALLEY HOSPITALS", '"ALPHA VALLEY\nHOSPITALS', 1).replace("FOUNDATION TRUST,",
                                                                                        'FOUNDATION TRUST",', 1)
    text = text.replace("PROVIDER_CODE", "\r\nPROVIDER_CODE", 1).replace("0.8472", "O.8472")
    broken = tmp_path / "shmi.csv"
    broken.write_bytes(text.encode())
    # blank line 1, header line 2, RZ1 spans lines 3-4, RZ2 line 5, RZ3 line 6
    with raises_at(broken, 6, "SHMI_VALUE", "got 'O.8472'"):
        official.parse_shmi_trust(broken)


def test_shmi_banding_outside_1_to_3(tmp_path):
    broken = edit_csv(SHMI, tmp_path / "shmi.csv", 2, "1.0345,2,", "1.0345,4,")
    with raises_at(broken, 2, "SHMI_BANDING", "banding must be 1, 2 or 3, got '4'"):
        official.parse_shmi_trust(broken)


def test_shmi_missing_column(tmp_path):
    broken = edit_csv(SHMI, tmp_path / "shmi.csv", 1, "OBSERVED", "OBSERVED_DEATHS")
    with raises_at(broken, 1, "OBSERVED", "missing required column.*the header has: .*'OBSERVED_DEATHS'"):
        official.parse_shmi_trust(broken)


def test_shmi_historical_multi_period_file_is_rejected(tmp_path):
    lines = SHMI.read_bytes().split(b"\n")
    broken = tmp_path / "shmi.csv"
    broken.write_bytes(b"\n".join([*lines[:3], lines[1], *lines[3:]]))
    with raises_at(broken, 4, "PROVIDER_CODE", "'RZ1' appears more than once.*Historical.*first on line 2"):
        official.parse_shmi_trust(broken)


def test_shmi_wrong_encoding(tmp_path):
    broken = tmp_path / "shmi.csv"
    broken.write_bytes(SHMI.read_bytes().replace(b"ST ELSEWHERE", b"ST \xc9LSEWHERE"))
    with raises_at(broken, 4, "PROVIDER_NAME", "not valid UTF-8 text.*encoding='cp1252'"):
        official.parse_shmi_trust(broken)
    frame = official.parse_shmi_trust(broken, encoding="cp1252")  # the way out the message suggests
    assert frame.loc[2, "org_name"] == "ST \u00c9LSEWHERE UNIVERSITY HOSPITALS NHS TRUST"


def test_shmi_header_without_rows(tmp_path):
    broken = tmp_path / "shmi.csv"
    broken.write_bytes(SHMI.read_bytes().split(b"\n")[0] + b"\n")
    with raises_at(broken, None, None, r"has a header \(line 1\) but no data rows"):
        official.parse_shmi_trust(broken)


def test_utf8_byte_order_mark_is_accepted(tmp_path):
    with_bom = tmp_path / "shmi.csv"
    with_bom.write_bytes(b"\xef\xbb\xbf" + SHMI.read_bytes())
    assert official.parse_shmi_trust(with_bom).equals(official.parse_shmi_trust(SHMI))

"""Parsers of the official publications: each reads its fixture and rejects broken copies.

Every rejection must name the file, the 1-based line (header = line 1; for
spreadsheets the row number) and the column as written in the file.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from analysis.sources import official
from analysis.errors import DataError
from analysis.registry import load_registry

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "official"
SHMI = FIXTURES / "SHMI_data_at_trust_level_Jan25-Dec25_csv.csv"
NCC = FIXTURES / "NCC_FY2024-25_Org_File2.csv"
RTT = FIXTURES / "20260331-RTT-March-2026-full-extract.csv"
AE = FIXTURES / "Monthly-AE-March-2026.csv"
FFT = FIXTURES / "friends-and-family-test-inpatient-data-march-2026.xlsm"
IMD = FIXTURES / "File_10_-_IoD2019_Local_Authority_District_Summaries__lower-tier__.xlsx"
OHID = FIXTURES / "nhs-acute-hospital-trust-catchment-populations-data_tables-april-2026.ods"

PARSERS: list[tuple[Callable[[Path], pd.DataFrame], Path, tuple[str, ...]]] = [
    (official.parse_shmi_trust, SHMI, official.SHMI_COLUMNS),
    (official.parse_ncc_org_mff, NCC, official.NCC_COLUMNS),
    (official.parse_rtt_full_csv, RTT, official.RTT_COLUMNS),
    (official.parse_ae_monthly, AE, official.AE_COLUMNS),
    (official.parse_fft_inpatient, FFT, official.FFT_COLUMNS),
    (official.parse_imd2019_ltla, IMD, official.IMD_COLUMNS),
    (official.parse_ohid_catchments, OHID, official.OHID_COLUMNS),
]


def raises_at(file: Path | str, line: int | None, column: str | None, message: str = "") -> pytest.RaisesContext:
    """Expect a DataError naming ``file``, ``line`` and ``column`` (and matching ``message``)."""
    where = f"file {re.escape(str(file))}"
    if line is not None:
        where += f", line {line}"
    if column is not None:
        where += f", column '{re.escape(column)}'"
    return pytest.raises(DataError, match=f"^{where}: .*{message}")


def edit_csv(src: Path, dest: Path, line: int, old: str, new: str) -> Path:
    """Copy a CSV, replacing ``old`` by ``new`` once on 1-based ``line``."""
    lines = src.read_bytes().split(b"\n")
    assert old.encode() in lines[line - 1], (old, lines[line - 1])
    lines[line - 1] = lines[line - 1].replace(old.encode(), new.encode(), 1)
    dest.write_bytes(b"\n".join(lines))
    return dest


# --------------------------------------------------------------------------------------------------
# Every parser
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("parse, fixture, columns", PARSERS, ids=lambda p: getattr(p, "__name__", ""))
def test_parser_returns_its_documented_columns(parse, fixture, columns):
    frame = parse(fixture)
    assert tuple(frame.columns) == columns
    assert len(frame) > 0
    assert frame.index.equals(pd.RangeIndex(len(frame)))


@pytest.mark.parametrize("parse, fixture, columns", PARSERS, ids=lambda p: getattr(p, "__name__", ""))
def test_missing_and_empty_files_are_data_errors(parse, fixture, columns, tmp_path):
    with raises_at(tmp_path / "absent", None, None, "file not found"):
        parse(tmp_path / "absent")
    empty = tmp_path / fixture.name
    empty.write_bytes(b"")
    with raises_at(empty, None, None, "file is empty"):
        parse(empty)


def test_registry_entries_use_these_parsers():
    registry = load_registry()
    fixtures = {"shmi_trust": SHMI, "ncc_org_mff": NCC, "rtt_full_csv": RTT, "ae_monthly": AE,
                "fft_inpatient": FFT, "imd2019_ltla": IMD, "ohid_catchments": OHID}
    for name, fixture in fixtures.items():
        assert len(registry.get(name).parse(fixture)) > 0, name


# --------------------------------------------------------------------------------------------------
# SHMI
# --------------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------------
# National Cost Collection
# --------------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------------
# RTT
# --------------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------------
# A&E
# --------------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------------
# Friends and Family Test
# --------------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------------
# IoD 2019
# --------------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------------
# OHID catchments (ODS)
# --------------------------------------------------------------------------------------------------

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

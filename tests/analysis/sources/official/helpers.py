"""Shared fixtures paths and helpers of the official-parser tests."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from analysis.errors import DataError
from analysis.sources import official

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "official"
SHMI = FIXTURES / "SHMI_data_at_trust_level_Jan25-Dec25_csv.csv"
NCC = FIXTURES / "NCC_FY2024-25_Org_File2.csv"
RTT = FIXTURES / "20260331-RTT-March-2026-full-extract.csv"
AE = FIXTURES / "Monthly-AE-March-2026.csv"
FFT = FIXTURES / "friends-and-family-test-inpatient-data-march-2026.xlsm"
IMD = FIXTURES / "File_10_-_IoD2019_Local_Authority_District_Summaries__lower-tier__.xlsx"
OHID = FIXTURES / "nhs-acute-hospital-trust-catchment-populations-data_tables-april-2026.ods"
WLMDS_IMD = FIXTURES / "WLMDS-RTT-waiting-list-by-provider-and-IMD-decile-Mar26.csv"
CWT = FIXTURES / "2025-26-Oct-Mar-Cumulative-Monthly-Combined-CSV-Provisional.csv"

PARSERS: list[tuple[Callable[[Path], pd.DataFrame], Path, tuple[str, ...]]] = [
    (official.parse_shmi_trust, SHMI, official.SHMI_COLUMNS),
    (official.parse_ncc_org_mff, NCC, official.NCC_COLUMNS),
    (official.parse_rtt_full_csv, RTT, official.RTT_COLUMNS),
    (official.parse_ae_monthly, AE, official.AE_COLUMNS),
    (official.parse_fft_inpatient, FFT, official.FFT_COLUMNS),
    (official.parse_imd2019_ltla, IMD, official.IMD_COLUMNS),
    (official.parse_ohid_catchments, OHID, official.OHID_COLUMNS),
    (official.parse_wlmds_imd_decile, WLMDS_IMD, official.WLMDS_IMD_COLUMNS),
    (official.parse_cwt_combined, CWT, official.CWT_COLUMNS),
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



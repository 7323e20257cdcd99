"""Parsers for the official publications listed in ``data/registry.toml``.

One parser per published format.  Each takes the path of a file as it is
downloaded (a ZIP archive, CSV, XLSX/XLSM workbook or ODS spreadsheet) and
returns a tidy :class:`pandas.DataFrame` whose columns are listed, in order, in
the parser's ``*_COLUMNS`` constant and documented in its docstring.  Counts
and amounts are ``float`` (``NaN`` where the publisher suppressed or left the
cell blank); codes and names are ``str``.

Parsers validate what they read and raise :class:`analysis.errors.DataError`
naming the file, the 1-based line and the column as written in the file:

* the file is missing, empty, or not in the expected container format;
* a required column is missing (reported on the header line);
* a value that must be a number is not one, or a count is negative;
* the bytes are not valid text in the expected encoding (UTF-8 by default).

For spreadsheets the "line" is the row number the spreadsheet program shows,
and the file is reported as ``path [sheet 'NAME']``.  Column headers are
matched after collapsing white space and ignoring case, because publishers
vary both between releases (e.g. trailing spaces in IoD 2019 File 10).

Layouts were taken from public code that reads the real files; each parser's
docstring says which columns it relies on.  Columns that a parser does not
use are ignored, so added columns in a new release do not break it.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree

import numpy as np
import pandas as pd

from analysis.errors import DataError

__all__ = [
    "AE_COLUMNS", "FFT_COLUMNS", "IMD_COLUMNS", "NCC_COLUMNS", "NCC_MAPPING_POT_SETTINGS", "OHID_COLUMNS",
    "RTT_COLUMNS", "SHMI_COLUMNS",
    "parse_ae_monthly", "parse_fft_inpatient", "parse_imd2019_ltla", "parse_ncc_org_mff",
    "parse_ohid_catchments", "parse_rtt_full_csv", "parse_shmi_trust",
]

# --------------------------------------------------------------------------------------------------
# Output columns of each parser
# --------------------------------------------------------------------------------------------------

SHMI_COLUMNS = ("org_code", "org_name", "spells", "observed_deaths", "expected_deaths", "shmi_value", "banding")
NCC_COLUMNS = ("org_code", "mapping_pot", "activity", "actual_cost_mffd_gbp", "expected_cost_mffd_gbp", "rows",
               "suppressed_cells")
RTT_COLUMNS = ("period", "org_code", "org_name", "rtt_part_type", "rtt_part_description",
               "treatment_function_code", "treatment_function_name", "total_all", "weeks_band_total",
               "within_18_weeks", "over_52_weeks", "unknown_clock_start")
AE_COLUMNS = ("period", "org_code", "parent_org", "org_name",
              "attendances_type1", "attendances_type2", "attendances_other",
              "booked_attendances_type1", "booked_attendances_type2", "booked_attendances_other",
              "over_4h_type1", "over_4h_type2", "over_4h_other",
              "booked_over_4h_type1", "booked_over_4h_type2", "booked_over_4h_other",
              "dta_wait_4_12h", "dta_wait_over_12h",
              "emergency_admissions_type1", "emergency_admissions_type2", "emergency_admissions_other",
              "other_emergency_admissions")
FFT_COLUMNS = ("org_code", "org_name", "icb_code", "total_responses", "total_eligible", "share_positive",
               "share_negative", "very_good", "good", "neither_good_nor_poor", "poor", "very_poor", "dont_know")
IMD_COLUMNS = ("lad_code", "lad_name", "imd_average_rank", "imd_rank_of_average_rank", "imd_average_score",
               "imd_rank_of_average_score", "imd_proportion_most_deprived_10pct", "income_average_score",
               "health_average_score")
OHID_COLUMNS = ("catchment_year", "admission_type", "org_code", "org_name", "trust_type", "sex",
                "sex_description", "age_group", "catchment_population")

NCC_MAPPING_POT_SETTINGS = {"01_EI": "apc", "02_NEI": "apc", "05_OP": "op", "11_A&E": "ae"}
"""Mapping pots grouped into the cost settings of the panel (``analysis.schema``): elective and
non-elective inpatients are admitted patient care.  Pot codes as found in the 2024/25 File 2 by public
ingestion code; pots not listed (e.g. community, mental health) count only towards the total."""

_SUPPRESSED = ("", "*", "**")  # blank, or small-number suppression markers used by NHS publishers


# --------------------------------------------------------------------------------------------------
# SHMI
# --------------------------------------------------------------------------------------------------

def parse_shmi_trust(path: str | Path, *, encoding: str = "utf-8") -> pd.DataFrame:
    """Parse the SHMI trust-level CSV (NHS England / NHS Digital, monthly).

    ``path`` is either the CSV or the publication's ZIP ("SHMI data"), from which
    the single trust-level CSV (``*trust_level*.csv``, not the ``Historical``
    multi-period file) is read.

    Source columns: ``PROVIDER_CODE``, ``PROVIDER_NAME``, ``SPELLS``, ``OBSERVED``,
    ``EXPECTED``, ``SHMI_VALUE``, ``SHMI_BANDING``.

    Returns one row per trust (:data:`SHMI_COLUMNS`):

    * ``org_code``, ``org_name`` -- ODS code and name of the trust;
    * ``spells`` -- provider spells in the period;
    * ``observed_deaths`` -- deaths in hospital or within 30 days of discharge;
    * ``expected_deaths`` -- expected deaths from the national risk model;
    * ``shmi_value`` -- the published ratio observed / expected;
    * ``banding`` -- ``Int64``: 1 higher than expected, 2 as expected, 3 lower
      than expected; ``<NA>`` where suppressed.

    Suppressed cells (blank, ``*``, ``**``) become missing.  A trust appearing
    twice (for example in the multi-period historical file) is an error.
    """
    src = _csv_source(path, pick=_is_shmi_trust_member, what="the trust-level SHMI CSV")
    cols = {"PROVIDER_CODE": "org_code", "PROVIDER_NAME": "org_name", "SPELLS": "spells",
            "OBSERVED": "observed_deaths", "EXPECTED": "expected_deaths", "SHMI_VALUE": "shmi_value",
            "SHMI_BANDING": "banding"}
    table = _read_csv(src, required=list(cols), text=["PROVIDER_CODE", "PROVIDER_NAME"], encoding=encoding)
    out = pd.DataFrame(index=table.frame.index)
    out["org_code"] = table.text("PROVIDER_CODE", required=True)
    out["org_name"] = table.text("PROVIDER_NAME")
    for source in ("SPELLS", "OBSERVED", "EXPECTED", "SHMI_VALUE"):
        out[cols[source]] = table.number(source)
    banding = table.number("SHMI_BANDING")
    bad = banding.notna() & ~banding.isin([1, 2, 3])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise table.error(i, "SHMI_BANDING", f"banding must be 1, 2 or 3, got {table.raw('SHMI_BANDING', i)}")
    out["banding"] = banding.astype("Int64")
    table.check_unique(out["org_code"], "PROVIDER_CODE",
                       "appears more than once; is this the multi-period 'Historical' file?")
    return _finish(out, SHMI_COLUMNS)


def _is_shmi_trust_member(name: str) -> bool:
    low = Path(name).name.lower().replace(" ", "_")
    return "trust_level" in low and "historical" not in low


# --------------------------------------------------------------------------------------------------
# National Cost Collection
# --------------------------------------------------------------------------------------------------

def parse_ncc_org_mff(path: str | Path, *, encoding: str = "utf-8") -> pd.DataFrame:
    """Parse the National Cost Collection organisation-level MFF-adjusted file (NHS England, "File 2").

    ``path`` is the CSV or the ZIP holding it.  The file has one row per
    provider x department x service x currency (over a million rows).

    Source columns: ``Provider Code``, ``Mapping Pot``, ``Activity``,
    ``MFFd Actual Cost``, ``MFFd Expected Cost``.

    Returns one row per provider and mapping pot (:data:`NCC_COLUMNS`), summed
    over the rows of the file:

    * ``org_code`` -- provider code; ``mapping_pot`` -- e.g. ``01_EI``
      (see :data:`NCC_MAPPING_POT_SETTINGS`);
    * ``activity`` -- total activity (the currency's own unit: FCEs, attendances...);
    * ``actual_cost_mffd_gbp`` / ``expected_cost_mffd_gbp`` -- MFF-adjusted actual
      cost and expected cost (activity x national average unit cost), in pounds;
    * ``rows`` -- rows of the file summed; ``suppressed_cells`` -- cells among the
      three amounts that were suppressed (``*``) or blank and so left out of the sums.
    """
    src = _csv_source(path, what="the organisation-level cost CSV")
    required = ["Provider Code", "Mapping Pot", "Activity", "MFFd Actual Cost", "MFFd Expected Cost"]
    table = _read_csv(src, required=required, text=["Provider Code", "Mapping Pot"], encoding=encoding)
    rows = pd.DataFrame({"org_code": table.text("Provider Code", required=True),
                         "mapping_pot": table.text("Mapping Pot", required=True)})
    amounts = {"activity": "Activity", "actual_cost_mffd_gbp": "MFFd Actual Cost",
               "expected_cost_mffd_gbp": "MFFd Expected Cost"}
    for name, source in amounts.items():
        rows[name] = table.number(source)
    rows["rows"] = 1
    rows["suppressed_cells"] = rows[list(amounts)].isna().sum(axis=1)
    out = (rows.groupby(["org_code", "mapping_pot"], sort=True)
           .agg(activity=("activity", lambda s: s.sum(min_count=1)),
                actual_cost_mffd_gbp=("actual_cost_mffd_gbp", lambda s: s.sum(min_count=1)),
                expected_cost_mffd_gbp=("expected_cost_mffd_gbp", lambda s: s.sum(min_count=1)),
                rows=("rows", "sum"), suppressed_cells=("suppressed_cells", "sum"))
           .reset_index())
    return _finish(out, NCC_COLUMNS)


# --------------------------------------------------------------------------------------------------
# RTT
# --------------------------------------------------------------------------------------------------

_RTT_BAND = re.compile(r"^gt (\d+) to (\d+) weeks sum 1$")
_RTT_OPEN_BAND = re.compile(r"^gt (\d+) weeks sum 1$")


def parse_rtt_full_csv(path: str | Path, *, encoding: str = "utf-8") -> pd.DataFrame:
    """Parse the monthly RTT "Full CSV data file" (NHS England, consultant-led referral to treatment).

    ``path`` is the ZIP as published or the CSV inside it.  The CSV has one row
    per provider x commissioner x RTT part x treatment function, wide on
    weeks-waited bands ``Gt 00 To 01 Weeks SUM 1`` ... ``Gt 103 To 104 Weeks SUM 1``
    and the open band ``Gt 104 Weeks SUM 1`` (older extracts stop earlier; any
    contiguous set of bands ending in an open band of at least 52 weeks is accepted).

    Source columns: ``Period``, ``Provider Org Code``, ``Provider Org Name``,
    ``RTT Part Type``, ``RTT Part Description``, ``Treatment Function Code``,
    ``Treatment Function Name``, the week bands, ``Total All`` and (optional)
    ``Patients with unknown clock start date``.

    Returns one row per provider x RTT part x treatment function, summed over
    commissioners (:data:`RTT_COLUMNS`):

    * ``period`` (e.g. ``RTT-March-2026``), ``org_code``, ``org_name``;
    * ``rtt_part_type`` (``Part_1A``, ``Part_1B``, ``Part_2`` = incomplete pathways,
      ``Part_2A``, ``Part_3``) and ``rtt_part_description``;
    * ``treatment_function_code`` / ``_name`` (``C_999`` "Total" is the publisher's
      all-specialty roll-up: do not add it to the specialties);
    * ``total_all`` -- pathways (``Total All``);
    * ``weeks_band_total`` -- sum of all week bands; ``within_18_weeks`` -- bands
      ending at or before 18 weeks; ``over_52_weeks`` -- bands starting at or after
      52 weeks (blank band cells count as zero);
    * ``unknown_clock_start`` -- pathways with an unknown clock start date (``NaN``
      when the column is absent or blank).
    """
    src = _csv_source(path, what="the RTT full extract CSV")
    keys = ["Period", "Provider Org Code", "Provider Org Name", "RTT Part Type", "RTT Part Description",
            "Treatment Function Code", "Treatment Function Name"]
    header = _read_header(src, encoding)
    bands = _rtt_bands(src, header)
    optional = ["Patients with unknown clock start date"]
    table = _read_csv(src, required=[*keys, "Total All", *(b for b, _, _ in bands)], optional=optional,
                      text=keys, encoding=encoding)
    out = pd.DataFrame({
        "period": table.text("Period", required=True),
        "org_code": table.text("Provider Org Code", required=True),
        "org_name": table.text("Provider Org Name"),
        "rtt_part_type": table.text("RTT Part Type", required=True),
        "rtt_part_description": table.text("RTT Part Description"),
        "treatment_function_code": table.text("Treatment Function Code", required=True),
        "treatment_function_name": table.text("Treatment Function Name"),
    })
    out["total_all"] = table.number("Total All", allow_missing=False)
    band_values = {name: table.number(name).fillna(0.0) for name, _, _ in bands}
    out["weeks_band_total"] = sum(band_values.values())
    out["within_18_weeks"] = sum(v for (name, _, hi), v in zip(bands, band_values.values())
                                 if hi is not None and hi <= 18)
    out["over_52_weeks"] = sum(v for (name, lo, _), v in zip(bands, band_values.values()) if lo >= 52)
    out["unknown_clock_start"] = (table.number(optional[0]) if table.has(optional[0])
                                  else pd.Series(np.nan, index=out.index))
    group = list(RTT_COLUMNS[:7])
    sums = ["total_all", "weeks_band_total", "within_18_weeks", "over_52_weeks"]
    grouped = out.groupby(group, sort=True, dropna=False)
    result = grouped[sums].sum().join(grouped["unknown_clock_start"].sum(min_count=1)).reset_index()
    return _finish(result, RTT_COLUMNS)


def _rtt_bands(src: _CsvSource, header: list[str]) -> list[tuple[str, int, int | None]]:
    """(header, lower, upper) of each week band; upper is None for the open band. Checks contiguity."""
    ranged: dict[int, str] = {}
    open_band: tuple[int, str] | None = None
    for name in header:
        key = _norm(name)
        if m := _RTT_BAND.match(key):
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi != lo + 1:
                raise DataError(src.label, f"unexpected week band {name!r} (bands are one week wide)",
                                row=src.header_line, column=name)
            ranged[lo] = name
        elif m := _RTT_OPEN_BAND.match(key):
            open_band = (int(m.group(1)), name)
    if open_band is None or open_band[0] < 52:
        raise DataError(src.label, "missing the open-ended week band (e.g. 'Gt 104 Weeks SUM 1'); "
                        "cannot count waits over 52 weeks", row=src.header_line,
                        column="Gt 104 Weeks SUM 1")
    missing = [lo for lo in range(open_band[0]) if lo not in ranged]
    if missing:
        lo = missing[0]
        raise DataError(src.label, f"missing week band column(s) starting with 'Gt {lo:02d} To {lo + 1:02d} "
                        f"Weeks SUM 1' ({len(missing)} missing)", row=src.header_line,
                        column=f"Gt {lo:02d} To {lo + 1:02d} Weeks SUM 1")
    return [(ranged[lo], lo, lo + 1) for lo in range(open_band[0])] + [(open_band[1], open_band[0], None)]


# --------------------------------------------------------------------------------------------------
# A&E
# --------------------------------------------------------------------------------------------------

_AE_SOURCE = {
    "attendances_type1": "A&E attendances Type 1",
    "attendances_type2": "A&E attendances Type 2",
    "attendances_other": "A&E attendances Other A&E Department",
    "booked_attendances_type1": "A&E attendances Booked Appointments Type 1",
    "booked_attendances_type2": "A&E attendances Booked Appointments Type 2",
    "booked_attendances_other": "A&E attendances Booked Appointments Other Department",
    "over_4h_type1": "Attendances over 4hrs Type 1",
    "over_4h_type2": "Attendances over 4hrs Type 2",
    "over_4h_other": "Attendances over 4hrs Other Department",
    "booked_over_4h_type1": "Attendances over 4hrs Booked Appointments Type 1",
    "booked_over_4h_type2": "Attendances over 4hrs Booked Appointments Type 2",
    "booked_over_4h_other": "Attendances over 4hrs Booked Appointments Other Department",
    "dta_wait_4_12h": "Patients who have waited 4-12 hs from DTA to admission",  # "hs" [sic]
    "dta_wait_over_12h": "Patients who have waited 12+ hrs from DTA to admission",
    "emergency_admissions_type1": "Emergency admissions via A&E - Type 1",
    "emergency_admissions_type2": "Emergency admissions via A&E - Type 2",
    "emergency_admissions_other": "Emergency admissions via A&E - Other A&E department",
    "other_emergency_admissions": "Other emergency admissions",
}
_AE_REQUIRED = ("attendances_type1", "attendances_type2", "attendances_other", "over_4h_type1", "over_4h_type2",
                "over_4h_other")


def parse_ae_monthly(path: str | Path, *, encoding: str = "utf-8") -> pd.DataFrame:
    """Parse the monthly A&E attendances and emergency admissions CSV by provider (NHS England).

    Source columns: ``Period`` (e.g. ``MSitAE-MARCH-2026``), ``Org Code``,
    ``Parent Org``, ``Org name`` and the count columns named in ``_AE_SOURCE``
    (attendances and over-4-hour attendances by department type are required;
    booked-appointment, decision-to-admit and admission columns are optional
    because older releases lack some of them, and are ``NaN`` when absent).
    The publisher's ``TOTAL`` row (``Org Code`` or ``Period`` = ``TOTAL``) is dropped.

    Returns one row per provider (:data:`AE_COLUMNS`): ``period``, ``org_code``,
    ``parent_org`` (NHS England region), ``org_name``, then the counts:
    attendances by department type (``type1`` major A&E, ``type2`` single
    specialty, ``other`` other A&E department / UTC / walk-in), booked
    appointments, attendances over 4 hours from arrival, patients waiting 4-12
    and over 12 hours from decision to admit, emergency admissions via A&E by
    type and other emergency admissions.
    """
    src = _csv_source(path, what="the monthly A&E CSV")
    ids = ["Period", "Org Code", "Parent Org", "Org name"]
    required = [*ids, *(_AE_SOURCE[k] for k in _AE_REQUIRED)]
    optional = [v for k, v in _AE_SOURCE.items() if k not in _AE_REQUIRED]
    table = _read_csv(src, required=required, optional=optional, text=ids, encoding=encoding)
    period = table.text("Period")
    code = table.text("Org Code")
    keep = ~(code.str.upper().eq("TOTAL") | period.str.upper().eq("TOTAL"))
    table = table.subset(keep)
    out = pd.DataFrame({"period": table.text("Period", required=True),
                        "org_code": table.text("Org Code", required=True),
                        "parent_org": table.text("Parent Org"),
                        "org_name": table.text("Org name")})
    for name, source in _AE_SOURCE.items():
        out[name] = table.number(source) if table.has(source) else np.nan
    table.check_unique(out["org_code"], "Org Code", "appears more than once")
    return _finish(out, AE_COLUMNS)


# --------------------------------------------------------------------------------------------------
# Friends and Family Test
# --------------------------------------------------------------------------------------------------

_FFT_LIKERT = {"very_good": "Very Good", "good": "Good", "neither_good_nor_poor": "Neither Good nor Poor",
               "poor": "Poor", "very_poor": "Very Poor", "dont_know": "Don't Know"}


def parse_fft_inpatient(path: str | Path) -> pd.DataFrame:
    """Parse the monthly inpatient Friends and Family Test workbook (NHS England, ``.xlsm``).

    Reads the ``Trusts`` sheet.  Its header row (found by its ``Trust Code`` cell;
    rows above it are titles and notes) is followed by England summary rows
    without a trust code, which are skipped, then one row per trust.

    Source columns: ``Trust Code``, ``Trust Name``, ``Total Responses``,
    ``Total Eligible``, ``Percentage Positive``, ``Percentage Negative``
    (required); ``ICB Code`` and the response counts ``Very Good`` ... ``Don't Know``
    (optional, ``NaN`` when absent).  Suppressed cells (``*``) become missing.

    Returns one row per trust (:data:`FFT_COLUMNS`): ``org_code``, ``org_name``,
    ``icb_code``, ``total_responses``, ``total_eligible``, ``share_positive`` and
    ``share_negative`` (shares between 0 and 1 of responses rating the service
    good or very good / poor or very poor), and the counts of each response.
    """
    sheet = _sheet_table(_xlsx_rows(path, "Trusts"), f"{path} [sheet 'Trusts']", header_probe="Trust Code",
                         required=["Trust Code", "Trust Name", "Total Responses", "Total Eligible",
                                   "Percentage Positive", "Percentage Negative"],
                         optional=["ICB Code", *_FFT_LIKERT.values()], key="Trust Code")
    out = pd.DataFrame({"org_code": sheet.text("Trust Code", required=True),
                        "org_name": sheet.text("Trust Name"),
                        "icb_code": sheet.text("ICB Code") if sheet.has("ICB Code") else ""})
    out["total_responses"] = sheet.number("Total Responses")
    out["total_eligible"] = sheet.number("Total Eligible")
    for name, source in (("share_positive", "Percentage Positive"), ("share_negative", "Percentage Negative")):
        share = sheet.number(source)
        above = share > 1
        if above.any():
            i = int(np.flatnonzero(above.to_numpy())[0])
            raise sheet.error(i, source, f"expected a share between 0 and 1, got {sheet.raw(source, i)} "
                                         "(a percentage 0-100 would need converting)")
        out[name] = share
    for name, source in _FFT_LIKERT.items():
        out[name] = sheet.number(source) if sheet.has(source) else np.nan
    sheet.check_unique(out["org_code"], "Trust Code", "appears more than once")
    return _finish(out, FFT_COLUMNS)


# --------------------------------------------------------------------------------------------------
# English Indices of Deprivation 2019
# --------------------------------------------------------------------------------------------------

_IMD_CODE = "Local Authority District code (2019)"
_IMD_NAME = "Local Authority District name (2019)"


def parse_imd2019_ltla(path: str | Path) -> pd.DataFrame:
    """Parse IoD 2019 File 10, local authority district (lower-tier) summaries (MHCLG, ``.xlsx``).

    Reads the ``IMD``, ``Income`` and ``Health`` sheets (header on row 1; the
    published headers end in a space, which is ignored) and joins them on the
    district code; every district must appear on all three sheets.

    Source columns: ``Local Authority District code (2019)``,
    ``Local Authority District name (2019)``; on ``IMD``: ``IMD - Average rank``,
    ``IMD - Rank of average rank``, ``IMD - Average score``,
    ``IMD - Rank of average score``,
    ``IMD - Proportion of LSOAs in most deprived 10% nationally``; on ``Income``:
    ``Income - Average score``; on ``Health``:
    ``Health Deprivation and Disability - Average score``.

    Returns one row per district (:data:`IMD_COLUMNS`): ``lad_code``, ``lad_name``,
    the five IMD summaries (population-weighted average LSOA rank and score,
    their ranks among districts where 1 is most deprived, and the share of the
    district's LSOAs in the most deprived national decile), the income domain
    average score (share of people income deprived) and the health deprivation
    and disability domain average score.
    """
    imd_cols = {"imd_average_rank": "IMD - Average rank", "imd_rank_of_average_rank": "IMD - Rank of average rank",
                "imd_average_score": "IMD - Average score",
                "imd_rank_of_average_score": "IMD - Rank of average score",
                "imd_proportion_most_deprived_10pct": "IMD - Proportion of LSOAs in most deprived 10% nationally"}
    domains = {"Income": ("income_average_score", "Income - Average score"),
               "Health": ("health_average_score", "Health Deprivation and Disability - Average score")}
    imd = _sheet_table(_xlsx_rows(path, "IMD"), f"{path} [sheet 'IMD']", header_probe=_IMD_CODE,
                       required=[_IMD_CODE, _IMD_NAME, *imd_cols.values()], key=_IMD_CODE)
    out = pd.DataFrame({"lad_code": imd.text(_IMD_CODE, required=True), "lad_name": imd.text(_IMD_NAME)})
    for name, source in imd_cols.items():
        out[name] = imd.number(source)
    imd.check_unique(out["lad_code"], _IMD_CODE, "appears more than once")
    for sheet_name, (name, source) in domains.items():
        sheet = _sheet_table(_xlsx_rows(path, sheet_name), f"{path} [sheet '{sheet_name}']",
                             header_probe=_IMD_CODE, required=[_IMD_CODE, source], key=_IMD_CODE)
        codes = sheet.text(_IMD_CODE, required=True)
        sheet.check_unique(codes, _IMD_CODE, "appears more than once")
        extra = ~codes.isin(out["lad_code"])
        if extra.any():
            i = int(np.flatnonzero(extra.to_numpy())[0])
            raise sheet.error(i, _IMD_CODE, f"district {codes.iloc[i]!r} is not on the 'IMD' sheet")
        scores = sheet.number(source, nonnegative=(sheet_name != "Health"))  # health scores are z-like
        values = pd.Series(scores.to_numpy(), index=codes.to_numpy())
        missing = ~out["lad_code"].isin(codes)
        if missing.any():
            i = int(np.flatnonzero(missing.to_numpy())[0])
            raise DataError(sheet.label, f"district {out['lad_code'].iloc[i]!r} (on the 'IMD' sheet) is missing",
                            column=_IMD_CODE)
        out[name] = out["lad_code"].map(values).to_numpy()
    return _finish(out, IMD_COLUMNS)


# --------------------------------------------------------------------------------------------------
# OHID trust catchment populations
# --------------------------------------------------------------------------------------------------

def parse_ohid_catchments(path: str | Path) -> pd.DataFrame:
    """Parse OHID's NHS acute (hospital) trust catchment populations, data tables (``.ods``).

    Reads the ``Trust_analysis`` sheet (Table 1: catchment population by trust,
    sex and age group), whose first rows are a title and a note, then the header.

    Source columns: ``Catchment Year``, ``Admission type``, ``Trust code``,
    ``Trust name``, ``Trust type``, ``Sex``, ``Sex description``, ``Age group``,
    ``Catchment population``.

    Returns one row per catchment year x admission type x trust x sex x age group
    (:data:`OHID_COLUMNS`): ``catchment_year`` (``Int64``), ``admission_type``
    (e.g. ``All Admissions``, ``Elective``, ``Emergency``), ``org_code``,
    ``org_name``, ``trust_type``, ``sex`` (``Int64`` code), ``sex_description``,
    ``age_group`` (e.g. ``00 to 04``) and ``catchment_population`` (modelled
    residents, float).  The catchments are modelled from where each trust's
    patients live; summing over sex and age gives a trust's catchment population.
    """
    required = ["Catchment Year", "Admission type", "Trust code", "Trust name", "Trust type", "Sex",
                "Sex description", "Age group", "Catchment population"]
    label = f"{path} [sheet 'Trust_analysis']"
    sheet = _sheet_table(_ods_rows(path, "Trust_analysis"), label, header_probe="Trust code",
                         required=required, key="Trust code")
    out = pd.DataFrame({"catchment_year": sheet.integer("Catchment Year"),
                        "admission_type": sheet.text("Admission type", required=True),
                        "org_code": sheet.text("Trust code", required=True),
                        "org_name": sheet.text("Trust name"),
                        "trust_type": sheet.text("Trust type"),
                        "sex": sheet.integer("Sex"),
                        "sex_description": sheet.text("Sex description"),
                        "age_group": sheet.text("Age group", required=True)})
    out["catchment_population"] = sheet.number("Catchment population")
    key = out[["catchment_year", "admission_type", "org_code", "sex", "age_group"]].astype(str).agg("|".join, axis=1)
    sheet.check_unique(key, "Trust code", "repeats a catchment year, admission type, trust, sex and age group")
    return _finish(out, OHID_COLUMNS)


# ==================================================================================================
# Shared machinery
# ==================================================================================================

def _norm(name: Any) -> str:
    """Header matching key: white space collapsed, case folded."""
    return " ".join(str(name).split()).casefold()


def _finish(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The documented output columns, in order, with a fresh 0..n-1 index."""
    return frame.loc[:, list(columns)].reset_index(drop=True)


class _Table:
    """Parsed rows of one table plus what is needed to report errors by file line.

    ``frame`` holds the cells (columns named as in the file), ``line_of(i)``
    returns the 1-based line (or spreadsheet row) of data row ``i``.
    """

    def __init__(self, label: str, frame: pd.DataFrame, columns: dict[str, str], header_line: int,
                 line_of: Callable[[int], int], missing: Iterable[str] = _SUPPRESSED):
        self.label = label
        self.frame = frame
        self.columns = columns  # normalised name -> name as written in the file
        self.header_line = header_line
        self._line_of = line_of
        self._missing = frozenset(missing)

    # -- access -----------------------------------------------------------------------------------
    def has(self, name: str) -> bool:
        return _norm(name) in self.columns

    def _col(self, name: str) -> str:
        return self.columns[_norm(name)]

    def raw(self, name: str, i: int) -> str:
        """The cell as written (quoted), for messages."""
        return repr(_cell_text(self.frame[self._col(name)].iloc[i]))

    def line(self, i: int) -> int:
        return self._line_of(i)

    def error(self, i: int, name: str, message: str) -> DataError:
        return DataError(self.label, message, row=self.line(i), column=self._col(name))

    def subset(self, keep: pd.Series) -> _Table:
        """The rows where ``keep`` is true (line numbers follow the original rows)."""
        positions = np.flatnonzero(keep.to_numpy())
        frame = self.frame.iloc[positions].reset_index(drop=True)
        return _Table(self.label, frame, self.columns, self.header_line,
                      lambda i: self._line_of(int(positions[i])), self._missing)

    # -- typed columns ------------------------------------------------------------------------------
    def text(self, name: str, *, required: bool = False) -> pd.Series:
        """A text column, stripped, with missing cells as ""; ``required`` cells must not be empty."""
        values = self.frame[self._col(name)]
        text = values.map(_cell_text).astype(object)
        if required:
            empty = text.eq("")
            if empty.any():
                i = int(np.flatnonzero(empty.to_numpy())[0])
                raise self.error(i, name, "is empty; every row needs a value here")
        return pd.Series(text.to_numpy(dtype=object), index=self.frame.index, dtype=str)

    def number(self, name: str, *, allow_missing: bool = True, nonnegative: bool = True) -> pd.Series:
        """A numeric column as float: missing markers become NaN, anything else non-numeric is an error."""
        values = self.frame[self._col(name)]
        if pd.api.types.is_float_dtype(values) or pd.api.types.is_integer_dtype(values):
            numbers = values.astype(float)
            missing = numbers.isna()
        else:
            cleaned = values.map(_cell_number_text)
            missing = cleaned.map(lambda v: isinstance(v, str) and v in self._missing).astype(bool)
            numbers = pd.to_numeric(cleaned.mask(missing, np.nan), errors="coerce").astype(float)
        bad = ~missing & ~np.isfinite(numbers)  # not a number (or infinite)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise self.error(i, name, f"expected a number, got {self.raw(name, i)}")
        if not allow_missing and missing.any():
            i = int(np.flatnonzero(missing.to_numpy())[0])
            raise self.error(i, name, f"must not be blank or suppressed, got {self.raw(name, i)}")
        if nonnegative and (numbers < 0).any():
            i = int(np.flatnonzero((numbers < 0).to_numpy())[0])
            raise self.error(i, name, f"must not be negative, got {self.raw(name, i)}")
        return pd.Series(numbers.to_numpy(), index=self.frame.index, dtype=float)

    def integer(self, name: str) -> pd.Series:
        """A whole-number column as nullable ``Int64``."""
        numbers = self.number(name)
        fractional = numbers.notna() & (numbers != np.round(numbers))
        if fractional.any():
            i = int(np.flatnonzero(fractional.to_numpy())[0])
            raise self.error(i, name, f"expected a whole number, got {self.raw(name, i)}")
        return numbers.round().astype("Int64")

    def check_unique(self, key: pd.Series, name: str, message: str) -> None:
        duplicated = key.duplicated(keep="first")
        if duplicated.any():
            i = int(np.flatnonzero(duplicated.to_numpy())[0])
            first = int(np.flatnonzero(key.eq(key.iloc[i]).to_numpy())[0])
            raise self.error(i, name, f"{key.iloc[i]!r} {message} (first on line {self.line(first)})")


def _cell_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _cell_number_text(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, bool):
        return str(value)  # never a number
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value
    return str(value).strip()


# -- CSV ----------------------------------------------------------------------------------------------

@dataclass
class _CsvSource:
    """A CSV file on disk, or one member of a ZIP archive."""

    path: Path
    member: str | None = None
    header_line: int = 1

    @property
    def label(self) -> str:
        return f"{self.path} (member {self.member})" if self.member else str(self.path)

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        """A binary stream of the CSV (a ZIP member is streamed, not extracted)."""
        if self.member is None:
            with open(self.path, "rb") as fh:
                yield fh
        else:
            with zipfile.ZipFile(self.path) as archive, archive.open(self.member) as fh:
                yield fh


def _csv_source(path: str | Path, *, pick: Callable[[str], bool] | None = None,
                what: str = "the CSV") -> _CsvSource:
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found" if not path.exists() else "is not a file")
    if path.stat().st_size == 0:
        raise DataError(path, "file is empty (0 bytes); the download may have failed, fetch it again")
    if not zipfile.is_zipfile(path):
        return _CsvSource(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = [n for n in archive.namelist() if n.lower().endswith(".csv") and not n.endswith("/")]
    except zipfile.BadZipFile as exc:
        raise DataError(path, f"is a damaged ZIP archive ({exc})") from None
    candidates = [m for m in members if pick is None or pick(m)]
    if len(candidates) != 1:
        found = ", ".join(members) or "no CSV files"
        raise DataError(path, f"expected the ZIP archive to hold exactly one file that is {what}, "
                              f"found {len(candidates)} (archive holds: {found})")
    return _CsvSource(path, candidates[0])


def _read_text_prefix(src: _CsvSource, encoding: str, limit: int = 1 << 20) -> str:
    with src.open() as fh:
        data = fh.read(limit)
    return _decode(src, data, encoding, complete=False)


def _py_encoding(encoding: str) -> str:
    """Python codec for ``encoding``; UTF-8 is read as ``utf-8-sig`` so that a byte-order mark is dropped."""
    return "utf-8-sig" if encoding.replace("-", "").replace("_", "").lower() in ("utf8", "utf8sig") else encoding


def _decode(src: _CsvSource, data: bytes, encoding: str, *, complete: bool = True) -> str:
    """Decode bytes, reporting an invalid byte by line and column."""
    encoding = _py_encoding(encoding)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        if not complete and exc.start >= len(data) - 4 and exc.reason.startswith("unexpected end"):
            return data[:exc.start].decode(encoding)  # a character cut by the prefix limit
        raise _encoding_error(src, data, exc, encoding) from None


def _encoding_error(src: _CsvSource, data: bytes, exc: UnicodeDecodeError, encoding: str) -> DataError:
    """A DataError for an undecodable byte: its physical line and, on a data line, the header of its field.

    The field is found by splitting the start of the line at commas (quoted
    fields spanning lines, rare in these files, can make the column approximate).
    """
    line_start = data.rfind(b"\n", 0, exc.start) + 1
    line = data.count(b"\n", 0, exc.start) + 1
    column = None
    if line > 1:
        try:
            header_bytes = data[: data.find(b"\n")]
            header = next(csv.reader([header_bytes.decode(encoding, errors="replace").lstrip("\ufeff").rstrip("\r")]))
            prefix = data[line_start:exc.start].decode(encoding, errors="replace")
            field_index = len(next(csv.reader([prefix]), [""])) - 1 if prefix else 0
            column = header[field_index] if 0 <= field_index < len(header) else None
        except (csv.Error, StopIteration):
            column = None
    byte = data[exc.start:exc.start + 1].hex()
    return DataError(src.label, f"is not valid {encoding.replace('-sig', '').upper()} text (byte 0x{byte} "
                                f"at offset {exc.start}). Re-save the file as UTF-8, or pass the file's "
                                f"encoding to the parser (e.g. encoding='cp1252')", row=line, column=column)


def _read_header(src: _CsvSource, encoding: str) -> list[str]:
    """The header row of a CSV (first non-blank record); sets ``src.header_line``."""
    text = _read_text_prefix(src, encoding)
    reader = csv.reader(io.StringIO(text, newline=""))
    last = 0
    for record in reader:
        if record and any(cell.strip() for cell in record):
            src.header_line = last + 1
            return record
        last = reader.line_num
    raise DataError(src.label, "file is empty (no header row)")


def _read_csv(src: _CsvSource, *, required: Sequence[str], optional: Sequence[str] = (),
              text: Sequence[str] = (), encoding: str = "utf-8") -> _Table:
    """Read the needed columns of a CSV with pandas; every cell of a ``text`` column stays a string."""
    header = _read_header(src, encoding)
    columns = _match_columns(src.label, header, required, optional, src.header_line)
    _check_row_widths(src, encoding, len(header))
    text_raw = {columns[_norm(t)] for t in text if _norm(t) in columns}
    usecols = list(dict.fromkeys(columns.values()))
    try:
        with src.open() as fh:
            frame = pd.read_csv(fh, encoding=_py_encoding(encoding), usecols=usecols,
                                dtype={c: str for c in text_raw}, na_values=list(_SUPPRESSED),
                                keep_default_na=False, skip_blank_lines=True, low_memory=False)
    except UnicodeDecodeError:
        with src.open() as fh:
            _decode(src, fh.read(), encoding)  # raises a DataError with line and column
        raise  # pragma: no cover - _decode always raises here
    except pd.errors.ParserError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise DataError(src.label, f"is not a well-formed CSV table ({exc})",
                        row=int(match.group(1)) if match else None) from None
    if frame.empty:
        raise DataError(src.label, f"has a header (line {src.header_line}) but no data rows")
    return _Table(src.label, frame, columns, src.header_line, lambda i: _csv_record_line(src, encoding, i))


def _check_row_widths(src: _CsvSource, encoding: str, width: int) -> None:
    """Every record must have as many fields as the header.

    pandas silently drops surplus fields and pads short rows when reading
    selected columns, which would shift values into the wrong columns or hide a
    truncated file, so the whole file is scanned once (this also finds invalid
    bytes, reported by line and column).
    """
    with src.open() as fh:
        stream = io.TextIOWrapper(fh, encoding=_py_encoding(encoding), newline="")
        reader = csv.reader(stream)
        last = 0
        try:
            for record in reader:
                start = last + 1
                last = reader.line_num
                if len(record) != width and (len(record) > 1 or (record and record[0].strip())):
                    raise DataError(src.label, f"has {len(record)} fields but the header (line {src.header_line}) "
                                               f"has {width}; a value may contain an unquoted comma, or the file "
                                               "is cut short", row=start)
        except UnicodeDecodeError:
            pass  # located precisely below from the raw bytes
        except csv.Error as exc:
            raise DataError(src.label, f"is not a well-formed CSV table ({exc})", row=last + 1) from None
        else:
            return
    with src.open() as fh:
        _decode(src, fh.read(), encoding)  # raises a DataError naming line and column


def _csv_record_line(src: _CsvSource, encoding: str, index: int) -> int:
    """The line on which data record ``index`` (0-based, after the header) starts. Used only for errors."""
    with src.open() as fh:
        stream = io.TextIOWrapper(fh, encoding=_py_encoding(encoding), newline="", errors="replace")
        reader = csv.reader(stream)
        last = 0
        seen = -1  # the header is record -1
        for record in reader:
            start = last + 1
            last = reader.line_num
            if not record or not any(cell.strip() for cell in record):
                continue
            if seen == index:
                return start
            seen += 1
    return last  # pragma: no cover - index beyond the file


def _match_columns(label: str, header: Sequence[Any], required: Sequence[str], optional: Sequence[str],
                   header_line: int) -> dict[str, str]:
    """Map normalised required/optional names to the header cells as written; missing required is an error."""
    by_norm: dict[str, str] = {}
    for cell in header:
        if cell is None or str(cell).strip() == "":
            continue
        by_norm.setdefault(_norm(cell), str(cell))
    missing = [name for name in required if _norm(name) not in by_norm]
    if missing:
        found = ", ".join(repr(str(c)) for c in header if c is not None and str(c).strip())
        raise DataError(label, f"missing required column(s) {', '.join(repr(m) for m in missing)}; the header "
                               f"has: {found}", row=header_line, column=missing[0])
    return {_norm(n): by_norm[_norm(n)] for n in (*required, *optional) if _norm(n) in by_norm}


# -- Spreadsheets --------------------------------------------------------------------------------------

_Rows = Iterator[tuple[int, list[Any]]]  # (1-based row number, cell values)


def _xlsx_rows(path: str | Path, sheet: str) -> _Rows:
    """Rows of one sheet of an XLSX/XLSM workbook (cached formula results, not formulas)."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    path = Path(path)
    _check_file(path)
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as exc:
        raise DataError(path, f"is not an Excel workbook (.xlsx/.xlsm) that can be read ({exc})") from None
    try:
        if sheet not in workbook.sheetnames:
            raise DataError(path, f"has no sheet '{sheet}' (sheets: {', '.join(workbook.sheetnames)})")
        for number, row in enumerate(workbook[sheet].iter_rows(values_only=True), start=1):
            yield number, list(row)
    finally:
        workbook.close()


_ODS_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_ODS_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_ODS_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"


def _ods_rows(path: str | Path, sheet: str) -> _Rows:
    """Rows of one sheet of an OpenDocument spreadsheet, read with the standard library.

    Handles repeated rows and cells (``number-rows-repeated`` /
    ``number-columns-repeated``), so row numbers match the spreadsheet program.
    """
    path = Path(path)
    _check_file(path)
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise DataError(path, "is not an OpenDocument spreadsheet (.ods): not a ZIP archive") from None
    with archive:
        if "content.xml" not in archive.namelist():
            raise DataError(path, "is not an OpenDocument spreadsheet (.ods): no content.xml")
        names: list[str] = []
        found = False
        with archive.open("content.xml") as fh:
            try:
                row_number = 0
                in_sheet = False
                for event, element in ElementTree.iterparse(fh, events=("start", "end")):
                    if element.tag == _ODS_TABLE + "table":
                        if event == "start":
                            name = element.get(_ODS_TABLE + "name", "")
                            names.append(name)
                            in_sheet = name == sheet
                            found = found or in_sheet
                            row_number = 0
                        elif in_sheet:
                            return
                    elif event == "end" and element.tag == _ODS_TABLE + "table-row":
                        repeat = int(element.get(_ODS_TABLE + "number-rows-repeated", "1"))
                        if in_sheet:
                            cells = _ods_cells(element)
                            if any(c not in (None, "") for c in cells):
                                for _ in range(min(repeat, 10_000)):
                                    row_number += 1
                                    yield row_number, list(cells)
                            else:
                                row_number += repeat
                        element.clear()
            except ElementTree.ParseError as exc:
                raise DataError(path, f"is a damaged OpenDocument spreadsheet (content.xml: {exc})") from None
        if not found:
            raise DataError(path, f"has no sheet '{sheet}' (sheets: {', '.join(names)})")


def _ods_cells(row: ElementTree.Element) -> list[Any]:
    cells: list[Any] = []
    pending_empty = 0
    for cell in row:
        if cell.tag not in (_ODS_TABLE + "table-cell", _ODS_TABLE + "covered-table-cell"):
            continue
        repeat = int(cell.get(_ODS_TABLE + "number-columns-repeated", "1"))
        value = _ods_value(cell)
        if value is None or value == "":
            pending_empty += repeat  # trailing empty cells are never materialised
            continue
        cells.extend([None] * pending_empty)
        pending_empty = 0
        cells.extend([value] * min(repeat, 1_000))
    return cells


def _ods_value(cell: ElementTree.Element) -> Any:
    kind = cell.get(_ODS_OFFICE + "value-type")
    if kind in ("float", "percentage", "currency"):
        return float(cell.get(_ODS_OFFICE + "value", "nan"))
    if kind == "boolean":
        return cell.get(_ODS_OFFICE + "boolean-value") == "true"
    if kind == "date":
        return cell.get(_ODS_OFFICE + "date-value")
    paragraphs = [_ods_text(p) for p in cell if p.tag == _ODS_TEXT + "p"]
    return "\n".join(paragraphs) if paragraphs else None


def _ods_text(element: ElementTree.Element) -> str:
    parts = [element.text or ""]
    for child in element:
        if child.tag == _ODS_TEXT + "s":
            parts.append(" " * int(child.get(_ODS_TEXT + "c", "1")))
        elif child.tag == _ODS_TEXT + "tab":
            parts.append("\t")
        elif child.tag == _ODS_TEXT + "line-break":
            parts.append("\n")
        else:
            parts.append(_ods_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise DataError(path, "file not found" if not path.exists() else "is not a file")
    if path.stat().st_size == 0:
        raise DataError(path, "file is empty (0 bytes); the download may have failed, fetch it again")


def _sheet_table(rows: _Rows, label: str, *, header_probe: str, required: Sequence[str],
                 optional: Sequence[str] = (), key: str, max_header_row: int = 40) -> _Table:
    """Find the header row (the first row with a cell equal to ``header_probe``) and collect the data rows.

    Rows whose ``key`` cell is empty (titles, notes, totals, blank rows) are skipped.
    """
    header: list[Any] | None = None
    header_line = 0
    for number, cells in rows:
        if any(_norm(c) == _norm(header_probe) for c in cells if c is not None):
            header, header_line = cells, number
            break
        if number >= max_header_row:
            break
    if header is None:
        raise DataError(label, f"no header row with a '{header_probe}' column in the first {max_header_row} rows")
    columns = _match_columns(label, header, required, optional, header_line)
    position = {}
    for index, cell in enumerate(header):
        if cell is not None and _norm(cell) not in position:
            position[_norm(cell)] = index
    key_index = position[_norm(key)]
    data: list[list[Any]] = []
    lines: list[int] = []
    for number, cells in rows:
        if key_index >= len(cells) or _cell_text(cells[key_index]) == "":
            continue
        data.append([cells[position[n]] if position[n] < len(cells) else None for n in columns])
        lines.append(number)
    if not data:
        raise DataError(label, f"has a header (row {header_line}) but no data rows")
    frame = pd.DataFrame(data, columns=list(columns.values()), dtype=object)
    return _Table(label, frame, columns, header_line, lambda i: lines[i])

"""Loaders of the monthly, provider-level sources the trust x financial-year panel is built from.

One loader per raw file (layouts in ``shared/data/PROVENANCE.md``); each checks the format with
:func:`analysis.sources.base.read_csv_checked` (file, line and column named on any error; implausible numbers set
missing and recorded in ``attrs["invalid"]``) and returns a tidy long frame with the same columns whatever the
source::

    org_code, month (YYYY-MM), measure, numerator, denominator, _line

``measure`` is one of ``rtt`` (incomplete pathways within 18 weeks / all incomplete pathways: month-end stocks),
``ae`` (A&E attendances within 4 hours / all attendances, all department types: monthly flows), ``cancer_fds``
(told within 28 days / all, Faster Diagnosis Standard), ``cancer_31d``, ``cancer_62d`` (treated within the
standard / all; counts can be halves: NHS England splits a shared patient 0.5/0.5) and ``beds`` (general and acute
beds occupied / available: monthly averages of the daily sitrep).  Codes are as reported in each month (old codes
before a merger): :mod:`analysis.trend.successors` maps them.

These sources feed the year panel (``analysis/trend``); the 2025/26 cross-section reads the cancer file for its
cancer counts (:func:`analysis.trend.years.cross_section_cancer`), unless the official Cancer Waiting Times files
are in the download cache (:mod:`analysis.precedence`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import DataError
from analysis.schema import Range
from analysis.sources.base import LINE, Source, read_csv_checked

TIDY = ["org_code", "month", "measure", "numerator", "denominator", LINE]

_MONTHLY_RTT = Range(0, 2_000_000, "incomplete pathways in one month; largest English trust about 180,000; bound ~10x")
_MONTHLY_AE = Range(0, 500_000, "A&E attendances in a month; largest English trust about 45,000; bound ~10x")
_MONTHLY_CANCER = Range(0, 2_000_000, "cancer pathways in a month; the file also holds England (about 250,000 a "
                        "month for FDS); largest trust about 5,000")
_BEDS = Range(0, 25_000, "general and acute beds; largest English trust about 2,500; bound ~10x")

MIN_ROWS = {"rtt_monthly": 20_000, "cancer_monthly": 20_000, "ae_monthly_2016": 10_000, "ae_monthly_2021": 6_000,
            "beds_monthly": 4_500}

_MONTHS = {m: i + 1 for i, m in enumerate(("January", "February", "March", "April", "May", "June", "July", "August",
                                           "September", "October", "November", "December"))}


def _month_text(values: pd.Series, lines: pd.Series, path: Path, col: str) -> pd.Series:
    """'April 2021' -> '2021-04'; anything else is an error naming the line."""
    parts = values.str.split(" ", n=1, expand=True)
    ok = parts[0].isin(list(_MONTHS)) & parts[1].str.fullmatch(r"\d{4}").fillna(False)
    if not ok.all():
        i = ok[~ok].index[0]
        raise DataError(path, f"month {values[i]!r} is not of the form 'April 2021'; correct the cell",
                        row=int(lines[i]), column=col)
    return parts[1] + "-" + parts[0].map(_MONTHS).map("{:02d}".format)


def _check_month(values: pd.Series, lines: pd.Series, path: Path, col: str) -> pd.Series:
    ok = values.str.fullmatch(r"\d{4}-(0[1-9]|1[0-2])").fillna(False)
    if not ok.all():
        i = ok[~ok].index[0]
        raise DataError(path, f"month {values[i]!r} is not of the form YYYY-MM; correct the cell",
                        row=int(lines[i]), column=col)
    return values


def _pair_check(df: pd.DataFrame, path: Path, num: str, den: str, invalid: list) -> None:
    """A numerator above its denominator is impossible: both set missing and recorded (never silently used)."""
    bad = df[num].notna() & df[den].notna() & (df[num] > df[den] + 1e-9)
    for i in bad[bad].index:
        invalid.append({"line": int(df.at[i, LINE]), "column": num, "raw": str(df.at[i, num]),
                        "code": df.at[i, "org_code"],
                        "reason": f"above the denominator {den} ({df.at[i, den]:g}): both set missing"})
    df.loc[bad, [num, den]] = np.nan


def _tidy(df: pd.DataFrame, measure: str, num: str, den: str, src) -> pd.DataFrame:
    out = pd.DataFrame({"org_code": df["org_code"], "month": df["month"], "measure": measure,
                        "numerator": df[num].astype(float), "denominator": df[den].astype(float), LINE: df[LINE]})
    out.attrs.update(src.attrs)
    return out.reset_index(drop=True)


def _duplicates(df: pd.DataFrame, keys: list[str], path: Path) -> None:
    dup = df.duplicated(keys, keep=False)
    if dup.any():
        first = df[dup].iloc[0]
        lines = df.loc[(df[keys] == first[keys]).all(axis=1), LINE].tolist()
        raise DataError(path, f"duplicate row for {', '.join(f'{k} {first[k]}' for k in keys)} on lines {lines}; "
                              "keep one row per organisation and month", row=int(lines[1]), column=keys[-1])


def load_rtt_monthly(path: Path) -> pd.DataFrame:
    """RTT incomplete pathways by provider and month (drjmartins/waiting-times flattening of NHS England's files)."""
    path = Path(path)
    df = read_csv_checked(path, required={"org_code": "str", "level": "str", "month": "str", "waiting_list_total": "num",
                                 "within_18_weeks": "num"}, name="rtt_monthly", codes=("org_code",),
                          ranges={"waiting_list_total": _MONTHLY_RTT, "within_18_weeks": _MONTHLY_RTT},
                          min_rows=MIN_ROWS["rtt_monthly"])
    df = df[df["level"] == "provider"].copy()
    df["month"] = _check_month(df["month"], df[LINE], path, "month")
    _duplicates(df, ["org_code", "month"], path)
    _pair_check(df, path, "within_18_weeks", "waiting_list_total", df.attrs["invalid"])
    return _tidy(df, "rtt", "within_18_weeks", "waiting_list_total", df)


CANCER_STANDARDS = {"FDS28": "cancer_fds", "CMB31": "cancer_31d", "CMB62": "cancer_62d"}


def load_cancer_monthly(path: Path) -> pd.DataFrame:
    """Cancer waiting times (28-day FDS, 31- and 62-day combined) by provider, standard and month."""
    path = Path(path)
    df = read_csv_checked(path, required={"org_code": "str", "level": "str", "standard": "str", "month": "str",
                                 "within_standard": "num", "total": "num"}, name="cancer_monthly",
                          codes=("org_code",), ranges={"within_standard": _MONTHLY_CANCER, "total": _MONTHLY_CANCER},
                          min_rows=MIN_ROWS["cancer_monthly"])
    df = df[df["level"] == "provider"].copy()
    unknown = ~df["standard"].isin(list(CANCER_STANDARDS))
    if unknown.any():
        i = unknown[unknown].index[0]
        raise DataError(path, f"unknown cancer standard {df.at[i, 'standard']!r}; known {list(CANCER_STANDARDS)}",
                        row=int(df.at[i, LINE]), column="standard")
    df["month"] = _check_month(df["month"], df[LINE], path, "month")
    _duplicates(df, ["org_code", "standard", "month"], path)
    _pair_check(df, path, "within_standard", "total", df.attrs["invalid"])
    parts = [_tidy(d, CANCER_STANDARDS[s], "within_standard", "total", df) for s, d in df.groupby("standard")]
    out = pd.concat(parts, ignore_index=True)
    out.attrs.update(df.attrs)
    return out


def load_ae_monthly_2016(path: Path) -> pd.DataFrame:
    """A&E attendances and 4-hour breaches by provider, department type and month, Apr 2016 - Mar 2019
    (NHSRdatasets); the department types are summed (all types, as in the 2021- file)."""
    path = Path(path)
    df = read_csv_checked(path, required={"period": "str", "org_code": "str", "type": "str", "attendances": "num",
                                 "breaches": "num"}, name="ae_monthly_2016", codes=("org_code",),
                          ranges={"attendances": _MONTHLY_AE, "breaches": _MONTHLY_AE},
                          min_rows=MIN_ROWS["ae_monthly_2016"])
    df["month"] = _check_month(df["period"].str.slice(0, 7), df[LINE], path, "period")
    _duplicates(df, ["org_code", "type", "month"], path)
    _pair_check(df, path, "breaches", "attendances", df.attrs["invalid"])
    g = df.groupby(["org_code", "month"], as_index=False).agg(
        attendances=("attendances", lambda s: s.sum(min_count=len(s))),
        breaches=("breaches", lambda s: s.sum(min_count=len(s))), **{LINE: (LINE, "min")})
    g["within"] = g["attendances"] - g["breaches"]
    return _tidy(g, "ae", "within", "attendances", df)


def load_ae_monthly_2021(path: Path) -> pd.DataFrame:
    """A&E attendances (all types) and attendances over 4 hours by provider and month, Apr 2021 - (healthyr).
    The 4-hour fields are blank for trusts in the 2019-2023 clinically-led review field test: those months are
    missing, not zero."""
    path = Path(path)
    df = read_csv_checked(path, required={"nhs_trust22_code": "str", "date": "str", "total_attendances": "num",
                                 "attendances_over_4hours": "num"}, name="ae_monthly_2021",
                          codes=("nhs_trust22_code",),
                          ranges={"total_attendances": _MONTHLY_AE, "attendances_over_4hours": _MONTHLY_AE},
                          min_rows=MIN_ROWS["ae_monthly_2021"])
    df = df.rename(columns={"nhs_trust22_code": "org_code"})
    df["month"] = _month_text(df["date"], df[LINE], path, "date")
    _duplicates(df, ["org_code", "month"], path)
    _pair_check(df, path, "attendances_over_4hours", "total_attendances", df.attrs["invalid"])
    df["within"] = df["total_attendances"] - df["attendances_over_4hours"]
    df.loc[df["attendances_over_4hours"].isna(), "total_attendances"] = np.nan  # no 4-hour count: no usable month
    return _tidy(df, "ae", "within", "total_attendances", df)


def load_beds_monthly(path: Path) -> pd.DataFrame:
    """General and acute beds available and occupied (monthly averages of the daily sitrep), Apr 2022 -."""
    path = Path(path)
    df = read_csv_checked(path, required={"nhs_trust22_code": "str", "date": "str", "general_acute_beds_available": "num",
                                 "general_acute_beds_occupied": "num"}, name="beds_monthly",
                          codes=("nhs_trust22_code",),
                          ranges={"general_acute_beds_available": _BEDS, "general_acute_beds_occupied": _BEDS},
                          min_rows=MIN_ROWS["beds_monthly"])
    df = df.rename(columns={"nhs_trust22_code": "org_code"})
    df["month"] = _month_text(df["date"], df[LINE], path, "date")
    _duplicates(df, ["org_code", "month"], path)
    _pair_check(df, path, "general_acute_beds_occupied", "general_acute_beds_available", df.attrs["invalid"])
    return _tidy(df, "beds", "general_acute_beds_occupied", "general_acute_beds_available", df)


#: The year panel's monthly sources (the cross-section's registry is ``analysis.sources.SOURCES``).
MONTHLY_SOURCES: dict[str, Source] = {s.name: s for s in (
    Source("rtt_monthly", "RTT incomplete pathways and within 18 weeks, provider x month",
           ("waiting_times/rtt_incomplete_by_org_month.csv",), load_rtt_monthly, "2022-04 to 2026-04",
           "NHS England RTT full CSV files via drjmartins/waiting-times"),
    Source("cancer_monthly", "Cancer waiting times FDS28, CMB31, CMB62, provider x month",
           ("waiting_times/cancer_wait_by_org_month.csv",), load_cancer_monthly, "2022-04 to 2026-04",
           "NHS England Cancer Waiting Times via drjmartins/waiting-times"),
    Source("ae_monthly_2016", "A&E attendances and 4-hour breaches, provider x type x month",
           ("nhsrdatasets/ae_attendances.csv",), load_ae_monthly_2016, "2016-04 to 2019-03",
           "NHS England A&E Attendances and Emergency Admissions via NHSRdatasets"),
    Source("ae_monthly_2021", "A&E attendances and over 4 hours, all types, provider x month",
           ("healthyr/england_trust_accidents_emergency.csv",), load_ae_monthly_2021, "2021-04 to 2025-07",
           "NHS England A&E Attendances and Emergency Admissions via healthyr"),
    Source("beds_monthly", "General and acute beds available and occupied, provider x month",
           ("healthyr/england_critical_general_acute_beds.csv",), load_beds_monthly, "2022-04 to 2025-08",
           "NHS England UEC sitrep via healthyr"),
)}


def load_monthly(data_dir: Path) -> dict[str, pd.DataFrame]:
    """Every monthly source under ``data_dir/raw`` (a missing file is an error naming it)."""
    return {name: src.load(Path(data_dir)) for name, src in MONTHLY_SOURCES.items()}

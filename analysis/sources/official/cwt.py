"""Cancer Waiting Times (CWT), NHS England's monthly "Combined CSV" (provider and commissioner): parser.

Where the layout comes from (no official file could be downloaded offline; the layout was read from public code
that parses the real files, December 2026):

* ``drjmartins/waiting-times`` -- the pipeline behind ``data/raw/waiting_times/cancer_wait_by_org_month.csv``
  (PROVENANCE.md section 10), which downloads every file in ``cancer_source_manifest.json``:
  ``pipeline/normalise.py`` (columns ``Period``, ``Basis``, ``Org_Code``, ``Org_Name``, ``Parent_Org``,
  ``Standard_or_Item``, ``Cancer_Type``, ``Referral_Route_or_Stage``, ``Treatment_Modality``, ``Within``,
  ``Total``; standards ``FDS`` / ``31D`` / ``62D``; the roll-up markers ``ALL CANCERS``, ``ALL ROUTES`` /
  ``ALL STAGES``, ``ALL MODALITIES`` or a blank modality for FDS; ``Basis`` = Provider | Commissioner; England as
  the pseudo-organisation ``Total``; ``Period`` as DD/MM/YYYY in the 2025-26 files and YYYY-MM-DD in older ones,
  and absent from the per-month file of a new financial year, whose month is in the file name),
  ``pipeline/cancer_groups.py`` (the cancer-type labels; parent labels such as ``Haematological`` and their
  children ``Haematological - Lymphoma`` never appear together in one month) and ``pipeline/config.py``.
* Independent readers of the same file that select the headline the same way (``Basis`` Provider or
  Commissioner, ``Standard_or_Item`` ``62D``, ``Cancer_Type`` ``ALL CANCERS``, ``Referral_Route_or_Stage``
  ``ALL ROUTES``, ``Treatment_Modality`` ``ALL MODALITIES``; columns ``Total``, ``Within``, ``After``,
  ``Performance`` and day bands): an R reader (``core_read_cancer_combined_month``) and a Python ICB cleaner
  (``clean_england_oncology_62d``) found through the code search; a third test reads ``31D`` with ``ALL STAGES``.

Which rows are used, and why (no double counting): the file is a cube in which every provider x month x standard
has the publisher's all-types roll-up row (all cancers, all routes or stages, all modalities) **and** the rows
broken down by cancer type, by route or stage, by modality and by combinations of them.  Adding all rows would
count each patient several times.  The official all-types count is the roll-up row, so that row is taken as it is
(this is what the third-party file holds).  Only where a provider x month x standard has no roll-up row are its
rows broken down by cancer type alone (route and modality at their roll-ups) summed, because the cancer types
partition the patients (the third party reconciles its ten tumour groups plus "Missing or Invalid" to the
all-cancers count); a child label (``X - Y``) is left out when its parent (``X`` or ``X (Excluding ...)``) is
present, so a patient is not counted twice.  Rows broken down by route, stage or modality are never summed (a
patient with two modalities is in both).  Commissioner rows (the same patients by ICB), England's ``Total`` row
and the referral items that are not standards (``Urgent Suspected Cancer referral``, ``Urgent Breast
Symptomatic referral``) are dropped.  Counts keep NHS England's halves (a patient shared by two providers counts
0.5 at each).  A provider x month x standard whose total is blank, suppressed or zero is dropped, as the
third-party file drops it (no patients: no month of data).

How the panel build uses it (:data:`PANELS`, :mod:`analysis.precedence`): when both files of financial year
2025/26 (April-September final, October-March provisional) are verified in the download cache, their provider x
month rows (:func:`cwt_to_tidy`) replace the third-party monthly file as the source of the cross-section's cancer
counts, with the same successor mapping and month rule (:func:`analysis.trend.years.cross_section_cancer`); a
trust the official files do not list keeps the third-party file's counts, and the quality report says which
trusts came from which file.  A provider x standard x month in both files (re-issued months) is taken from the
file listed first in :data:`PANELS` (the final one).  One file alone is not used: six months cannot meet the
nine-month rule, so it would set every trust missing.  The year panel (every year since 2016/17) still reads the
third-party file alone (the registry holds the 2025/26 files only).
Checked on the third-party file itself (December 2026): none of its 27,455 rows has a fractional count, although
PROVENANCE.md section 10 says counts can be fractional; whether the official all-types rows are whole or the third
party rounds is not known until an official file is read.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import DataError
from analysis.sources.base import LINE
from analysis.sources.official.feed import PanelFeed
from analysis.sources.reader import Table, csv_source, finish, norm, read_header, read_table

CWT_COLUMNS = ("org_code", "org_name", "parent_org", "standard", "month", "within_standard", "total", "source")
#: The columns of the third-party monthly file (PROVENANCE.md section 10) that :func:`cwt_to_monthly` gives.
MONTHLY_COLUMNS = ("org_code", "org_name", "level", "region", "standard", "month", "within_standard", "total")

#: ``Standard_or_Item`` as published -> the standard code of the third-party file and of
#: :data:`analysis.sources.monthly.CANCER_STANDARDS`.  The terse codes are the current files' values; the verbose
#: labels are the older spellings the third party also maps (matched as substrings, like it does).
STANDARDS = {"fds": "FDS28", "31d": "CMB31", "62d": "CMB62"}
_VERBOSE = (("faster diagnosis", "FDS28"), ("28-day fds", "FDS28"), ("31-day combined", "CMB31"),
            ("31 day combined", "CMB31"), ("62-day combined", "CMB62"), ("62 day combined", "CMB62"))
_ALL = {"cancer": {"all cancers"}, "route": {"all routes", "all stages"}, "modality": {"all modalities", ""}}
_COLS = {"basis": "Basis", "code": "Org_Code", "name": "Org_Name", "parent": "Parent_Org",
         "standard": "Standard_or_Item", "cancer": "Cancer_Type", "route": "Referral_Route_or_Stage",
         "modality": "Treatment_Modality", "within": "Within", "total": "Total", "period": "Period"}
_MONTHS = {m.lower(): i for i, m in enumerate(("January", "February", "March", "April", "May", "June", "July",
                                               "August", "September", "October", "November", "December"), 1)}


def parse_cwt_combined(path: str | Path, *, month: str | None = None, encoding: str = "utf-8") -> pd.DataFrame:
    """Parse NHS England's Cancer Waiting Times monthly Combined CSV (cumulative financial-year or one-month file).

    Source columns (by name; others are ignored): ``Basis``, ``Org_Code``, ``Org_Name``, ``Standard_or_Item``,
    ``Cancer_Type``, ``Referral_Route_or_Stage``, ``Treatment_Modality``, ``Within``, ``Total``, and ``Period``
    (DD/MM/YYYY, YYYY-MM-DD or YYYY-MM) and ``Parent_Org`` where present.  A file without ``Period`` (the one-month
    file of a new financial year) takes its month from ``month`` ("YYYY-MM") or from its name
    (``April-2026-Monthly-Combined-CSV-...``).  The module docstring says which rows are used and why.

    Returns one row per provider x standard x month (:data:`CWT_COLUMNS`): ``org_code``, ``org_name``,
    ``parent_org`` (NHS England region; "" when absent), ``standard`` (``FDS28``, ``CMB31``, ``CMB62``), ``month``
    (YYYY-MM), ``within_standard`` and ``total`` (float, halves kept), ``source`` (``rollup``: the publisher's
    all-types row; ``cancer_types``: the sum of the cancer-type rows, where the roll-up row is missing).
    """
    src = csv_source(path, what="the CWT Combined CSV")
    header = {norm(h) for h in read_header(src, encoding)}
    required = [_COLS[k] for k in ("basis", "code", "name", "standard", "cancer", "route", "modality", "within",
                                   "total")]
    table = read_table(src, required=required, optional=[_COLS["period"], _COLS["parent"]], encoding=encoding)
    if norm(_COLS["period"]) not in header and month is None:
        month = _month_from_name(Path(path).name)
        if month is None:
            raise DataError(src.label, "has no 'Period' column and its name does not say the month (as in "
                                       "'April-2026-Monthly-Combined-CSV-Provisional.csv'); pass month='YYYY-MM' to "
                                       "the parser or rename the file", row=src.header_line, column="Period")
    basis = table.text(_COLS["basis"]).str.casefold()
    code = table.text(_COLS["code"])
    standard = table.text(_COLS["standard"]).map(_standard)
    keep = basis.eq("provider") & ~code.str.casefold().eq("total") & standard.notna()
    if not keep.any():
        raise DataError(src.label, "has no provider rows of the FDS, 31D or 62D standards (column 'Basis' = "
                                   "'Provider', 'Standard_or_Item' = 'FDS' / '31D' / '62D'); check that this is "
                                   "the Combined CSV", row=src.header_line, column=_COLS["standard"])
    table = table.subset(keep)
    rows = pd.DataFrame({
        "org_code": table.text(_COLS["code"], required=True),
        "org_name": table.text(_COLS["name"]),
        "parent_org": table.text(_COLS["parent"]) if table.has(_COLS["parent"]) else "",
        "standard": standard[keep].to_numpy(),
        "month": _months(table) if table.has(_COLS["period"]) else _checked_month(month, src.label),
        "cancer": table.text(_COLS["cancer"]), "route": table.text(_COLS["route"]),
        "modality": table.text(_COLS["modality"]),
        "within_standard": table.number(_COLS["within"]), "total": table.number(_COLS["total"]),
        "line": table.lines(),
    })
    over = rows["within_standard"] > rows["total"]
    if over.any():
        i = int(np.flatnonzero(over.to_numpy())[0])
        raise table.error(i, _COLS["within"], f"{table.raw(_COLS['within'], i)} within the standard is more than "
                                              f"the total {table.raw(_COLS['total'], i)}; correct the row or restore "
                                              "the published file")
    is_all = {d: rows[d].str.casefold().isin(_ALL[d]) for d in ("cancer", "route", "modality")}
    rollup = rows[is_all["cancer"] & is_all["route"] & is_all["modality"]]
    key = ["org_code", "standard", "month"]
    dup = rollup.duplicated(key, keep="first")
    if dup.any():
        r = rollup[dup].iloc[0]
        raise DataError(src.label, f"a second all-types row for provider {r.org_code}, {r.standard}, {r.month} "
                                   "(the roll-up must be one row); restore the published file",
                        row=int(r.line), column=_COLS["code"])
    by_type = rows[~is_all["cancer"] & is_all["route"] & is_all["modality"]]
    by_type = by_type[~by_type.set_index(key).index.isin(rollup.set_index(key).index)]
    by_type = by_type[~_children_of_present_parents(by_type, key)]
    out = pd.concat([
        rollup.assign(source="rollup"),
        by_type.groupby(key, as_index=False, sort=False).agg(
            org_name=("org_name", "first"), parent_org=("parent_org", "first"),
            within_standard=("within_standard", lambda s: s.sum(min_count=len(s))),
            total=("total", lambda s: s.sum(min_count=len(s)))).assign(source="cancer_types"),
    ], ignore_index=True)
    out = out[out["total"].notna() & (out["total"] > 0)]
    return finish(out.sort_values(key, kind="stable"), CWT_COLUMNS)


def cwt_to_monthly(frame: pd.DataFrame) -> pd.DataFrame:
    """The parsed rows in the layout of the third-party monthly file (:data:`MONTHLY_COLUMNS`, ``level`` =
    ``provider``, ``region`` = ``Parent_Org``), which :func:`analysis.sources.monthly.load_cancer_monthly` reads."""
    out = frame.assign(level="provider", region=frame["parent_org"])
    return finish(out, MONTHLY_COLUMNS)


#: The measure names of :mod:`analysis.sources.monthly` (``CANCER_STANDARDS``), by the standard codes above.
MEASURES = {"FDS28": "cancer_fds", "CMB31": "cancer_31d", "CMB62": "cancer_62d"}


def cwt_to_tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """The parsed rows in the tidy layout of :mod:`analysis.sources.monthly` (``org_code``, ``month``,
    ``measure``, ``numerator`` = within the standard, ``denominator`` = total, ``_line`` = 0: the parser sums rows,
    so a count has no single line), the form :func:`analysis.trend.years.cross_section_cancer` aggregates."""
    return pd.DataFrame({"org_code": frame["org_code"].str.strip().str.upper(), "month": frame["month"],
                         "measure": frame["standard"].map(MEASURES), "numerator": frame["within_standard"].astype(float),
                         "denominator": frame["total"].astype(float), LINE: 0}).reset_index(drop=True)


_ENTRIES = ("cwt_combined_2025_26_apr_sep", "cwt_combined_2025_26_oct_mar")
_COUNTS = ("cancer_fds_within", "cancer_fds_total", "cancer_62d_within", "cancer_62d_total")
#: The two files of financial year 2025/26, final first (a month in both is taken from the first): read together
#: or not at all.  They supersede the third-party monthly file (``analysis.sources.monthly``, ``cancer_monthly``).
PANELS = tuple(PanelFeed(
    entry=name, key="monthly", columns=_COUNTS, to_panel=cwt_to_tidy, replaces="cancer_monthly", fallback="compiled",
    raw_columns={c: "Within" if c.endswith("_within") else "Total" for c in _COUNTS},
    together=tuple(e for e in _ENTRIES if e != name),
    note="NHS England's all-types rows (FDS, 62D), summed over the financial year after mapping codes to today's "
         "trusts; the third-party file is a copy of the same rows, so the definitions agree") for name in _ENTRIES)


def _standard(label: str) -> str | None:
    key = norm(label)
    if key in STANDARDS:
        return STANDARDS[key]
    return next((code for text, code in _VERBOSE if text in key), None)


def _children_of_present_parents(rows: pd.DataFrame, key: list[str]) -> pd.Series:
    """True for a cancer type 'X - Y' whose parent 'X' (or 'X (Excluding ...)') is present in its cell."""
    drop = pd.Series(False, index=rows.index)
    for _, cell in rows.groupby(key, sort=False):
        labels = [norm(c) for c in cell["cancer"]]
        for idx, label in zip(cell.index, labels):
            if " - " not in label:
                continue
            parent = label.split(" - ", 1)[0]
            drop[idx] = any(o == parent or o.startswith(parent + " (") for o in labels if o != label)
    return drop


def _months(table: Table) -> pd.Series:
    period = table.text(_COLS["period"], required=True)
    out = []
    for i, value in enumerate(period):
        month = _parse_period(value)
        if month is None:
            raise table.error(i, _COLS["period"], f"expected a date (DD/MM/YYYY, YYYY-MM-DD or YYYY-MM), got "
                                                 f"{table.raw(_COLS['period'], i)}; correct it or restore the file")
        out.append(month)
    return pd.Series(out, index=period.index, dtype=str)


def _parse_period(value: str) -> str | None:
    for fmt in ("%d/%m/%Y", "%Y-%m-%d", "%Y-%m"):
        try:
            return datetime.strptime(value.strip(), fmt).strftime("%Y-%m")
        except ValueError:
            continue
    return None


def _checked_month(month: str, label: str) -> str:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", str(month)):
        raise DataError(label, f"month must be 'YYYY-MM', got {month!r}")
    return month


def _month_from_name(name: str) -> str | None:
    m = re.match(r"([A-Za-z]+)-(\d{4})-", name)
    if m and m.group(1).lower() in _MONTHS:
        return f"{m.group(2)}-{_MONTHS[m.group(1).lower()]:02d}"
    return None

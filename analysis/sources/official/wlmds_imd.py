"""RTT waiting list by Index of Multiple Deprivation decile (Waiting List Minimum Data Set): parser.

NHS England has published, monthly since July 2025 (first snapshot: week ending 29 June 2025), the RTT waiting
list from the Waiting List Minimum Data Set broken down by patient characteristics (age, sex, ethnicity and IMD
decile of the patient's home area), by provider.  This module reads the provider x IMD decile file.  It is not a
panel feed (no :class:`~analysis.sources.official.feed.PanelFeed`): no panel column comes from it.  When the file
is present, :mod:`analysis.equity_access` turns it into the equity-of-access table written beside the panel.

The exact column headers of the real file could not be confirmed offline (see the registry entry's notes), so
each field is found by the first of several accepted header names (case and spacing ignored), listed in
:data:`WLMDS_IMD_HEADERS`.  The fixture ``tests/fixtures/official/WLMDS-RTT-IMD-decile-provider.csv`` uses the first
name of each list.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import DataError
from analysis.sources.reader import MISSING_TOKENS, csv_source, finish, norm, read_header, read_table

WLMDS_IMD_COLUMNS = ("org_code", "period", "imd_decile", "total_waiting", "within_18w")

#: field -> accepted header names, the first being the one of the fixture (and the one named in errors).
WLMDS_IMD_HEADERS: dict[str, tuple[str, ...]] = {
    "period": ("Period", "Week Ending", "Week Ending Date", "Reporting Period", "Snapshot Date"),
    "org_code": ("Provider Code", "Provider Org Code", "Org Code", "Organisation Code", "Provider"),
    "imd_decile": ("IMD Decile", "Index of Multiple Deprivation Decile", "IMD", "Deprivation Decile"),
    "total_waiting": ("Total Waiting List", "Total Waiting", "Waiting List Size", "Total", "Total Incomplete Pathways"),
    "within_18w": ("Within 18 Weeks", "Waiting Within 18 Weeks", "Number Within 18 Weeks", "0-18 Weeks",
                   "Under 18 Weeks"),
    "over_18w": ("Over 18 Weeks", "Waiting Over 18 Weeks", "Number Over 18 Weeks", "More Than 18 Weeks",
                 "18+ Weeks"),
}
#: IMD decile cells that mean "not known" (no valid postcode / LSOA): kept as a row with decile <NA>.
UNKNOWN_DECILE = frozenset({"unknown", "not known", "not stated", "missing", "invalid", "no match", "u"})
#: IMD decile cells that mean "all deciles" (a roll-up row): dropped, the deciles are kept instead.
ROLLUP_DECILE = frozenset({"total", "all", "all deciles", "provider total"})
_DECILE = re.compile(r"^(?:imd\s*)?(?:decile\s*)?(\d{1,2})(?:\b.*)?$")


def _pick(header: list[str], field: str) -> str | None:
    by_norm = {norm(h): h for h in header if str(h).strip()}
    return next((by_norm[norm(a)] for a in WLMDS_IMD_HEADERS[field] if norm(a) in by_norm), None)


def parse_wlmds_imd_decile(path: str | Path, *, encoding: str = "utf-8") -> pd.DataFrame:
    """Parse NHS England's RTT waiting list (WLMDS) by provider and IMD decile (CSV, or a ZIP holding one CSV).

    Source columns (accepted names in :data:`WLMDS_IMD_HEADERS`): period (week ending), provider code, IMD decile
    (1 = most deprived ... 10 = least deprived; ``1 - Most deprived`` style labels are read by their number), total
    waiting, and waiting within 18 weeks -- or, if the file gives only the number waiting over 18 weeks, within is
    total minus over.

    Returns one row per provider x period x decile (:data:`WLMDS_IMD_COLUMNS`):

    * ``org_code``, ``period`` (as published);
    * ``imd_decile`` -- ``Int64`` 1-10, ``<NA>`` for blank or "Unknown" deciles (patients whose home area is not
      known are kept so that totals add up, but belong to no quintile);
    * ``total_waiting``, ``within_18w`` -- incomplete RTT pathways; ``NaN`` where suppressed (``*``) or blank.

    Rows repeated for one provider x period x decile (a file split further, e.g. by treatment function) are summed
    (a sum with a suppressed part is missing).  Rows whose decile is a roll-up ("Total", "All") are dropped.

    Errors (:class:`~analysis.errors.DataError`, naming file, line and column): a missing column, a count that is
    not a number, a negative count, within 18 weeks above the total, a decile that is neither 1-10 nor unknown.
    """
    src = csv_source(path, what="the WLMDS waiting list by IMD decile CSV")
    header = read_header(src, encoding)
    cols = {f: _pick(header, f) for f in WLMDS_IMD_HEADERS}
    for field in ("period", "org_code", "imd_decile", "total_waiting"):
        if cols[field] is None:
            raise _missing(src, header, field)
    if cols["within_18w"] is None and cols["over_18w"] is None:
        raise _missing(src, header, "within_18w", also="over_18w")
    table = read_table(src, required=[c for c in cols.values() if c is not None], encoding=encoding)

    period = table.text(cols["period"], required=True)
    org = table.text(cols["org_code"], required=True).str.upper()
    raw_decile = table.frame[table.col(cols["imd_decile"])].astype(str).str.strip()
    decile = pd.Series(pd.NA, index=table.frame.index, dtype="Int64")
    keep = pd.Series(True, index=table.frame.index)
    for i, cell in enumerate(raw_decile):
        low = cell.lower()
        if low in ROLLUP_DECILE:
            keep.iloc[i] = False
        elif low in MISSING_TOKENS or low in UNKNOWN_DECILE:
            continue
        elif (m := _DECILE.match(low)) and 1 <= int(m.group(1)) <= 10:
            decile.iloc[i] = int(m.group(1))
        else:
            raise table.error(i, cols["imd_decile"], f"IMD decile must be 1 (most deprived) to 10 (least deprived), "
                                                     f"'Unknown' or blank, got {cell!r}; correct the cell or check "
                                                     "that this is the IMD decile file")
    total = table.number(cols["total_waiting"])
    if cols["within_18w"] is not None:
        within = table.number(cols["within_18w"])
        bad_col, bad = cols["within_18w"], within > total
        what = "waiting within 18 weeks ({w:g}) is above the total waiting ({t:g})"
    else:
        over = table.number(cols["over_18w"])
        within = total - over
        bad_col, bad = cols["over_18w"], over > total
        what = "waiting over 18 weeks is above the total waiting ({t:g})"
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise table.error(i, bad_col, what.format(w=within.iloc[i], t=total.iloc[i])
                          + "; the counts of this row are inconsistent: check the file against the publication")
    out = pd.DataFrame({"org_code": org, "period": period, "imd_decile": decile, "total_waiting": total,
                        "within_18w": within})[keep.to_numpy()]
    key = ["org_code", "period", "imd_decile"]
    grouped = out.groupby(key, sort=True, dropna=False)
    summed = grouped[["total_waiting", "within_18w"]].sum(min_count=1)
    any_missing = grouped[["total_waiting", "within_18w"]].agg(lambda s: s.isna().any())
    summed = summed.mask(any_missing.astype(bool)).reset_index()
    summed["imd_decile"] = summed["imd_decile"].astype("Int64")
    return finish(summed, WLMDS_IMD_COLUMNS)


def _missing(src, header: list[str], field: str, also: str | None = None) -> DataError:
    names = list(WLMDS_IMD_HEADERS[field]) + (list(WLMDS_IMD_HEADERS[also]) if also else [])
    found = ", ".join(repr(h) for h in header if str(h).strip())
    return DataError(src.label, f"missing required column: none of {', '.join(repr(n) for n in names)} is in the "
                                f"header (it has: {found}); if the publisher renamed the column, add the new name to "
                                "WLMDS_IMD_HEADERS in analysis/sources/official/wlmds_imd.py",
                     row=src.header_line, column=names[0])

"""Referral to Treatment waiting times, full CSV data file: parser and panel feed."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import DataError
from analysis.sources.official.feed import PanelFeed
from analysis.sources.reader import CsvSource, csv_source, finish, norm, read_header, read_table

RTT_COLUMNS = ("period", "org_code", "org_name", "rtt_part_type", "rtt_part_description",
               "treatment_function_code", "treatment_function_name", "total_all", "weeks_band_total",
               "within_18_weeks", "over_52_weeks", "unknown_clock_start")


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
    src = csv_source(path, what="the RTT full extract CSV")
    keys = ["Period", "Provider Org Code", "Provider Org Name", "RTT Part Type", "RTT Part Description",
            "Treatment Function Code", "Treatment Function Name"]
    header = read_header(src, encoding)
    bands = _rtt_bands(src, header)
    optional = ["Patients with unknown clock start date"]
    table = read_table(src, required=[*keys, "Total All", *(b for b, _, _ in bands)], optional=optional, encoding=encoding)
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
    return finish(result, RTT_COLUMNS)


def _rtt_bands(src: CsvSource, header: list[str]) -> list[tuple[str, int, int | None]]:
    """(header, lower, upper) of each week band; upper is None for the open band. Checks contiguity."""
    ranged: dict[int, str] = {}
    open_band: tuple[int, str] | None = None
    for name in header:
        key = norm(name)
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


# -- panel feed ------------------------------------------------------------------------------------

def rtt_to_panel(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per provider from its incomplete pathways (``Part_2``): the publisher's all-specialty roll-up
    (``C_999``) where the provider has one, else the sum of its treatment functions."""
    part2 = frame[frame["rtt_part_type"].str.casefold() == "part_2"]
    rollup = part2["treatment_function_code"].str.upper() == "C_999"
    has_rollup = set(part2.loc[rollup, "org_code"])
    rows = part2[rollup | ~part2["org_code"].isin(has_rollup)]
    sums = rows.groupby("org_code")[["total_all", "within_18_weeks", "over_52_weeks"]].sum(min_count=1)
    return pd.DataFrame({"rtt_total_waiting": sums["total_all"], "rtt_waiting_under_18w": sums["within_18_weeks"],
                         "rtt_waiting_over_52w": sums["over_52_weeks"]})


PANEL = PanelFeed(
    entry="rtt_full_csv", key="trust", to_panel=rtt_to_panel, replaces="trust_profiles", fallback="compiled",
    columns=("rtt_total_waiting", "rtt_waiting_under_18w", "rtt_waiting_over_52w"),
    raw_columns={"rtt_total_waiting": "Total All", "rtt_waiting_under_18w": "Gt 00 To 01 ... Gt 17 To 18 Weeks SUM 1",
                 "rtt_waiting_over_52w": "Gt 52 To 53 ... Gt 104 Weeks SUM 1"},
    note="month-end RTT incomplete pathways; the compilation has the Waiting List Minimum Data Set counts")

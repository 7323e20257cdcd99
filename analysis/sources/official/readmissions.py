"""Emergency readmissions within 30 days of discharge (NHS Digital Compendium indicator I02040), provider
breakdown: parser and panel feed.

The Compendium publishes the indicator as an indirectly standardised percentage (by age, sex, method of admission
and diagnosis/procedure group) with its observed and expected readmissions, for England and for each breakdown
(region, local authority, deprivation quintile, sub-ICB, "NHS and private providers", ...), by sex and age band,
as a trend of financial years.  The panel reads the provider rows for persons of all ages in the latest year.

Layout: one CSV in long format.  The column names below were **not** confirmed against a downloaded file (the
work was offline; see the registry entry's notes): they follow the Compendium's published data set description
(breakdown, level, sex, age band, indicator value with confidence limits, observed, expected, denominator).
Columns are matched by name, case and spacing ignored, so a different column order does not matter.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import DataError
from analysis.sources.official.feed import PanelFeed
from analysis.sources.reader import csv_source, finish, read_table

READMISSIONS_COLUMNS = ("org_code", "org_name", "year", "spells", "observed", "expected", "indicator_value")

#: cells NHS Digital writes for counts withheld under the HES small-numbers rule, beyond the reader's
#: suppression markers ('*', '**', ...): read as missing
LOW_NUMBERS = frozenset({"low numbers", "low number", "low"})
_YEAR = re.compile(r"^(\d{4})/(\d{2})$")
_PROVIDER = re.compile(r"provider", re.IGNORECASE)


def parse_readmissions_30d(path: str | Path, *, encoding: str = "utf-8", year: str | None = None) -> pd.DataFrame:
    """Parse the Compendium CSV of emergency readmissions within 30 days of discharge (I02040).

    Source columns used: ``Year`` (financial year, ``2023/24``), ``Breakdown`` (rows whose breakdown names
    providers are kept), ``Level`` (the provider's ODS code), ``Level description`` (its name), ``Gender``
    (``Persons`` kept), ``Age`` (``All ages`` or ``All`` kept), ``Observed`` and ``Expected`` (readmissions), and
    where present ``Denominator`` (spells) and ``Indicator value`` (the standardised percentage).

    Returns one row per provider (:data:`READMISSIONS_COLUMNS`) of ``year`` (default: the latest year with
    provider rows): ``org_code``, ``org_name``, ``year``, ``spells``, ``observed``, ``expected``,
    ``indicator_value`` (NaN where a column is absent).  Suppressed cells (``*``, ``Low numbers``, blank) become
    missing.  A provider listed twice for the same year, sex and age band is an error; so is a year that is
    not written ``YYYY/YY`` or an observed count without its expected count.
    """
    src = csv_source(path, what="the emergency readmissions CSV")
    required = ["Year", "Breakdown", "Level", "Level description", "Gender", "Age", "Observed", "Expected"]
    table = read_table(src, required=required, optional=["Denominator", "Indicator value"], encoding=encoding)
    f = table.frame
    for name in ("Observed", "Expected", "Denominator", "Indicator value"):
        if table.has(name):
            col = table.col(name)
            f[col] = f[col].where(~f[col].str.strip().str.lower().isin(LOW_NUMBERS), "*")
    years = table.text("Year", required=True)
    bad = ~years.str.match(_YEAR)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise table.error(i, "Year", f"expected a financial year written YYYY/YY (e.g. 2023/24), got "
                                     f"{table.raw('Year', i)}; is this the Compendium readmissions file?")
    keep = (table.text("Breakdown").str.contains(_PROVIDER) & table.text("Gender").str.lower().eq("persons")
            & table.text("Age").str.lower().isin(["all ages", "all"]))
    if not keep.any():
        raise DataError(src.label, "has no provider rows for persons of all ages (Breakdown naming providers, "
                                   "Gender 'Persons', Age 'All ages'); is this the I02040 file of the Compendium "
                                   "readmissions publication?", column=table.col("Breakdown"))
    provider_years = sorted(set(years[keep]))
    if year is None:
        year = max(provider_years, key=lambda y: int(y[:4]))
    elif not _YEAR.match(year):
        raise ValueError(f"year {year!r}: write a financial year as YYYY/YY, e.g. 2023/24")
    keep &= years.eq(year)
    if not keep.any():
        raise DataError(src.label, f"has no provider rows for {year} (years with provider rows: "
                                   f"{', '.join(provider_years)})", column=table.col("Year"))
    t = table.subset(keep)
    out = pd.DataFrame(index=t.frame.index)
    out["org_code"] = t.text("Level", required=True).str.upper()
    out["org_name"] = t.text("Level description")
    out["year"] = year
    out["spells"] = t.number("Denominator") if t.has("Denominator") else np.nan
    out["observed"] = t.number("Observed")
    out["expected"] = t.number("Expected")
    out["indicator_value"] = t.number("Indicator value") if t.has("Indicator value") else np.nan
    half = out["observed"].notna() != out["expected"].notna()
    if half.any():
        i = int(np.flatnonzero(half.to_numpy())[0])
        name = "Expected" if out["observed"].notna().iloc[i] else "Observed"
        raise t.error(i, name, f"is missing ({t.raw(name, i)}) while the other count of the row is given: the "
                               "publisher suppresses both together; check that the file is complete")
    zero = out["expected"].notna() & (out["expected"] <= 0)
    if zero.any():
        i = int(np.flatnonzero(zero.to_numpy())[0])
        raise t.error(i, "Expected", f"expected readmissions must be above 0, got {t.raw('Expected', i)}")
    t.check_unique(out["org_code"], "Level", f"appears more than once for {year}, persons, all ages")
    return finish(out, READMISSIONS_COLUMNS)


# -- panel feed ------------------------------------------------------------------------------------

def readmissions_to_panel(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per trust: the three readmissions panel columns; ``attrs["period"]`` names the year read."""
    out = frame.set_index("org_code")
    panel = pd.DataFrame({"readmissions_spells": out["spells"], "readmissions_observed": out["observed"],
                          "readmissions_expected": out["expected"]})
    years = sorted(set(frame["year"]))
    panel.attrs["period"] = (f"financial year {', '.join(years)} (discharges; indirectly standardised against the "
                             "publication's base year)")
    return panel


PANEL = PanelFeed(
    entry="readmissions_30d", key="trust", to_panel=readmissions_to_panel, replaces="trust_profiles",
    fallback="missing",
    columns=("readmissions_spells", "readmissions_observed", "readmissions_expected"),
    raw_columns={"readmissions_spells": "Denominator", "readmissions_observed": "Observed",
                 "readmissions_expected": "Expected"},
    note="the compilation has no readmissions: a trust the publication does not cover has none (the model leaves "
         "the indicator out for it)")

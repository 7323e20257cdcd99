"""Summary Hospital-level Mortality Indicator (SHMI), trust-level CSV: parser and panel feed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.sources.official.feed import PanelFeed
from analysis.sources.reader import csv_source, finish, read_table

SHMI_COLUMNS = ("org_code", "org_name", "spells", "observed_deaths", "expected_deaths", "shmi_value", "banding")


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
    src = csv_source(path, pick=_is_shmi_trust_member, what="the trust-level SHMI CSV")
    cols = {"PROVIDER_CODE": "org_code", "PROVIDER_NAME": "org_name", "SPELLS": "spells",
            "OBSERVED": "observed_deaths", "EXPECTED": "expected_deaths", "SHMI_VALUE": "shmi_value",
            "SHMI_BANDING": "banding"}
    table = read_table(src, required=list(cols), encoding=encoding)
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
    return finish(out, SHMI_COLUMNS)


def _is_shmi_trust_member(name: str) -> bool:
    low = Path(name).name.lower().replace(" ", "_")
    return "trust_level" in low and "historical" not in low


# -- panel feed ------------------------------------------------------------------------------------

def shmi_to_panel(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per trust: the five SHMI panel columns (banding as a float code, like the compiled column)."""
    out = frame.set_index("org_code")
    return pd.DataFrame({"shmi_spells": out["spells"], "shmi_observed_deaths": out["observed_deaths"],
                         "shmi_expected_deaths": out["expected_deaths"], "shmi_value": out["shmi_value"],
                         "shmi_banding_published": out["banding"].astype("Float64").astype(float)})


PANEL = PanelFeed(
    entry="shmi_trust", key="trust", to_panel=shmi_to_panel, replaces="trust_profiles", fallback="compiled",
    columns=("shmi_spells", "shmi_observed_deaths", "shmi_expected_deaths", "shmi_value", "shmi_banding_published"),
    raw_columns={"shmi_spells": "SPELLS", "shmi_observed_deaths": "OBSERVED", "shmi_expected_deaths": "EXPECTED",
                 "shmi_value": "SHMI_VALUE", "shmi_banding_published": "SHMI_BANDING"},
    note="the compiled columns copy this publication, so a trust it does not cover keeps the compiled values")

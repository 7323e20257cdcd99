"""National Cost Collection, organisation-level MFF-adjusted file (File 2): parser and panel feed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.sources.official.feed import PanelFeed
from analysis.sources.reader import csv_source, finish, read_table

NCC_COLUMNS = ("org_code", "mapping_pot", "activity", "actual_cost_mffd_gbp", "expected_cost_mffd_gbp", "rows",
               "suppressed_cells")

NCC_MAPPING_POT_SETTINGS = {"01_EI": "apc", "02_NEI": "apc", "05_OP": "op", "11_A&E": "ae"}
"""Mapping pots grouped into the cost settings of the panel (``analysis.schema``): elective and
non-elective inpatients are admitted patient care.  Pot codes as found in the 2024/25 File 2 by public
ingestion code; pots not listed (e.g. community, mental health) count only towards the total."""


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
    src = csv_source(path, what="the organisation-level cost CSV")
    required = ["Provider Code", "Mapping Pot", "Activity", "MFFd Actual Cost", "MFFd Expected Cost"]
    table = read_table(src, required=required, encoding=encoding)
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
    return finish(out, NCC_COLUMNS)


# -- panel feed ------------------------------------------------------------------------------------

COST_COLUMNS = tuple(f"ncc_{kind}_cost_{s}_gbp_m" for s in ("total", "apc", "op", "ae") for kind in ("actual", "expected"))


def ncc_to_panel(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per provider: actual and expected cost in GBP million, in total (every mapping pot) and by setting
    (the pots of :data:`NCC_MAPPING_POT_SETTINGS`); a setting without any row for the provider is missing."""
    frame = frame.assign(setting=frame["mapping_pot"].map(NCC_MAPPING_POT_SETTINGS))
    parts = {"total": frame}
    parts.update({s: frame[frame["setting"] == s] for s in ("apc", "op", "ae")})
    out = pd.DataFrame(index=pd.Index(sorted(frame["org_code"].unique()), name="org_code"))
    for setting, rows in parts.items():
        sums = rows.groupby("org_code")[["actual_cost_mffd_gbp", "expected_cost_mffd_gbp"]].sum(min_count=1) / 1e6
        out[f"ncc_actual_cost_{setting}_gbp_m"] = sums["actual_cost_mffd_gbp"]
        out[f"ncc_expected_cost_{setting}_gbp_m"] = sums["expected_cost_mffd_gbp"]
    return out[list(COST_COLUMNS)]


PANEL = PanelFeed(
    entry="ncc_org_mff", key="trust", to_panel=ncc_to_panel, replaces="trust_profiles", fallback="compiled",
    columns=COST_COLUMNS,
    raw_columns={c: ("MFFd Actual Cost" if "_actual_" in c else "MFFd Expected Cost") for c in COST_COLUMNS},
    note="expected cost by setting is summed from the file; the compilation derives it from published cost gaps")

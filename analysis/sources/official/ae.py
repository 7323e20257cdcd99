"""A&E attendances and emergency admissions, monthly CSV by provider: parser and panel feed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.sources.official.feed import PanelFeed
from analysis.sources.reader import csv_source, finish, read_table

AE_COLUMNS = ("period", "org_code", "parent_org", "org_name",
              "attendances_type1", "attendances_type2", "attendances_other",
              "booked_attendances_type1", "booked_attendances_type2", "booked_attendances_other",
              "over_4h_type1", "over_4h_type2", "over_4h_other",
              "booked_over_4h_type1", "booked_over_4h_type2", "booked_over_4h_other",
              "dta_wait_4_12h", "dta_wait_over_12h",
              "emergency_admissions_type1", "emergency_admissions_type2", "emergency_admissions_other",
              "other_emergency_admissions")


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
    src = csv_source(path, what="the monthly A&E CSV")
    ids = ["Period", "Org Code", "Parent Org", "Org name"]
    required = [*ids, *(_AE_SOURCE[k] for k in _AE_REQUIRED)]
    optional = [v for k, v in _AE_SOURCE.items() if k not in _AE_REQUIRED]
    table = read_table(src, required=required, optional=optional, encoding=encoding)
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
    return finish(out, AE_COLUMNS)


# -- panel feed ------------------------------------------------------------------------------------

def _sum_types(frame: pd.DataFrame, names: list[str]) -> pd.Series:
    return frame[names].sum(axis=1, min_count=1)


def ae_to_panel(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per provider: attendances and over-4-hour attendances, all department types and type 1 (booked
    appointments are not added, as in the compiled columns)."""
    f = frame.set_index("org_code")
    return pd.DataFrame({
        "ae_attendances": _sum_types(f, ["attendances_type1", "attendances_type2", "attendances_other"]),
        "ae_over_4h": _sum_types(f, ["over_4h_type1", "over_4h_type2", "over_4h_other"]),
        "ae_type1_attendances": f["attendances_type1"], "ae_type1_over_4h": f["over_4h_type1"]})


PANEL = PanelFeed(
    entry="ae_monthly", key="trust", to_panel=ae_to_panel, replaces="trust_profiles", fallback="compiled",
    columns=("ae_attendances", "ae_over_4h", "ae_type1_attendances", "ae_type1_over_4h"),
    raw_columns={"ae_attendances": "A&E attendances Type 1 + Type 2 + Other A&E Department",
                 "ae_over_4h": "Attendances over 4hrs Type 1 + Type 2 + Other Department",
                 "ae_type1_attendances": _AE_SOURCE["attendances_type1"],
                 "ae_type1_over_4h": _AE_SOURCE["over_4h_type1"]},
    note="the compiled columns copy this publication, so a trust it does not cover keeps the compiled values")

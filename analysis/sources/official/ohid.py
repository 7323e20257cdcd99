"""OHID NHS acute (hospital) trust catchment populations, data tables: parser and panel feed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.sources.official.feed import PanelFeed
from analysis.sources.reader import finish
from analysis.sources.sheets import ods_rows, sheet_table

OHID_COLUMNS = ("catchment_year", "admission_type", "org_code", "org_name", "trust_type", "sex",
                "sex_description", "age_group", "catchment_population")


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
    sheet = sheet_table(ods_rows(path, "Trust_analysis"), label, header_probe="Trust code",
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
    return finish(out, OHID_COLUMNS)


# -- panel feed ------------------------------------------------------------------------------------

def ohid_to_panel(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per trust: its all-admissions catchment population in the latest catchment year, summed over
    sex and age group."""
    rows = frame[frame["admission_type"].str.casefold() == "all admissions"]
    rows = rows[rows["catchment_year"] == rows["catchment_year"].max()]
    total = rows.groupby("org_code")["catchment_population"].sum(min_count=1)
    return pd.DataFrame({"catchment_population": total})


PANEL = PanelFeed(
    entry="ohid_catchments", key="trust", to_panel=ohid_to_panel, replaces="catchment_population",
    fallback="compiled", columns=("catchment_population",),
    raw_columns={"catchment_population": "Catchment population"},
    note="OHID's latest catchment year under current trust codes; the compilation has PHE 2018 catchments with "
         "predecessors summed")

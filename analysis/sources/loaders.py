"""One loader per raw source file; each returns a tidy, format-checked frame.

Loaders only check format (see :mod:`analysis.sources.base`).  Column meanings
and periods are documented in ``analysis/schema.py`` and, for the raw files,
in ``shared/data/PROVENANCE.md``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.errors import DataError
from analysis.sources.base import LINE, read_csv_checked

# --- TrustPulse trust profiles (2025/26 cross-section) -----------------------------------------

#: panel column -> raw column (single-column copies)
TRUST_PROFILE_COLUMNS: dict[str, str] = {
    "shmi_spells": "spells_latest",
    "shmi_observed_deaths": "observed_deaths_latest",
    "shmi_expected_deaths": "expected_deaths_latest",
    "shmi_value": "shmi_value_latest",
    "shmi_banding_published": "shmi_banding_latest",
    "rtt_total_waiting": "wlmds_total_waiting_latest",
    "rtt_waiting_under_18w": "wlmds_waiting_u18wks_latest",
    "rtt_waiting_over_52w": "wlmds_waiting_over52_latest",
    "ae_type1_attendances": "ae_a&e_attendances_type_1_latest",
    "ae_type1_over_4h": "ae_attendances_over_4hrs_type_1_latest",
    "fft_responses": "fft_total_responses_latest",
    "cancer_fds_28d_pct": "cancer_28day_pct",
    "cancer_62d_pct": "cancer_62day_pct",
    "ncc_actual_cost_total_gbp_m": "rc_actual_cost_total_m_latest",
    "ncc_expected_cost_total_gbp_m": "rc_expected_cost_total_m_latest",
    "workforce_fte": "workforce_total_fte_latest",
    "workforce_nursing_fte": "workforce_nursing_fte_latest",
    "workforce_medical_fte": "workforce_medical_fte_latest",
    "beds_ga_available": "beds_ganda_available_latest",
}
AE_ATTENDANCE_PARTS = ("ae_a&e_attendances_type_1_latest", "ae_a&e_attendances_type_2_latest",
                       "ae_a&e_attendances_other_a&e_department_latest")
AE_OVER4_PARTS = ("ae_attendances_over_4hrs_type_1_latest", "ae_attendances_over_4hrs_type_2_latest",
                  "ae_attendances_over_4hrs_other_department_latest")
#: raw columns read only for cross-checks (percentages to compare with counts)
TRUST_PROFILE_CHECK_COLUMNS = ("pct_within_18_weeks_latest", "wlmds_pct_within_18wks_latest",
                               "fft_pct_positive_latest", "rc_cost_gap_pct_latest")
COST_SETTING_COLUMNS = {s: (f"rc_{s}_actual_m_latest", f"rc_{s}_gap_pct_latest") for s in ("apc", "op", "ae")}


def load_trust_profiles(path: Path) -> pd.DataFrame:
    """All organisations in the compiled trust profiles, raw columns kept under their raw names."""
    required: dict[str, str] = {"org_code": "str", "org_name": "str", "Region": "str", "Trust_type": "str",
                                "Trust_subtype": "str", "data_month": "str"}
    for raw in (*TRUST_PROFILE_COLUMNS.values(), *AE_ATTENDANCE_PARTS, *AE_OVER4_PARTS,
                *TRUST_PROFILE_CHECK_COLUMNS):
        required[raw] = "num"
    for actual, gap in COST_SETTING_COLUMNS.values():
        required[actual] = "num"
        required[gap] = "num"
    return read_csv_checked(path, required=required, key="org_code", name="trustpulse")


# --- CQC trust types (BRC resilience index) ------------------------------------------------------

def load_trust_types(path: Path) -> pd.DataFrame:
    return read_csv_checked(path, required={"trust_code": "str", "primary_category": "str"}, key="trust_code",
                            name="brc_trust_types")


# --- geographr lookups ---------------------------------------------------------------------------

def load_catchment_weights(path: Path) -> pd.DataFrame:
    df = read_csv_checked(path, required={"nhs_trust22_code": "str", "ltla21_code": "str",
                                          "proportion_trust_came_from_ltla": "num"}, name="catchment_weights")
    dup = df.duplicated(["nhs_trust22_code", "ltla21_code"], keep=False)
    if dup.any():
        line = int(df.loc[dup, LINE].iloc[1])
        raise DataError(path, "duplicate trust x LTLA pair", row=line, column="ltla21_code")
    return df


def load_successions(path: Path) -> pd.DataFrame:
    return read_csv_checked(path, required={"old_code": "str", "new_code": "str", "date": "str"},
                            name="successions")


def load_regions(path: Path) -> pd.DataFrame:
    return read_csv_checked(path, required={"nhs_trust22_code": "str", "nhs_trust22_name": "str",
                                            "nhs_region21_name": "str", "status": "str"},
                            key="nhs_trust22_code", name="regions")


# --- area-level need -----------------------------------------------------------------------------

def load_imd_ltla(path: Path) -> pd.DataFrame:
    return read_csv_checked(path, required={"ltla22_code": "str", "Score": "num", "Income_Score": "num",
                                            "Health_Score": "num"}, key="ltla22_code", name="imd2019_ltla22")


def load_population(path: Path) -> pd.DataFrame:
    ages = [str(a) for a in range(75, 90)] + ["90+"]
    df = read_csv_checked(path, required={"ltla21_code": "str", "total_population": "num",
                                          **{a: "num" for a in ages}}, key="ltla21_code", name="population20_ltla21")
    out = df[[LINE, "ltla21_code", "total_population"]].copy()
    out["pop_75_plus"] = df[ages].sum(axis=1, min_count=len(ages))
    out.attrs.update(df.attrs)
    return out


def load_health_index(path: Path) -> pd.DataFrame:
    df = read_csv_checked(path, required={"ltla21_code": "str", "year": "num", "overall_score": "num"},
                          name="health_index")
    dup = df.duplicated(["ltla21_code", "year"], keep=False)
    if dup.any():
        raise DataError(path, "duplicate LTLA x year", row=int(df.loc[dup, LINE].iloc[1]), column="year")
    return df


def load_thf_catchments(path: Path) -> pd.DataFrame:
    """PHE catchment populations (2018 values) from the THF trust reference file."""
    df = read_csv_checked(path, required={"year": "num", "procode": "str", "catchment_cat": "num",
                                          "patients_admitted_cat": "num"}, name="thf_trust_ref")
    df = df[df["year"] == 2018].copy()
    dup = df["procode"].duplicated(keep=False)
    if dup.any():
        raise DataError(path, "duplicate procode in year 2018", row=int(df.loc[dup, LINE].iloc[1]), column="procode")
    return df

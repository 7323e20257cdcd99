"""One loader per raw source file; each returns a tidy, format-checked frame.

Loaders only check format (see :mod:`analysis.sources.base`).  Column meanings
and periods are documented in ``analysis/schema.py`` and, for the raw files,
in ``shared/data/PROVENANCE.md``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import schema
from analysis.errors import DataError
from analysis.sources.base import LINE, read_csv_checked

#: Declared minimum number of data rows of each raw file (loader name -> rows).  A file with fewer rows is cut
#: off or is the wrong file.  The shared-data snapshot (PROVENANCE.md) has: trust profiles 221 organisations
#: (129 acute trusts), CQC types 213, catchment weights 5,670, successions 25,480, regions 214, IMD 309 LTLAs,
#: population 331 LTLAs, Health Index 2,149 LTLA-years, THF reference 2,728 trust-years.  The minimums leave
#: room for mergers and boundary changes, not for a lost tenth of a file.
MIN_ROWS: dict[str, int] = {
    "trustpulse": 180, "brc_trust_types": 180, "catchment_weights": 4_500, "successions": 20_000,
    "regions": 180, "imd2019_ltla22": 280, "population20_ltla21": 290, "health_index": 1_700, "thf_trust_ref": 2_000,
}


def _read(path: Path, name: str, required: dict, key: str | None = None, codes: tuple[str, ...] = (),
          ranges: dict | None = None) -> pd.DataFrame:
    """:func:`read_csv_checked` with this source's declared minimum rows and the plausible ranges of
    :mod:`analysis.schema` (``RAW_RANGES[source]``)."""
    return read_csv_checked(path, required=required, key=key, name=name, codes=codes,
                            ranges={**schema.RAW_RANGES.get(_SOURCE_OF[name], {}), **(ranges or {})},
                            min_rows=MIN_ROWS.get(name))


#: loader name -> registry source name (the key of ``schema.RAW_RANGES``)
_SOURCE_OF = {"trustpulse": "trust_profiles", "brc_trust_types": "trust_types", "catchment_weights": "catchment_weights",
              "successions": "successions", "regions": "regions", "imd2019_ltla22": "imd",
              "population20_ltla21": "population", "health_index": "health_index",
              "thf_trust_ref": "catchment_population"}

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
    ranges = {raw: schema.RANGES[col] for col, raw in TRUST_PROFILE_COLUMNS.items()}
    ranges.update({raw: schema.RANGES["ae_attendances"] for raw in AE_ATTENDANCE_PARTS})
    ranges.update({raw: schema.RANGES["ae_over_4h"] for raw in AE_OVER4_PARTS})
    return _read(path, "trustpulse", required, key="org_code", codes=("org_code",), ranges=ranges)


# --- CQC trust types (BRC resilience index) ------------------------------------------------------

def load_trust_types(path: Path) -> pd.DataFrame:
    return _read(path, "brc_trust_types", {"trust_code": "str", "primary_category": "str"}, key="trust_code",
                 codes=("trust_code",))


# --- geographr lookups ---------------------------------------------------------------------------

def load_catchment_weights(path: Path) -> pd.DataFrame:
    df = _read(path, "catchment_weights", {"nhs_trust22_code": "str", "ltla21_code": "str",
                                            "proportion_trust_came_from_ltla": "num"},
               codes=("nhs_trust22_code", "ltla21_code"))
    dup = df.duplicated(["nhs_trust22_code", "ltla21_code"], keep=False)
    if dup.any():
        line = int(df.loc[dup, LINE].iloc[1])
        raise DataError(path, "duplicate trust x LTLA pair", row=line, column="ltla21_code")
    return df


def load_successions(path: Path) -> pd.DataFrame:
    return _read(path, "successions", {"old_code": "str", "new_code": "str", "date": "str"},
                 codes=("old_code", "new_code"))


def load_regions(path: Path) -> pd.DataFrame:
    return _read(path, "regions", {"nhs_trust22_code": "str", "nhs_trust22_name": "str", "nhs_region21_name": "str",
                                   "status": "str"}, key="nhs_trust22_code", codes=("nhs_trust22_code",))


# --- area-level need -----------------------------------------------------------------------------

def load_imd_ltla(path: Path) -> pd.DataFrame:
    return _read(path, "imd2019_ltla22", {"ltla22_code": "str", "Score": "num", "Income_Score": "num",
                                          "Health_Score": "num"}, key="ltla22_code", codes=("ltla22_code",))


def load_population(path: Path) -> pd.DataFrame:
    ages = [str(a) for a in range(75, 90)] + ["90+"]
    df = _read(path, "population20_ltla21", {"ltla21_code": "str", "total_population": "num",
                                             **{a: "num" for a in ages}}, key="ltla21_code", codes=("ltla21_code",))
    out = df[[LINE, "ltla21_code", "total_population"]].copy()
    out["pop_75_plus"] = df[ages].sum(axis=1, min_count=len(ages))
    out.attrs.update(df.attrs)
    return out


def load_health_index(path: Path) -> pd.DataFrame:
    df = _read(path, "health_index", {"ltla21_code": "str", "year": "num", "overall_score": "num"},
               codes=("ltla21_code",))
    dup = df.duplicated(["ltla21_code", "year"], keep=False)
    if dup.any():
        raise DataError(path, "duplicate LTLA x year", row=int(df.loc[dup, LINE].iloc[1]), column="year")
    return df


def load_thf_catchments(path: Path) -> pd.DataFrame:
    """PHE catchment populations (2018 values) from the THF trust reference file."""
    df = _read(path, "thf_trust_ref", {"year": "num", "procode": "str", "catchment_cat": "num",
                                       "patients_admitted_cat": "num"}, codes=("procode",))
    df = df[df["year"] == 2018].copy()
    dup = df["procode"].duplicated(keep=False)
    if dup.any():
        raise DataError(path, "duplicate procode in year 2018", row=int(df.loc[dup, LINE].iloc[1]), column="procode")
    return df

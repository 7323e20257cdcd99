"""The canonical trust panel: one row per trust per period, every column documented.

``COLUMNS`` is the single source of truth: the pandera schema, the data
dictionary written beside each panel (``panel_dictionary.csv``) and the README
table are all generated from it.  Indicators are stored as raw ingredients
(numerators and denominators), never only as ratios.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa

SIZE_CLASSES = ("teaching", "large", "medium", "small", "specialist", "multi-service")
TRUST_TYPES = ("acute non-specialist", "acute specialist")
REGIONS = ("East", "London", "Midlands", "North East and Yorkshire", "North West",
           "South East", "South West")

TP = "TrustPulse trust profiles (compiled from NHS England / NHS Digital publications), data_month 2026-03"


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # "str", "float", "int"
    meaning: str
    unit: str
    source: str
    period: str
    nullable: bool = True
    count: bool = False  # a non-negative count or amount
    group: str = ""


C = Column
COLUMNS: tuple[Column, ...] = (
    # identity
    C("period", "str", "Analysis period label of this cross-section", "label", "SVI", "-", False, group="identity"),
    C("org_code", "str", "NHS trust ODS code (successor code after mergers)", "code", TP, "2026-03", False, group="identity"),
    C("org_name", "str", "Trust name as published", "text", TP, "2026-03", False, group="identity"),
    C("region", "str", "NHS England region", "label", TP, "2026-03", False, group="identity"),
    C("trust_type", "str", "Acute non-specialist or acute specialist (CQC primary inspection category; "
      "size class 'specialist' where CQC has no category)", "label",
      "BRC resilience index open_trust_types (CQC), TrustPulse Trust_subtype", "2021/22; 2026-03", False, group="identity"),
    C("size_class", "str", "ERIC-style size class: teaching, large, medium, small, specialist, multi-service", "label",
      TP + " (Trust_subtype)", "2026-03", False, group="identity"),
    # SHMI
    C("shmi_spells", "float", "SHMI provider spells", "spells", TP + ": NHS Digital SHMI", "Jan 2025 - Dec 2025", count=True, group="quality"),
    C("shmi_observed_deaths", "float", "SHMI observed deaths (in hospital or within 30 days of discharge); published rounded to nearest 5",
      "deaths", TP + ": NHS Digital SHMI", "Jan 2025 - Dec 2025", count=True, group="quality"),
    C("shmi_expected_deaths", "float", "SHMI expected deaths from the national risk model; published rounded to nearest 5",
      "deaths", TP + ": NHS Digital SHMI", "Jan 2025 - Dec 2025", count=True, group="quality"),
    C("shmi_value", "float", "Published SHMI ratio (unrounded observed / expected); kept to cross-check the counts", "ratio",
      TP + ": NHS Digital SHMI", "Jan 2025 - Dec 2025", group="quality"),
    C("shmi_banding_published", "float", "Published SHMI banding: 1 higher than expected, 2 as expected, 3 lower than expected",
      "band", TP + ": NHS Digital SHMI", "Jan 2025 - Dec 2025", group="quality"),
    # RTT
    C("rtt_total_waiting", "float", "Incomplete RTT pathways (patients waiting), Waiting List Minimum Data Set", "pathways",
      TP + ": NHS England WLMDS", "latest week in 2026-03 snapshot", count=True, group="quality"),
    C("rtt_waiting_under_18w", "float", "Incomplete RTT pathways waiting under 18 weeks (WLMDS)", "pathways",
      TP + ": NHS England WLMDS", "latest week in 2026-03 snapshot", count=True, group="quality"),
    C("rtt_waiting_over_52w", "float", "Incomplete RTT pathways waiting over 52 weeks (WLMDS)", "pathways",
      TP + ": NHS England WLMDS", "latest week in 2026-03 snapshot", count=True, group="quality"),
    # A&E
    C("ae_attendances", "float", "A&E attendances, all department types (1, 2 and other)", "attendances",
      TP + ": NHS England A&E Attendances and Emergency Admissions", "latest month in 2026-03 snapshot", count=True, group="quality"),
    C("ae_over_4h", "float", "A&E attendances over 4 hours from arrival to admission, transfer or discharge, all types",
      "attendances", TP + ": NHS England A&E Attendances and Emergency Admissions", "latest month in 2026-03 snapshot", count=True, group="quality"),
    C("ae_type1_attendances", "float", "Type 1 (major) A&E attendances", "attendances",
      TP + ": NHS England A&E Attendances and Emergency Admissions", "latest month in 2026-03 snapshot", count=True, group="quality"),
    C("ae_type1_over_4h", "float", "Type 1 A&E attendances over 4 hours", "attendances",
      TP + ": NHS England A&E Attendances and Emergency Admissions", "latest month in 2026-03 snapshot", count=True, group="quality"),
    # FFT
    C("fft_responses", "float", "Friends and Family Test responses (all settings)", "responses",
      TP + ": NHS England FFT", "latest month in 2026-03 snapshot", count=True, group="quality"),
    C("fft_positive", "float", "FFT responses rating the service good or very good; derived as round(responses x published share positive)",
      "responses", TP + ": NHS England FFT", "latest month in 2026-03 snapshot", count=True, group="quality"),
    # cancer (no denominators published in the compilation)
    C("cancer_fds_28d_pct", "float", "Cancer Faster Diagnosis Standard: % told within 28 days (no denominator available)",
      "percent", TP + ": NHS England Cancer Waiting Times", "latest in 2026-03 snapshot", group="quality"),
    C("cancer_62d_pct", "float", "Cancer 62-day standard: % treated within 62 days (no denominator available)",
      "percent", TP + ": NHS England Cancer Waiting Times", "latest in 2026-03 snapshot", group="quality"),
    # cost (National Cost Collection, MFF-adjusted)
    *(C(f"ncc_{kind}_cost_{setting}_gbp_m", "float",
        f"National Cost Collection {kind} cost, {label} (MFF-adjusted; expected = activity x national average unit cost)",
        "GBP million", TP + ": NHS England National Cost Collection", "2024/25", count=True, group="cost")
      for setting, label in (("total", "all settings"), ("apc", "admitted patient care"),
                             ("op", "outpatients"), ("ae", "A&E"))
      for kind in ("actual", "expected")),
    # resources
    C("workforce_fte", "float", "Total staff full-time equivalent", "FTE", TP + ": NHS Digital NHS Workforce Statistics",
      "latest month in 2026-03 snapshot", count=True, group="resources"),
    C("workforce_nursing_fte", "float", "Nursing and health visiting staff FTE", "FTE", TP + ": NHS Digital NHS Workforce Statistics",
      "latest month in 2026-03 snapshot", count=True, group="resources"),
    C("workforce_medical_fte", "float", "Medical and dental staff FTE", "FTE", TP + ": NHS Digital NHS Workforce Statistics",
      "latest month in 2026-03 snapshot", count=True, group="resources"),
    C("beds_ga_available", "float", "General and acute beds available (average)", "beds", TP + ": NHS England UEC sitrep / KH03",
      "latest month in 2026-03 snapshot", count=True, group="resources"),
    # need (catchment-weighted)
    C("catchment_population", "float", "Modelled catchment population (PHE/OHID acute trust catchments, all admissions); "
      "merged trusts sum their predecessors", "people", "THF trust reference file (PHE 2020 release)", "2018", count=True, group="need"),
    C("imd_score", "float", "Catchment-weighted IMD 2019 average score (LTLA population-weighted score x trust-from-LTLA share)",
      "IMD score", "MHCLG IoD 2019 via humaniverse/IMD; OHID catchments via geographr", "IoD 2019; catchments 2010-2020", group="need"),
    C("imd_income_score", "float", "Catchment-weighted IMD 2019 income domain score (share income deprived)", "proportion",
      "MHCLG IoD 2019 via humaniverse/IMD; OHID catchments via geographr", "IoD 2019", group="need"),
    C("imd_health_score", "float", "Catchment-weighted IMD 2019 health deprivation and disability domain score", "score (z-like)",
      "MHCLG IoD 2019 via humaniverse/IMD; OHID catchments via geographr", "IoD 2019", group="need"),
    C("share_aged_75_plus", "float", "Catchment-weighted share of residents aged 75 and over", "proportion",
      "ONS mid-2020 population estimates via demographr; OHID catchments via geographr", "mid-2020", group="need"),
    C("health_index_score", "float", "Catchment-weighted ONS Health Index overall score (100 = England 2015; higher is healthier)",
      "index", "ONS Health Index via healthyr; OHID catchments via geographr", "2021", group="need"),
    C("catchment_weight_coverage", "float", "Share of the trust's catchment weight that joined to an area with need data", "proportion",
      "SVI", "-", group="need"),
)

COLUMN_NAMES = tuple(c.name for c in COLUMNS)
COST_SETTINGS = ("total", "apc", "op", "ae")


def dictionary() -> pd.DataFrame:
    """The data dictionary as a table (written beside every panel)."""
    return pd.DataFrame([{k: getattr(c, k) for k in ("name", "group", "dtype", "unit", "meaning", "source", "period",
                                                      "nullable")} for c in COLUMNS])


def _check(c: Column) -> list[pa.Check]:
    checks: list[pa.Check] = []
    if c.count:
        checks.append(pa.Check.ge(0))
    if c.name in ("size_class",):
        checks.append(pa.Check.isin(SIZE_CLASSES))
    if c.name == "trust_type":
        checks.append(pa.Check.isin(TRUST_TYPES))
    if c.name.endswith("_pct"):
        checks.append(pa.Check.in_range(0, 100))
    if c.name in ("share_aged_75_plus", "imd_income_score", "catchment_weight_coverage"):
        checks.append(pa.Check.in_range(0, 1))
    return checks


def panel_schema() -> pa.DataFrameSchema:
    cols = {}
    for c in COLUMNS:
        dtype = {"str": str, "float": float, "int": int}[c.dtype]
        cols[c.name] = pa.Column(dtype, checks=_check(c), nullable=c.nullable, coerce=True)
    return pa.DataFrameSchema(
        cols,
        strict=True,
        unique=["org_code", "period"],
        checks=[
            pa.Check(lambda d: (d.shmi_observed_deaths.isna() | d.shmi_spells.isna() | (d.shmi_observed_deaths <= d.shmi_spells)),
                     error="observed deaths above spells"),
            pa.Check(lambda d: (d.shmi_expected_deaths.isna() | (d.shmi_expected_deaths > 0)),
                     error="expected deaths <= 0"),
            pa.Check(lambda d: d.rtt_waiting_under_18w.isna() | d.rtt_total_waiting.isna() | (d.rtt_waiting_under_18w <= d.rtt_total_waiting),
                     error="RTT under-18-week pathways above total"),
            pa.Check(lambda d: d.ae_over_4h.isna() | d.ae_attendances.isna() | (d.ae_over_4h <= d.ae_attendances),
                     error="A&E over-4-hour attendances above attendances"),
            pa.Check(lambda d: d.fft_positive.isna() | d.fft_responses.isna() | (d.fft_positive <= d.fft_responses),
                     error="FFT positive above responses"),
        ],
    )


def validate_panel(df: pd.DataFrame) -> pd.DataFrame:
    """Validate and coerce a panel; raises ``pandera.errors.SchemaError`` on failure."""
    df = df[list(COLUMN_NAMES)]
    return panel_schema().validate(df)

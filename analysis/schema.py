"""The canonical trust panel: one row per trust per period, every column documented.

``COLUMNS`` is the single source of truth: the pandera schema, the data
dictionary written beside each panel (``panel_dictionary.csv``) and the README
table are all generated from it.  Indicators are stored as raw ingredients
(numerators and denominators), never only as ratios.

Every numeric value, in the panel and in every raw file it is built from, must be finite and lie in a plausible
range: ``RANGES`` (panel columns) and ``RAW_RANGES`` (raw columns that are not copied into the panel), each range
with its source.  Upper bounds are about ten times the largest value published for any English trust (or area), so
they catch impossible numbers (``inf``, ``1e308``, a cost in pounds instead of millions) without judging real
outliers.  The loaders set an out-of-range raw value missing and the panel's quality report lists it (file, line,
raw column, value, range); the panel schema refuses any panel that still holds one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa

from models.config import SIZE_CLASSES  # noqa: F401  the one list of size classes (the default peer groups)

TRUST_TYPES = ("acute non-specialist", "acute specialist")
REGIONS = ("East", "London", "Midlands", "North East and Yorkshire", "North West",
           "South East", "South West")

TP = "TrustPulse trust profiles (compiled from NHS England / NHS Digital publications), data_month 2026-03"
_CWT = "NHS England Cancer Waiting Times (monthly provider files) via drjmartins/waiting-times (raw/waiting_times)"
_CWT_PERIOD = "2025/26"  # April 2025 - March 2026 (the meanings say so)
_READM = ("NHS Digital Compendium: Emergency readmissions to hospital within 30 days of discharge (I02040), "
          "NHS and private providers")


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
    #: present only in a panel built with its source (an official publication in the download cache): a panel
    #: without it is complete, and its hash, files and dictionary are those of a build that never knew it
    optional: bool = False


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
    # cancer: the compilation's latest-month percentages (shown, not modelled), and the counts the model reads: the
    # financial year 2025/26 from NHS England's monthly Cancer Waiting Times (numerators and denominators, provider x
    # month; analysis/trend/years.py cross_section_cancer)
    C("cancer_fds_28d_pct", "float", "Cancer Faster Diagnosis Standard: % told within 28 days, latest month as compiled "
      "(the model reads the year's counts, cancer_fds_within / cancer_fds_total)",
      "percent", TP + ": NHS England Cancer Waiting Times", "latest in 2026-03 snapshot", group="quality"),
    C("cancer_62d_pct", "float", "Cancer 62-day standard: % treated within 62 days, latest month as compiled "
      "(the model reads the year's counts, cancer_62d_within / cancer_62d_total)",
      "percent", TP + ": NHS England Cancer Waiting Times", "latest in 2026-03 snapshot", group="quality"),
    C("cancer_fds_within", "float", "Cancer Faster Diagnosis Standard: patients told of a diagnosis or ruling out "
      "within 28 days of referral, sum of the months April 2025 - March 2026 (at least 9 of 12), rounded to whole "
      "patients (a patient shared between providers counts 0.5 at each)",
      "patients", _CWT, _CWT_PERIOD, count=True, group="quality"),
    C("cancer_fds_total", "float", "Cancer Faster Diagnosis Standard: patients with an outcome (the denominator), "
      "sum of the months April 2025 - March 2026, rounded to whole patients", "patients", _CWT, _CWT_PERIOD, count=True, group="quality"),
    C("cancer_62d_within", "float", "Cancer 62-day combined standard: patients treated within 62 days of referral, "
      "sum of the months April 2025 - March 2026 (at least 9 of 12), rounded to whole patients", "patients", _CWT, _CWT_PERIOD, count=True, group="quality"),
    C("cancer_62d_total", "float", "Cancer 62-day combined standard: patients treated (the denominator), sum of the "
      "months April 2025 - March 2026, rounded to whole patients", "patients", _CWT, _CWT_PERIOD, count=True, group="quality"),
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
    # emergency readmissions within 30 days (NHS Digital Compendium I02040): only when the publication is in the
    # download cache (registry entry 'readmissions_30d'); the compilation has no readmissions
    *(C(f"readmissions_{part}", "float", meaning, "spells" if part == "spells" else "readmissions", _READM, "financial year "
        "of the publication (panel_dictionary.csv)", count=True, group="quality", optional=True)
      for part, meaning in (
          ("spells", "Finished continuous inpatient spells discharged in the year (denominator of the readmission rate)"),
          ("observed", "Emergency readmissions within 30 days of discharge, observed (cancer and obstetrics excluded)"),
          ("expected", "Emergency readmissions expected from the national rates by age, sex, method of admission and "
                       "diagnosis/procedure group (indirect standardisation)"))),
)

COLUMN_NAMES = tuple(c.name for c in COLUMNS)
#: the columns every panel has (the others are :attr:`Column.optional`)
REQUIRED_COLUMN_NAMES = tuple(c.name for c in COLUMNS if not c.optional)


def present_columns(df: pd.DataFrame) -> list[str]:
    """The schema's columns that ``df`` holds, in schema order: every required one and the optional ones present."""
    return [c.name for c in COLUMNS if not c.optional or c.name in df.columns]


@dataclass(frozen=True)
class Range:
    """Plausible values of a number: ``lo <= x <= hi`` (``lo`` excluded when ``lo_open``), always finite."""

    lo: float
    hi: float
    source: str
    lo_open: bool = False

    def ok(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        above = x > self.lo if self.lo_open else x >= self.lo
        return np.isfinite(x) & above & (x <= self.hi)

    def text(self) -> str:
        return f"{'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}]"


#: Finite, nothing else known (e.g. a rejected column kept only to detect its defect).
FINITE = Range(-math.inf, math.inf, "finite only: the column is not used as a number")

_LARGEST = "largest English trust in the 2025/26 TrustPulse snapshot"
_COST = Range(0, 25_000, f"GBP million; {_LARGEST}: GBP 2,435m actual cost (NCC 2024/25); bound ~10x")
_AE = Range(0, 500_000, f"attendances in a month; {_LARGEST}: 34,602 type 1 (45,558 all types); bound ~10x")
_RTT = Range(0, 2_000_000, f"pathways; {_LARGEST}: 178,774 waiting (WLMDS); bound ~10x")
_SHARE = Range(0, 1, "a proportion")
_PCT = Range(0, 100, "a percentage")

#: Plausible range of every numeric panel column (the data dictionary and README list them).
RANGES: dict[str, Range] = {
    "shmi_spells": Range(0, 2_500_000, f"spells a year; {_LARGEST}: 254,890 (NHS Digital SHMI); bound ~10x"),
    "shmi_observed_deaths": Range(0, 100_000, f"deaths a year; {_LARGEST}: 6,980 observed; bound ~10x"),
    "shmi_expected_deaths": Range(0, 100_000, f"deaths a year; {_LARGEST}: 7,580 expected; bound ~10x"),
    "shmi_value": Range(0, 5, "SHMI is observed/expected: 0.71-1.33 published for 2025; bound 5", lo_open=True),
    "shmi_banding_published": Range(1, 3, "NHS Digital SHMI banding codes 1, 2, 3"),
    "rtt_total_waiting": _RTT, "rtt_waiting_under_18w": _RTT, "rtt_waiting_over_52w": _RTT,
    "ae_attendances": _AE, "ae_over_4h": _AE, "ae_type1_attendances": _AE, "ae_type1_over_4h": _AE,
    "fft_responses": Range(0, 1_000_000, f"responses in a month; {_LARGEST}: 10,337; bound ~100x"),
    "fft_positive": Range(0, 1_000_000, "responses in a month (derived from fft_responses)"),
    "cancer_fds_28d_pct": _PCT, "cancer_62d_pct": _PCT,
    **{f"cancer_{m}_{part}": Range(0, 1_000_000, f"patients in a year; {_LARGEST}: 78,483 FDS outcomes and 7,702 "
                                   "62-day treatments in 2025/26; bound ~10x")
       for m in ("fds", "62d") for part in ("within", "total")},
    **{f"ncc_{kind}_cost_{s}_gbp_m": _COST for s in ("total", "apc", "op", "ae") for kind in ("actual", "expected")},
    "workforce_fte": Range(0, 500_000, f"FTE; {_LARGEST}: 55,879 total (flagged as double counting); bound ~10x"),
    "workforce_nursing_fte": Range(0, 100_000, f"FTE; {_LARGEST}: 8,446 nursing; bound ~10x"),
    "workforce_medical_fte": Range(0, 100_000, f"FTE; {_LARGEST}: 3,774 medical; bound ~25x"),
    "beds_ga_available": Range(0, 25_000, f"beds; {_LARGEST}: 2,474 G&A beds; bound ~10x"),
    "catchment_population": Range(0, 10_000_000, "people; largest PHE 2018 trust catchment 1.16 million; bound ~10x"),
    "imd_score": Range(0, 100, "IoD 2019 average scores run 0-100 (LTLA 5.5-45.0)"),
    "imd_income_score": Range(0, 1, "IoD 2019 income domain: share of people income deprived"),
    "imd_health_score": Range(-5, 5, "IoD 2019 health domain is a z-like score (LTLA -2.6 to 1.6)"),
    "share_aged_75_plus": _SHARE,
    "health_index_score": Range(0, 200, "ONS Health Index, 100 = England 2015 (LTLA 76.5-127.7 in 2015-2021)"),
    "catchment_weight_coverage": _SHARE,
    # no published provider figures could be read offline: bounds from SHMI's (every readmission follows a spell)
    "readmissions_spells": Range(0, 2_500_000, "spells a year; as shmi_spells (largest trust 254,890); bound ~10x"),
    "readmissions_observed": Range(0, 500_000, "readmissions a year: at most the spells of the largest trust x about "
                                   "15% (the national rate), bound ~10x"),
    "readmissions_expected": Range(0, 500_000, "as readmissions_observed"),
}

#: Plausible ranges of raw columns that are not copied into the panel one to one: registry source name ->
#: raw column -> range.  (A raw column copied into a panel column takes that column's range.)
RAW_RANGES: dict[str, dict[str, Range]] = {
    "trust_profiles": {
        "pct_within_18_weeks_latest": FINITE,  # holds counts, not percentages: rejected as a column
        "wlmds_pct_within_18wks_latest": _SHARE,
        "fft_pct_positive_latest": Range(0, 100, "a proportion (0-1) or a percentage (0-100; repaired)"),
        "rc_cost_gap_pct_latest": Range(-100, 1000, "actual/expected - 1 in percent: above -100; published -17 to 59",
                                        lo_open=True),
        **{f"rc_{s}_gap_pct_latest": Range(-100, 1000, "setting cost gap in percent: above -100; published -95 to "
                                                       "385", lo_open=True) for s in ("apc", "op", "ae")},
        **{f"rc_{s}_actual_m_latest": _COST for s in ("apc", "op", "ae")},
    },
    "catchment_weights": {"proportion_trust_came_from_ltla": _SHARE},
    "imd": {"Score": RANGES["imd_score"], "Income_Score": RANGES["imd_income_score"],
            "Health_Score": RANGES["imd_health_score"]},
    "population": {"total_population": Range(0, 10_000_000, "people; largest LTLA (Birmingham) 1.14 million"),
                   **{a: Range(0, 1_000_000, "people of one year of age in an LTLA")
                      for a in [str(a) for a in range(75, 90)] + ["90+"]}},
    "health_index": {"year": Range(2000, 2100, "a calendar year"),
                     "overall_score": RANGES["health_index_score"]},
    "catchment_population": {"year": Range(2000, 2100, "a calendar year"),
                             "catchment_cat": RANGES["catchment_population"],
                             "patients_admitted_cat": Range(0, 10_000_000, "patients a year; largest 531,924")},
}


def range_of(name: str) -> Range | None:
    return RANGES.get(name)
COST_SETTINGS = ("total", "apc", "op", "ae")


def dictionary(sources: dict[str, dict] | None = None, present=None) -> pd.DataFrame:
    """The data dictionary as a table (written beside every panel), with each numeric column's plausible range.

    ``sources`` replaces the ``source`` and ``period`` of columns a build took from elsewhere than the
    compilation (an official publication; see :mod:`analysis.precedence`).  An optional column is listed when the
    panel holds it (``present``: its columns) or ``sources`` names it."""
    rows = []
    for c in COLUMNS:
        if c.optional and c.name not in (sources or {}) and c.name not in set(present if present is not None else ()):
            continue  # an optional column the build did not make
        r = {k: getattr(c, k) for k in ("name", "group", "dtype", "unit", "meaning", "source", "period", "nullable")}
        r.update((sources or {}).get(c.name, {}))
        rng = RANGES.get(c.name)
        r.update(valid_range=rng.text() if rng else "", range_source=rng.source if rng else "")
        rows.append(r)
    return pd.DataFrame(rows)


def _check(c: Column) -> list[pa.Check]:
    checks: list[pa.Check] = []
    if c.dtype == "float":
        rng = RANGES.get(c.name)
        if rng is not None:
            checks.append(pa.Check(lambda x, rng=rng: pd.Series(rng.ok(x), index=x.index) | x.isna(),
                                   element_wise=False, error=f"outside the plausible range {rng.text()} or not finite "
                                                            f"({rng.source})"))
        else:
            checks.append(pa.Check(lambda x: pd.Series(np.isfinite(x.to_numpy(dtype=float)), index=x.index)
                                   | x.isna(), element_wise=False, error="not finite"))
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
        cols[c.name] = pa.Column(dtype, checks=_check(c), nullable=c.nullable, coerce=True, required=not c.optional)
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
            # optional columns: checked when the panel has them
            pa.Check(lambda d: pd.Series(True, index=d.index) if "readmissions_expected" not in d
                     else d.readmissions_expected.isna() | (d.readmissions_expected > 0),
                     error="expected readmissions <= 0"),
        ],
    )


def validate_panel(df: pd.DataFrame, source=None) -> pd.DataFrame:
    """Validate and coerce a panel; raises :class:`~analysis.errors.DataError` naming the file (``source``, else
    "panel"), the trust, the column, the value and what to do."""
    import pandera.errors as pe

    from analysis.errors import DataError

    where = str(source) if source is not None else "panel (in memory)"
    todo = ("; rebuild the panel with `svi data build` (the build sets such values missing and lists them in "
            "quality_report.md)")
    missing = [c for c in REQUIRED_COLUMN_NAMES if c not in df.columns]
    if missing:
        raise DataError(where, f"not a panel of this version of svi: missing column(s) {missing[:8]}{todo}",
                        column=missing[0])
    df = df[present_columns(df)]
    try:
        return panel_schema().validate(df)
    except pe.SchemaError as exc:
        col = getattr(exc.schema, "name", None) if exc.schema is not None else None
        fc = exc.failure_cases
        detail = str(exc).splitlines()[0]
        row = None
        check = exc.check
        check = (getattr(check, "error", None) or getattr(check, "name", None) or str(check)) if check is not None \
            else "schema"
        if fc is not None and len(fc) and "index" in fc:
            i = fc["index"].iloc[0]
            vals = fc["failure_case"].tolist()[:3]
            if i is not None and not pd.isna(i) and i in df.index:
                row = df.index.get_loc(i) + 2 if source is not None and str(source).endswith(".csv") else None
                code = df.at[i, "org_code"]
                detail = (f"trust {code}: value {vals[0]!r} fails the check: {check}"
                          + (f" ({len(fc)} failures)" if len(fc) > 1 else ""))
            else:
                detail = f"{check}: failure cases {vals}"
        raise DataError(where, detail + todo, row=row, column=col if isinstance(col, str) else None) from None

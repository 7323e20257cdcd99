"""The trust x financial-year panel, built beside the 2025/26 cross-section by ``svi data build``.

One row for every acute trust of the cross-section in every financial year of the window (2016/17 to the last
year with data; years without data are rows of missing values, so a trust's history is never silently short).
The columns are the cross-section's (:mod:`analysis.schema`, ``period`` = the financial year, e.g. "2023/24")
plus :data:`EXTRA_COLUMNS` (``year``, the cancer counts, beds occupied, months reported, series-break flags).

Sources and rules:

* **codes**: every month's codes are mapped to today's trusts (:mod:`analysis.trend.successors`: mergers summed,
  splits broken);
* **months to years** (financial year April-March): flows (A&E attendances, cancer pathways) are **summed** over
  the months reported; month-end stocks (RTT incomplete pathways) and monthly averages (beds) are **averaged**
  over the months reported, so the RTT denominator is the trust's typical waiting list, not twelve times it (the
  same patients wait in many months; counting them twelve times would claim twelve times the information);
* **missing months**: a trust-year of one measure needs at least :data:`MIN_MONTHS` of its 12 months; with fewer
  it is missing (listed in the report with the months it had).  A year with 9-11 months is the sum (or mean) of
  the months it has: the share is the model's estimand and the denominator the information actually observed;
* **A&E** from two files: NHSRdatasets 2016/17-2018/19 (department types summed) and healthyr 2021/22-
  (all types); months of trusts in the 4-hour field test (no 4-hour count) are missing, not zero;
* **series breaks** (:data:`BREAKS`): RTT 2024-02 (publication change) and the cancer 31- and 62-day standards
  2023-10 (redefined); the year holding the break month is flagged (``break_<measure>``), and the dynamic model
  lets the national level jump there and in the year after (``models/trend_model.py``);
* **one-year indicators**: SHMI (Jan-Dec 2025) and FFT (latest month) enter 2025/26 and National Cost Collection
  cost (2024/25) enters 2024/25, from the cross-section; need covariates, names, region and size class are the
  cross-section's in every year.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import io, schema
from analysis.schema import Column
from analysis.trend import successors as succ_mod
from models import indicators as registry

#: Fewest months of 12 a trust-year needs for one measure (fewer: missing).  Nine keeps a year that lost a
#: quarter to a reporting problem and drops part-years (a trust's first months on a new patient record system, the
#: two months of 2025/26 in the 2021- A&E file).
MIN_MONTHS = 9
FIRST_YEAR = 2016
#: measure -> (first month after the break, what changed)
BREAKS = {"rtt": ("2024-02", "RTT publication change (NHS England, February 2024 data)"),
          "cancer_31d": ("2023-10", "31-day standard redefined (combined standard from October 2023)"),
          "cancer_62d": ("2023-10", "62-day standard redefined (combined standard from October 2023)")}
STOCKS = {"rtt", "beds"}
MEASURES = ("rtt", "ae", "cancer_fds", "cancer_31d", "cancer_62d", "beds")

C = Column
_SRC_RTT = "NHS England RTT full CSV files via drjmartins/waiting-times (raw/waiting_times)"
_SRC_CWT = "NHS England Cancer Waiting Times via drjmartins/waiting-times (raw/waiting_times)"
EXTRA_COLUMNS: tuple[Column, ...] = (
    C("year", "int", "First calendar year of the financial year (2023 = 2023/24)", "year", "SVI", "-", False,
      group="identity"),
    C("cancer_31d_within", "float", "Treated within 31 days of decision to treat, sum of months", "patients",
      _SRC_CWT, "financial year", count=True, group="quality"),
    C("cancer_31d_total", "float", "Patients treated (31-day standard), sum of months", "patients", _SRC_CWT,
      "financial year", count=True, group="quality"),
    C("beds_ga_occupied", "float", "General and acute beds occupied, mean of monthly averages", "beds",
      "NHS England UEC sitrep via healthyr", "financial year", count=True, group="resources"),
    *(C(f"months_{m}", "int", f"Months of the financial year with {m} data (after successor mapping)", "months",
        "SVI", "financial year", False, group="coverage") for m in MEASURES),
    *(C(f"break_{m}", "bool", f"The year holds the {m} series break ({BREAKS[m][0]}: {BREAKS[m][1]})", "flag",
        "SVI", "financial year", False, group="coverage") for m in BREAKS),
)
#: Ranges of the columns that hold a year's sum of monthly flows in the year panel (the cross-section holds a month)
YEAR_RANGES = {c: schema.Range(0, 6_000_000, "A&E attendances in a financial year: the cross-section's monthly bound "
                                             "x 12") for c in ("ae_attendances", "ae_over_4h")}
#: Cross-section columns whose meaning changes in the year panel (the data dictionary says so).
REDEFINED = {
    "rtt_total_waiting": ("Incomplete RTT pathways, mean of the month-end counts of the financial year", _SRC_RTT),
    "rtt_waiting_under_18w": ("Incomplete RTT pathways within 18 weeks, mean of the month-end counts", _SRC_RTT),
    "ae_attendances": ("A&E attendances, all department types, sum of the months of the financial year",
                       "NHS England A&E via NHSRdatasets (2016/17-2018/19) and healthyr (2021/22-)"),
    "ae_over_4h": ("A&E attendances over 4 hours, all types, sum of the months", "as ae_attendances"),
    "cancer_fds_28d_pct": ("FDS: % told within 28 days, from the year's counts", _SRC_CWT),
    "cancer_62d_pct": ("62-day standard: % treated within 62 days, from the year's counts", _SRC_CWT),
    # the cross-section's columns (schema) hold FY 2025/26 rounded to whole patients; here every year, halves kept
    "cancer_fds_within": ("Told of a cancer diagnosis or ruling out within 28 days (FDS), sum of months (halves "
                          "kept)", _SRC_CWT),
    "cancer_fds_total": ("Patients with an FDS outcome, sum of months (halves kept)", _SRC_CWT),
    "cancer_62d_within": ("Treated within 62 days of referral, sum of months (halves kept)", _SRC_CWT),
    "cancer_62d_total": ("Patients treated (62-day standard), sum of months (halves kept)", _SRC_CWT),
    "beds_ga_available": ("General and acute beds available, mean of monthly averages",
                          "NHS England UEC sitrep via healthyr"),
}
#: cross-section columns carried into one year only: column prefix/name -> the financial year they describe
ONE_YEAR = {"shmi_": 2025, "fft_": 2025, "ncc_": 2024, "workforce_": 2025}
#: cross-section columns the year panel does not carry (other definitions than the monthly series)
NOT_CARRIED = ("rtt_waiting_over_52w", "ae_type1_attendances", "ae_type1_over_4h")
#: identity and need: the same in every year
STATIC = ("org_name", "region", "trust_type", "size_class", "catchment_population", "imd_score", "imd_income_score",
          "imd_health_score", "share_aged_75_plus", "health_index_score", "catchment_weight_coverage")


def fy_start(month: pd.Series) -> pd.Series:
    """'2023-03' -> 2022, '2023-04' -> 2023."""
    y = month.str.slice(0, 4).astype(int)
    m = month.str.slice(5, 7).astype(int)
    return y - (m < 4).astype(int)


def fy_label(year: int) -> str:
    return f"{year}/{(year + 1) % 100:02d}"


def to_years(monthly: pd.DataFrame, min_months: int = MIN_MONTHS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Aggregate a mapped monthly frame (org_code, month, measure, numerator, denominator) to financial years.

    Returns (years: org_code, year, measure, numerator, denominator, months; short: the trust-years set missing
    for having fewer than ``min_months`` months, with the months they had).  A month counts when both numerator
    and denominator are present."""
    m = monthly.reset_index(drop=True)
    m["year"] = fy_start(m["month"])
    m["ok"] = m["numerator"].notna() & m["denominator"].notna()
    m.loc[~m["ok"], ["numerator", "denominator"]] = 0.0
    g = m.groupby(["org_code", "year", "measure"])
    out = g.agg(numerator=("numerator", "sum"), denominator=("denominator", "sum"), months=("ok", "sum"),
                have=("month", lambda s: ",".join(sorted(s[m.loc[s.index, "ok"]])) or "none"),
                blank=("month", lambda s: ",".join(sorted(s[~m.loc[s.index, "ok"]])))).reset_index()
    out["months"] = out["months"].astype(int)
    stock = out["measure"].isin(STOCKS)
    out.loc[stock, ["numerator", "denominator"]] = out.loc[stock, ["numerator", "denominator"]].div(
        out.loc[stock, "months"], axis=0)
    short = out[out["months"] < min_months].copy()
    out.loc[out["months"] < min_months, ["numerator", "denominator"]] = np.nan
    return out.drop(columns=["have", "blank"]), short


@dataclass
class YearPanelResult:
    panel: pd.DataFrame
    mapping: pd.DataFrame            # every code's fate (successors)
    findings: pd.DataFrame           # every month or trust-year set missing, and every raw value set missing
    coverage: pd.DataFrame           # trusts with data, per year x measure
    notes: list[str] = field(default_factory=list)

    def summary_text(self) -> str:
        cov = self.coverage
        lines = [f"year panel: {self.panel.org_code.nunique()} trusts x {self.panel.year.nunique()} financial years "
                 f"({fy_label(self.panel.year.min())} to {fy_label(self.panel.year.max())})"]
        for m, row in cov.iterrows():
            yrs = [f"{c} {int(v)}" for c, v in row.items() if v > 0]
            lines.append(f"  {m}: " + (", ".join(yrs) if yrs else "no data"))
        return "\n".join(lines)


def _breaks(years: pd.Series) -> dict[str, pd.Series]:
    out = {}
    for m, (month, _) in BREAKS.items():
        y = int(fy_start(pd.Series([month])).iloc[0])
        out[f"break_{m}"] = years == y
    return out


def build_year_panel(monthly: dict[str, pd.DataFrame], cross_section: pd.DataFrame, edges: pd.DataFrame | None,
                     curated=(), min_months: int = MIN_MONTHS) -> YearPanelResult:
    """The year panel from loaded monthly sources (:func:`analysis.sources.monthly.load_monthly`), the built
    cross-section (its trusts, identities, need and one-year indicators) and the ODS successions."""
    current = set(cross_section["org_code"])
    tidy = pd.concat(list(monthly.values()), ignore_index=True)
    succ = succ_mod.successions(edges, curated)
    mapping = succ_mod.successor_map(tidy["org_code"], succ, current)
    mapped, dropped = succ_mod.apply(tidy, mapping)
    years, short = to_years(mapped, min_months)
    findings = []
    for name, frame in monthly.items():
        for v in frame.attrs.get("invalid", []):
            findings.append({"org_code": v["code"], "year": None, "measure": name, "action": "set missing",
                             "reason": f"raw value {v['raw']!r} in column {v['column']}: {v['reason']}",
                             "source": frame.attrs.get("file", name), "line": v["line"]})
    for r in dropped.itertuples():
        findings.append({"org_code": r.org_code, "year": int(fy_start(pd.Series([r.month])).iloc[0]),
                         "measure": r.measure, "action": "set missing", "reason": f"month {r.month}: {r.reason}",
                         "source": "successor mapping", "line": None})
    for r in short[short["org_code"].isin(current)].itertuples():
        findings.append({"org_code": r.org_code, "year": int(r.year), "measure": r.measure, "action": "set missing",
                         "reason": f"{r.months} of 12 months (rule: at least {min_months}); months held: {r.have}"
                         + (f"; months reported with a blank value: {r.blank}" if r.blank else ""),
                         "source": "missing-month rule", "line": None})
    years = years[years["org_code"].isin(current)]
    last = int(years.dropna(subset=["numerator"])["year"].max())
    all_years = list(range(FIRST_YEAR, last + 1))
    grid = pd.MultiIndex.from_product([sorted(current), all_years], names=["org_code", "year"]).to_frame(index=False)

    wide = grid.copy()
    for m in MEASURES:
        part = years[years["measure"] == m].set_index(["org_code", "year"])
        idx = pd.MultiIndex.from_frame(grid)
        wide[f"{m}_num"] = part["numerator"].reindex(idx).to_numpy()
        wide[f"{m}_den"] = part["denominator"].reindex(idx).to_numpy()
        wide[f"months_{m}"] = part["months"].reindex(idx).fillna(0).astype(int).to_numpy()

    xs = cross_section.set_index("org_code")
    rows = pd.DataFrame({"org_code": wide["org_code"], "year": wide["year"]})
    rows["period"] = rows["year"].map(fy_label)
    for c in STATIC:
        rows[c] = rows["org_code"].map(xs[c])
    for c in schema.REQUIRED_COLUMN_NAMES:
        if c in rows or c in NOT_CARRIED:
            continue
        one = next((y for p, y in ONE_YEAR.items() if c.startswith(p)), None)
        if one is not None:
            rows[c] = np.where(rows["year"] == one, rows["org_code"].map(xs[c]), np.nan)
    rows["rtt_total_waiting"] = wide["rtt_den"]
    rows["rtt_waiting_under_18w"] = wide["rtt_num"]
    rows["ae_attendances"] = wide["ae_den"]
    rows["ae_over_4h"] = wide["ae_den"] - wide["ae_num"]
    for c in NOT_CARRIED:
        rows[c] = np.nan
    for m in ("fds", "31d", "62d"):
        rows[f"cancer_{m}_within"] = wide[f"cancer_{m}_num"]
        rows[f"cancer_{m}_total"] = wide[f"cancer_{m}_den"]
    with np.errstate(divide="ignore", invalid="ignore"):
        rows["cancer_fds_28d_pct"] = np.where(wide["cancer_fds_den"] > 0,
                                              100 * wide["cancer_fds_num"] / wide["cancer_fds_den"], np.nan)
        rows["cancer_62d_pct"] = np.where(wide["cancer_62d_den"] > 0,
                                          100 * wide["cancer_62d_num"] / wide["cancer_62d_den"], np.nan)
    rows["beds_ga_available"] = wide["beds_den"]
    rows["beds_ga_occupied"] = wide["beds_num"]
    for m in MEASURES:
        rows[f"months_{m}"] = wide[f"months_{m}"]
    for k, v in _breaks(rows["year"]).items():
        rows[k] = v.to_numpy()
    rows = rows[[*schema.REQUIRED_COLUMN_NAMES, *(c.name for c in EXTRA_COLUMNS)]]
    panel = validate_year_panel(rows)

    cov = coverage(panel)
    notes = [f"Successor mapping: {int((mapping.kind == 'merger').sum())} predecessor codes summed into today's "
             f"trusts, {int((mapping.kind == 'split').sum())} split ({', '.join(mapping[mapping.kind == 'split'].code)}"
             f"), {int((mapping.kind == 'not in panel').sum())} codes of other organisations not used "
             "(successors.csv lists every code)."]
    for m, (month, what) in BREAKS.items():
        notes.append(f"Series break {m}: {what}; the year {fy_label(int(fy_start(pd.Series([month])).iloc[0]))} "
                     f"is flagged (break_{m}).")
    return YearPanelResult(panel, mapping, pd.DataFrame(findings, columns=["org_code", "year", "measure", "action",
                                                                            "reason", "source", "line"]),
                           cov, notes)


#: indicators of the year panel (the dynamic model's inputs), in the coverage table's order
YEAR_INDICATORS = ("rtt", "ae", "cancer_fds", "cancer_31d", "cancer_62d", "shmi", "fft")
#: indicator -> the panel columns its record reads (models/indicators.py)
INDICATOR_COLUMNS = {k: registry.get(k).columns for k in YEAR_INDICATORS}


def indicator_counts(panel: pd.DataFrame, ind: str) -> tuple[np.ndarray, np.ndarray]:
    y, d = registry.get(ind).counts(panel)
    bad = ~(np.isfinite(y) & np.isfinite(d) & (d > 0))
    return np.where(bad, np.nan, y), np.where(bad, np.nan, d)


def coverage(panel: pd.DataFrame) -> pd.DataFrame:
    """Trusts with data, per indicator (rows) x financial year (columns)."""
    out = {}
    for ind in INDICATOR_COLUMNS:
        y, _ = indicator_counts(panel, ind)
        s = pd.Series(~np.isnan(y), index=panel.index).groupby(panel["period"]).sum()
        out[ind] = s
    return pd.DataFrame(out).T.astype(int)


def validate_year_panel(df: pd.DataFrame, source=None) -> pd.DataFrame:
    """The cross-section's schema on its columns (checks, ranges, one row per trust and period) plus the extra
    columns' types and counts; errors name the file, trust and column (:class:`~analysis.errors.DataError`)."""
    from analysis.errors import DataError

    import pandera.errors as pe
    import pandera.pandas as pa

    where = str(source) if source is not None else "year panel (in memory)"
    missing = [c for c in schema.REQUIRED_COLUMN_NAMES if c not in df.columns]
    if missing:
        raise DataError(where, f"not a year panel of this version of svi: missing column(s) {missing[:8]}; rebuild "
                               "it with `svi data build --data-dir ...`", column=missing[0])
    sch = schema.panel_schema()
    for c, rng in YEAR_RANGES.items():  # annual sums of monthly flows: a year's range, not a month's
        sch = sch.update_column(c, checks=[pa.Check(lambda x, rng=rng: pd.Series(rng.ok(x), index=x.index) | x.isna(),
                                                    element_wise=False, error=f"outside {rng.text()} ({rng.source})")])
    try:
        base = sch.validate(df[list(schema.REQUIRED_COLUMN_NAMES)])
    except pe.SchemaError as exc:
        col = getattr(exc.schema, "name", None) if exc.schema is not None else None
        fc = exc.failure_cases
        detail = str(exc).splitlines()[0]
        if fc is not None and len(fc) and "index" in fc and fc["index"].iloc[0] in df.index:
            i = fc["index"].iloc[0]
            detail = (f"trust {df.at[i, 'org_code']}, {df.at[i, 'period']}: value {fc['failure_case'].iloc[0]!r} "
                      f"fails the check {getattr(exc.check, 'error', exc.check)}")
        raise DataError(where, detail + "; rebuild the year panel with `svi data build --data-dir ...` (the build "
                        "sets implausible values missing and lists them in panel_years_report.md)",
                        column=col if isinstance(col, str) else None) from None
    out = base.copy()
    for c in EXTRA_COLUMNS:
        if c.name not in df.columns:
            raise DataError(where, f"not a year panel of this version of svi: missing column {c.name!r}; rebuild "
                                   "it with `svi data build --data-dir ...`", column=c.name)
        v = df[c.name].to_numpy()
        if c.dtype == "float":
            v = v.astype(float)
            bad = ~np.isnan(v) & (~np.isfinite(v) | (v < 0))
        elif c.dtype == "int":
            v = pd.to_numeric(pd.Series(v)).to_numpy()
            bad = ~np.isfinite(v.astype(float)) | (v < 0)
            v = v.astype(int) if not bad.any() else v
        else:
            v = v.astype(bool)
            bad = np.zeros(len(v), bool)
        if bad.any():
            i = int(np.nonzero(bad)[0][0])
            raise DataError(where, f"trust {df['org_code'].iloc[i]}, {df['period'].iloc[i]}: value {v[i]!r} is "
                                   f"not a non-negative finite {c.dtype}; rebuild the year panel", column=c.name)
        out[c.name] = v
    return out


def dictionary() -> pd.DataFrame:
    """The year panel's data dictionary: the cross-section's with redefined columns restated, plus the extras."""
    d = schema.dictionary().set_index("name")
    for c, (meaning, source) in REDEFINED.items():
        d.loc[c, ["meaning", "source", "period"]] = [meaning, source, "financial year"]
    for c in NOT_CARRIED:
        d.loc[c, "meaning"] = "not carried in the year panel (always missing): " + d.loc[c, "meaning"]
    for p, y in ONE_YEAR.items():
        for c in d.index[d.index.str.startswith(p)]:
            d.loc[c, "meaning"] = f"{d.loc[c, 'meaning']} (in {fy_label(y)} only; missing in other years)"
    d.loc["period", "meaning"] = "Financial year, e.g. 2023/24"
    extra = pd.DataFrame([{"name": c.name, "group": c.group, "dtype": c.dtype, "unit": c.unit, "meaning": c.meaning,
                           "source": c.source, "period": c.period, "nullable": c.nullable} for c in EXTRA_COLUMNS])
    return pd.concat([d.reset_index(), extra], ignore_index=True)


def _md(df: pd.DataFrame) -> str:
    """A Markdown table (no extra dependency)."""
    cells = [[("" if pd.isna(v) else str(v)).replace("|", "/") for v in row] for row in df.itertuples(index=False)]
    head = [str(c) for c in df.columns]
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                     + ["| " + " | ".join(r) + " |" for r in cells])


def report_markdown(res: YearPanelResult) -> str:
    f = res.findings
    lines = ["# Year panel: data-quality report", "",
             f"- Trusts: **{res.panel.org_code.nunique()}** (the cross-section's acute trusts; every trust has a row "
             f"in every year {fy_label(res.panel.year.min())}-{fy_label(res.panel.year.max())})",
             f"- Values set missing: **{len(f)}** (by rule: missing months {int((f.source == 'missing-month rule').sum())}"
             f", successor mapping {int((f.source == 'successor mapping').sum())}, raw values out of range "
             f"{int(f.source.str.endswith('.csv').sum())})", "",
             "## Rules", "", f"- A trust-year of one measure needs at least {MIN_MONTHS} of its 12 months.",
             "- Flows (A&E, cancer) are summed over the months held; stocks (RTT waiting list) and monthly averages "
             "(beds) are averaged.", "- " + succ_mod.__doc__.split("The rule")[0].strip().splitlines()[0], ""]
    lines += ["## Notes", ""] + [f"- {n}" for n in res.notes] + [""]
    lines += ["## Coverage: trusts with data, indicator x financial year", "", _md(res.coverage.reset_index(names="indicator")), ""]
    lines += ["## Successions applied", "",
              _md(res.mapping[res.mapping.kind.isin(["merger", "split"])]), ""]
    if len(f):
        lines += ["## Values set missing", "", _md(f), ""]
    return "\n".join(lines)


#: files the year panel adds to a panel directory (analysis.panel.PANEL_FILES lists them too)
YEAR_FILES = ("panel_years.parquet", "panel_years.csv", "panel_years_dictionary.csv", "panel_years_report.md",
              "panel_years_findings.csv", "panel_years_successors.csv", "panel_years_coverage.csv")


def write_into(res: YearPanelResult, directory: Path) -> None:
    """Write the year panel's files into a directory being built (inside :func:`analysis.io.atomic_dir`)."""
    directory = Path(directory)
    io.write_table(res.panel, directory / "panel_years")
    io.write_table(dictionary(), directory / "panel_years_dictionary", formats=("csv",))
    io.write_text(directory / "panel_years_report.md", report_markdown(res))
    io.write_table(res.findings, directory / "panel_years_findings", formats=("csv",))
    io.write_table(res.mapping, directory / "panel_years_successors", formats=("csv",))
    io.write_table(res.coverage.reset_index(names="indicator"), directory / "panel_years_coverage", formats=("csv",))


def build_from_data_dir(data_dir: str | Path, cross_section: pd.DataFrame) -> YearPanelResult:
    """Load the monthly sources and the ODS successions under ``data_dir/raw`` and build the year panel."""
    from analysis.real_panel import POST_2022_MERGERS
    from analysis.sources import SOURCES
    from analysis.sources.monthly import load_monthly

    monthly = load_monthly(Path(data_dir))
    edges = SOURCES["successions"].load(Path(data_dir))
    return build_year_panel(monthly, cross_section, edges, (*POST_2022_MERGERS, *succ_mod.EXTRA_SUCCESSIONS))


def read_year_panel(path: str | Path) -> pd.DataFrame:
    """Read and validate a year panel (a panel directory or its panel_years.parquet/csv)."""
    from analysis.errors import DataError, SVIError

    path = Path(path)
    if path.is_dir():
        path = path / "panel_years.parquet"
    if not path.exists():
        raise SVIError(f"no year panel at {path}; build one with `svi data build --data-dir DIR --out "
                       f"{path.parent}` (the year panel is written beside the cross-section)")
    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(
            path, dtype={c.name: str for c in schema.COLUMNS if c.dtype == "str"})
    except Exception as exc:
        raise DataError(path, f"not a readable year panel ({type(exc).__name__}); rebuild it with `svi data "
                              "build`") from None
    return validate_year_panel(df, source=path)


# ------------------------------------------------------------------------------------------------- cross-section
#: The cancer standards the 2025/26 cross-section models (models/indicators.py records ``cancer_fds``,
#: ``cancer_62d``), read from the same monthly file, successor mapping and month-to-year rule as the year panel.
#: The 31-day standard is not among them (models/default.toml, [quality]).
CROSS_SECTION_CANCER = ("cancer_fds", "cancer_62d")
#: The cross-section's cancer period: financial year 2025/26 (April 2025 - March 2026), twelve months, the latest
#: complete one.  Why a year rather than three months: the 62-day standard's monthly denominators are small (median
#: trust about 190 patients a month), so a month's share carries a binomial error of about 0.17 logits and strays
#: from the trust's own level by a further 0.11 (FDS: 0.05 and 0.18; benchmarks/RESULTS.md, "Cancer waits");
#: twelve months cut the binomial error 3.5-fold and average much of the month-to-month movement.  The window lies
#: after the 62-day standard's redefinition (2023-10), so every month counts the combined standard.  The compiled
#: trust profiles' "3-month" counts are not used: their FDS counts are January 2026 alone and their 62-day
#: denominator twice the official monthly one (RESULTS.md).
CROSS_SECTION_YEAR = 2025


@dataclass
class CrossSectionCancer:
    counts: pd.DataFrame   # org_code, cancer_<m>_within, cancer_<m>_total (whole patients) for every code asked
    missing: pd.DataFrame  # org_code, measure, reason: every trust without a value
    source: str            # the file read (under raw/, or cache/<name> for the official publication)
    #: the trusts asked for that have rows of the year (their own code or a predecessor's), whatever the months
    covered: list[str] = field(default_factory=list)
    #: codes with rows of the year that lead to no trust asked for (other providers; listed in the report)
    outside: list[str] = field(default_factory=list)


def cross_section_cancer(data_dir: str | Path, codes, monthly: pd.DataFrame | None = None,
                         source: str | None = None) -> CrossSectionCancer:
    """Cancer FDS and 62-day counts of the cross-section's trusts for :data:`CROSS_SECTION_YEAR`: the monthly file
    (or ``monthly``, rows of the same tidy layout read from ``source``: the official publication) mapped to today's
    trusts (:mod:`analysis.trend.successors`) and summed over the financial year by :func:`to_years` (at least
    :data:`MIN_MONTHS` months, else missing), as in the year panel.

    Counts are rounded to whole patients after summing the months: NHS England splits a patient shared between two
    providers 0.5/0.5, and the binomial likelihood needs whole counts.  Rounding moves a share by at most 0.5 / n
    (n: the year's patients, hundreds to tens of thousands), far below its sampling error; within <= total survives
    rounding (rounding is monotone).  A trust without rows (no cancer service, or too few months) is missing, and
    the reason is returned for the quality report: the model marginalises it like any missing indicator."""
    from analysis.catchment import POST_2022_MERGERS
    from analysis.sources import SOURCES
    from analysis.sources.monthly import MONTHLY_SOURCES

    codes = sorted(set(codes))
    src = MONTHLY_SOURCES["cancer_monthly"]
    compiled = monthly is None
    if compiled:
        monthly = src.load(Path(data_dir))
        source = src.files[0]
    monthly = monthly[monthly["measure"].isin(CROSS_SECTION_CANCER)]
    edges = SOURCES["successions"].load(Path(data_dir))
    succ = succ_mod.successions(edges, (*POST_2022_MERGERS, *succ_mod.EXTRA_SUCCESSIONS))
    in_year = monthly[fy_start(monthly["month"]) == CROSS_SECTION_YEAR] if len(monthly) else monthly
    mapping = succ_mod.successor_map(monthly["org_code"], succ, set(codes))
    mapped, _ = succ_mod.apply(monthly, mapping)
    mapped = mapped[fy_start(mapped["month"]) == CROSS_SECTION_YEAR] if len(mapped) else mapped
    fates = mapping.set_index("code")["kind"]
    outside = sorted(c for c in set(in_year["org_code"]) if fates.get(c) == "not in panel")
    years, short = to_years(mapped) if len(mapped) else (mapped.iloc[:0].assign(months=0), mapped.iloc[:0])
    out = pd.DataFrame({"org_code": codes})
    missing = []
    label = fy_label(CROSS_SECTION_YEAR)
    for m in CROSS_SECTION_CANCER:
        part = years[years["measure"] == m].set_index("org_code")
        num = part["numerator"].reindex(codes).to_numpy(float)
        den = part["denominator"].reindex(codes).to_numpy(float)
        ok = np.isfinite(num) & np.isfinite(den) & (den > 0)
        out[f"{m}_within"] = np.where(ok, np.round(num), np.nan)
        out[f"{m}_total"] = np.where(ok, np.round(den), np.nan)
        shorts = short[short["measure"] == m].set_index("org_code")
        for code, good in zip(codes, ok):
            if good:
                continue
            if code in shorts.index:
                why = (f"{int(shorts.at[code, 'months'])} of 12 months of {label} (rule: at least {MIN_MONTHS}); "
                       f"months held: {shorts.at[code, 'have']}")
            elif code in part.index:
                why = f"no patients in {label} (denominator 0)"
            elif compiled:
                why = (f"no rows for this code or a predecessor in {label} in the monthly file (it holds 124 of the 129 "
                       "acute trusts, PROVENANCE.md section 10): not reported there, which is not the same as no cancer "
                       "service")
            else:
                why = (f"no rows of this standard for this code or a predecessor in {label} in {source}: not reported "
                       "there, which is not the same as no cancer service")
            missing.append({"org_code": code, "measure": m, "reason": why})
    leads = mapping.set_index("code")
    covered = sorted({t for c in set(in_year["org_code"]) if fates.get(c) in ("current", "merger")
                      for t in str(leads.at[c, "successors"]).split(";")} & set(codes))
    return CrossSectionCancer(out, pd.DataFrame(missing, columns=["org_code", "measure", "reason"]), source,
                              covered, outside)

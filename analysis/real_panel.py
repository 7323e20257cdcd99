"""Assemble the canonical panel from the real public files in ``<data_dir>/raw``.

Steps: pick acute trusts from the compiled trust profiles (every other
organisation is reported as excluded), map raw columns to panel columns,
check every value (implausible values are set missing with a reason in the
quality report, never dropped silently), detect columns whose content does
not match their name, and derive catchment need by weighting area-level data
with the OHID trust-to-LTLA catchment shares.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import precedence, schema
from analysis.catchment import POST_2022_MERGERS, catchment_need, catchment_population
from analysis.precedence import Official, load_official
from analysis.quality import QualityReport
from analysis.sources import SOURCES, load_all
from analysis.sources.base import LINE
from analysis.sources.loaders import (AE_ATTENDANCE_PARTS, AE_OVER4_PARTS, COST_SETTING_COLUMNS,
                                      TRUST_PROFILE_COLUMNS)

PERIOD = "2025/26"

SIZE_CLASS_MAP = {"Acute - Teaching": "teaching", "Acute - Large": "large", "Acute - Medium": "medium",
                  "Acute - Small": "small", "Acute - Specialist": "specialist", "Acute - Multi-Service": "multi-service"}
CQC_TYPE_MAP = {"Acute hospital - NHS non-specialist": "acute non-specialist",
                "Acute hospital - NHS specialist": "acute specialist"}

def _src(name: str) -> str:
    return SOURCES[name].files[0]


#: Raw column -> the panel column it feeds, for findings about raw values (trust profiles and area files).
_RAW_TO_PANEL = {**{raw: col for col, raw in TRUST_PROFILE_COLUMNS.items()},
                 **{raw: "ae_attendances" for raw in AE_ATTENDANCE_PARTS}, **{raw: "ae_over_4h" for raw in AE_OVER4_PARTS},
                 "wlmds_pct_within_18wks_latest": "rtt_waiting_under_18w", "fft_pct_positive_latest": "fft_positive",
                 "rc_cost_gap_pct_latest": "ncc_expected_cost_total_gbp_m",
                 **{a: f"ncc_actual_cost_{s}_gbp_m" for s, (a, _) in COST_SETTING_COLUMNS.items()},
                 **{g: f"ncc_expected_cost_{s}_gbp_m" for s, (_, g) in COST_SETTING_COLUMNS.items()}}
_AREA_TO_PANEL = {("imd", "Score"): "imd_score", ("imd", "Income_Score"): "imd_income_score",
                  ("imd", "Health_Score"): "imd_health_score", ("population", None): "share_aged_75_plus",
                  ("health_index", None): "health_index_score", ("catchment_weights", None): "imd_score",
                  ("catchment_population", None): "catchment_population", ("trust_types", None): "trust_type",
                  ("regions", None): "region", ("successions", None): "catchment_population"}


def input_record(data_dir: Path) -> dict:
    """Each raw file read, by its path under raw/: data rows and sha256 (no absolute path, so the record, like
    every output, is the same wherever the data lie)."""
    out = {}
    for name, src in sorted(SOURCES.items()):
        for rel, path in zip(src.files, src.paths(data_dir)):
            out[rel] = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    return out


def build_real_panel(data_dir: str | Path, cache_dir: str | Path | None = None,
                     official: Official | None = None) -> tuple[pd.DataFrame, QualityReport]:
    """The panel from the compilation in ``data_dir``, with the columns of every verified official publication in
    the download cache (``cache_dir``, default ``$SVI_DATA_DIR`` or the default cache) taken from the publication
    (see :mod:`analysis.precedence`; ``official`` passes publications already loaded)."""
    data_dir = Path(data_dir)
    raw = load_all(data_dir)
    official = official if official is not None else load_official(cache_dir)
    report = QualityReport(kind="real")
    report.inputs = input_record(data_dir)
    for name, frame in raw.items():
        report.inputs[_src(name)]["rows"] = int(frame.attrs.get("rows", len(frame)))
    report.notes.append(f"Period {PERIOD} (SHMI Jan-Dec 2025, NCC 2024/25, RTT/A&E/FFT/workforce latest month of the "
                        "2026-03 snapshot); the raw files read are listed with their sha256 in manifest.json.")
    tp = raw["trust_profiles"]
    tp_file = _src("trust_profiles")

    acute = tp["Trust_type"] == "Acute trust"
    for r in tp[~acute].to_dict("records"):
        report.exclude(r["org_code"], r["org_name"], f"not an acute trust (Trust_type = {r['Trust_type'] or 'blank'})",
                       tp_file, r[LINE])
    tp = tp[acute].copy()
    tp = _exclude_predecessors(tp, raw, report, tp_file)
    precedence.overlay_areas(raw, official, report)
    _raw_findings(raw, set(tp["org_code"]), report)

    _check_whole_columns(tp, report, tp_file)

    rows = []
    types = raw["trust_types"].set_index("trust_code")["primary_category"]
    for r in tp.to_dict("records"):
        row = _trust_row(r, types, report, tp_file, official)
        if row is not None:
            rows.append(row)
    panel = pd.DataFrame(rows)
    panel, cancer = _cancer_counts(panel, data_dir, report, official)

    need = catchment_need(panel["org_code"].tolist(), raw, report)
    panel = panel.merge(need, on="org_code", how="left")
    pop = catchment_population(panel, raw, report,
                               precedence.official_catchment_population(official, panel["org_code"].tolist(), report))
    panel["catchment_population"] = panel["org_code"].map(pop)

    panel = panel.sort_values("org_code").reset_index(drop=True)
    panel = schema.validate_panel(panel)
    for r in panel.itertuples():
        report.include(r.org_code, r.org_name, size_class=r.size_class)
    precedence.record(official, panel, raw, report, cancer)
    check_reference(set(panel["org_code"]), raw, report)
    return panel, report


def _cancer_counts(panel: pd.DataFrame, data_dir: Path, report: QualityReport,
                   official: Official) -> tuple[pd.DataFrame, dict]:
    """The panel with the 2025/26 cancer FDS and 62-day counts (analysis.trend.years.cross_section_cancer), and
    which trusts' counts came from the official Cancer Waiting Times files (for :func:`precedence.record`).

    The official files (both 2025/26 files verified in the download cache, :func:`precedence.cancer_monthly`) come
    first, as every official publication does: they are NHS England's own rows, and the third-party monthly file
    is a copy of them.  A trust they do not list (no rows of its own or of a predecessor in the year) keeps the
    third-party file's counts; the same successor mapping and month rule apply to either.  Every trust without
    counts is reported (the model marginalises a missing indicator); where both sources give a trust's counts
    and they differ, the trust is flagged; without any source every trust is missing and a note says why."""
    from analysis.sources.monthly import MONTHLY_SOURCES
    from analysis.trend import years

    cols = [f"{m}_{part}" for m in years.CROSS_SECTION_CANCER for part in ("within", "total")]
    codes = panel["org_code"].tolist()
    src = MONTHLY_SOURCES["cancer_monthly"]
    path = src.paths(data_dir)[0]
    comp = off = None
    overlap = 0
    if path.exists():
        comp = years.cross_section_cancer(data_dir, codes)
        report.inputs[comp.source] = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    loaded = precedence.cancer_monthly(official)
    if loaded is not None:
        rows, used, overlap = loaded
        off = years.cross_section_cancer(data_dir, codes, monthly=rows, source=" + ".join(u.file for u in used))
    info = {"official": list(off.covered) if off else [], "outside": list(off.outside) if off else [],
            "overlap": overlap, "compiled_file": comp is not None}
    if comp is None and off is None:
        report.notes.append(f"Cancer waits: raw/{src.files[0]} not found and the official Cancer Waiting Times files "
                            "are not in the download cache, so no trust has cancer FDS or 62-day counts and the model "
                            "leaves the two standards out (PROVENANCE.md section 10; `svi data fetch "
                            "cwt_combined_2025_26_apr_sep cwt_combined_2025_26_oct_mar` downloads the official files).")
        return panel.assign(**{c: np.nan for c in cols}), info

    from_off = set(info["official"])
    parts = []
    if off is not None:
        parts.append(off.counts[off.counts["org_code"].isin(from_off)])
    if comp is not None:
        parts.append(comp.counts[~comp.counts["org_code"].isin(from_off)])
    counts = pd.concat(parts, ignore_index=True)
    out = panel.merge(counts[["org_code", *cols]], on="org_code", how="left")
    compiled_name = f"raw/{src.files[0]}"
    for res in (off, comp):
        if res is None:
            continue
        for r in res.missing.itertuples():
            if (r.org_code in from_off) != (res is off):
                continue  # this trust's counts come from the other source
            prefix = "" if res is off or off is None else f"not in the official files ({off.source}); "
            report.add(r.org_code, f"{r.measure}_total", "set missing", f"{prefix}{r.reason}; the indicator is "
                       "marginalised for this trust", source=res.source)
    if comp is None:  # official files used, no compiled file for the trusts they do not list
        for code in codes:
            if code not in from_off:
                for m in years.CROSS_SECTION_CANCER:
                    report.add(code, f"{m}_total", "set missing", f"no rows for this code or a predecessor in the "
                               f"official files ({off.source}), and {compiled_name} is not there to fall back on; "
                               "the indicator is marginalised for this trust", source=off.source)
    have = {m: int(out[f"{m}_total"].notna().sum()) for m in years.CROSS_SECTION_CANCER}
    label = years.fy_label(years.CROSS_SECTION_YEAR)
    if off is None:
        why = (" (the official Cancer Waiting Times files are not used: see the sources table)"
               if any(f.key == "monthly" for f in precedence.FEEDS.values()) else "")
        where = f"from {compiled_name}{why}"
    else:
        rest = [c for c in codes if c not in from_off]
        where = (f"from the official Cancer Waiting Times files {off.source} for {len(from_off)} trusts (official "
                 "first, as for every publication: NHS England's own rows, of which the third-party file is a copy)"
                 + ((f"; from {compiled_name} for the {len(rest)} they do not list: {precedence._codes(rest)}"
                     if comp is not None else f"; {len(rest)} they do not list have none ({compiled_name} not found)")
                    if rest else ""))
        if comp is not None:
            where += "; " + _cancer_agreement(off, comp, sorted(from_off), report)
    report.notes.append(f"Cancer waits: financial year {label} counts, codes mapped to today's trusts as in the year "
                        f"panel and halves rounded to whole patients after summing the months, {where}. FDS for "
                        f"{have['cancer_fds']} and 62-day for {have['cancer_62d']} of {len(out)} trusts; the others "
                        "are listed in the findings.")
    return out, info


def _cancer_agreement(off, comp, codes: list[str], report: QualityReport) -> str:
    """Compare the official and the compiled counts of the trusts both give (official kept): each difference is a
    finding, and the sentence for the note says how many agree."""
    from analysis.trend import years

    a = off.counts.set_index("org_code")
    b = comp.counts.set_index("org_code")
    both = same = 0
    for code in codes:
        for m in years.CROSS_SECTION_CANCER:
            w, t = f"{m}_within", f"{m}_total"
            if code not in b.index or pd.isna(a.at[code, t]) or pd.isna(b.at[code, t]):
                continue
            both += 1
            if a.at[code, w] == b.at[code, w] and a.at[code, t] == b.at[code, t]:
                same += 1
                continue
            report.add(code, t, "flagged", f"within the standard / total: {a.at[code, w]:.0f} / {a.at[code, t]:.0f} in "
                       f"the official files, {b.at[code, w]:.0f} / {b.at[code, t]:.0f} in the compiled file "
                       f"({comp.source}); the official counts are used", source=off.source,
                       old=f"{b.at[code, w]:.0f}/{b.at[code, t]:.0f}", new=f"{a.at[code, w]:.0f}/{a.at[code, t]:.0f}")
    if not both:
        return "no trust has counts from both sources to compare"
    return (f"the compiled file agrees with the official counts for {same} of the {both} trust-standards both give"
            + (f" and differs for {both - same} (flagged in the findings)" if same < both else ""))


def check_reference(panel_codes: set, raw: dict, report: QualityReport) -> None:
    """Report every open acute trust of the reference list (CQC primary inspection category "Acute hospital", 2021/22)
    whose current successor (ODS successions and the curated later mergers) is not in the panel, with the reason:
    the compilation's count of acute trusts is not England's, and a board must see who is not compared."""
    types = raw["trust_types"]
    f_types = _src("trust_types")
    report.reference = f"{f_types}, CQC acute categories"
    succ = _successors(raw)
    names = dict(zip(raw["regions"]["nhs_trust22_code"], raw["regions"]["nhs_trust22_name"]))
    tp = raw["trust_profiles"]
    names_tp = dict(zip(tp["org_code"], tp["org_name"]))
    excluded = {e["org_code"]: e["reason"] for e in report.excluded}

    def current(code: str, seen: frozenset = frozenset()) -> str | None:
        if code in panel_codes:
            return code
        for new, _ in succ.get(code, ()):
            if new not in seen:
                found = current(new, seen | {code})
                if found:
                    return found
        return None

    acute = types[types["primary_category"].fillna("").str.startswith("Acute hospital")]
    for code, cat in zip(acute["trust_code"], acute["primary_category"]):
        if current(code) is not None:
            continue
        if code in excluded:
            reason = f"in {_src('trust_profiles')} but excluded: {excluded[code]}"
        else:
            reason = f"not in {_src('trust_profiles')} (the compilation has no row for it), so no indicator is known"
        name = names.get(code) or names_tp.get(code) or ""
        report.missing.append({"org_code": code, "org_name": name, "category": cat, "reason": reason})
    if report.missing:
        logging.getLogger("svi").warning(
            f"{len(report.missing)} open acute trust(s) of {f_types} are not in the panel "
            f"({', '.join(m['org_code'] for m in report.missing)}): listed with the reasons in quality_report.md")


# --------------------------------------------------------------------------------- identities and raw values

def _successors(raw: dict) -> dict[str, list[tuple[str, str]]]:
    """old code -> [(new code, date)] from the ODS successions and the curated post-2022 mergers."""
    succ: dict[str, list[tuple[str, str]]] = {}
    s = raw["successions"]
    for o, n, d in zip(s["old_code"], s["new_code"], s["date"]):
        if isinstance(o, str) and isinstance(n, str) and o != n:
            succ.setdefault(o, []).append((n, d or "date unknown"))
    for o, n, d, _ in POST_2022_MERGERS:
        succ.setdefault(o, []).append((n, d))
    return succ


def _exclude_predecessors(tp: pd.DataFrame, raw: dict, report: QualityReport, f: str) -> pd.DataFrame:
    """A trust listed beside the trust it merged into is a closed organisation: its catchment is already counted
    in the successor's (which sums its predecessors), so keeping it would count that population twice."""
    succ = _successors(raw)
    codes = set(tp["org_code"])
    drop = []
    for r in tp.to_dict("records"):
        seen, stack, found = set(), [(r["org_code"], None)], None
        while stack and found is None:
            code, first_date = stack.pop()
            for n, d in succ.get(code, ()):
                if n in seen:
                    continue
                seen.add(n)
                if n in codes and n != r["org_code"]:
                    found = (n, first_date or d)
                    break
                stack.append((n, first_date or d))
        if found is not None:
            report.exclude(r["org_code"], r["org_name"], f"predecessor of {found[0]}, which is also in the file "
                           f"(merged {found[1]}; ODS successions): a closed organisation, excluded so that its "
                           f"activity and catchment are not counted twice", f, r[LINE])
            drop.append(r["org_code"])
            logging.getLogger("svi").warning(f"{f} line {r[LINE]}: {r['org_code']} is a predecessor of {found[0]} "
                                             f"(merged {found[1]}), which is also listed; {r['org_code']} is "
                                             "excluded (see quality_report.md)")
    return tp[~tp["org_code"].isin(drop)].copy()


def _raw_findings(raw: dict, panel_codes: set, report: QualityReport) -> None:
    """Values the loaders set missing (not finite, outside their plausible range) and codes they upper-cased."""
    for name, frame in raw.items():
        f = _src(name)
        for v in frame.attrs.get("invalid", []):
            if name == "trust_profiles":
                if v["code"] not in panel_codes:
                    continue  # not an acute trust (already reported as excluded)
                report.add(v["code"], _RAW_TO_PANEL.get(v["column"]), "set missing", f"value {v['reason']}",
                           source=f, line=v["line"], raw_column=v["column"], old=v["raw"])
                continue
            trust_keyed = name in ("catchment_weights", "catchment_population", "trust_types", "regions")
            col = _AREA_TO_PANEL.get((name, v["column"])) or _AREA_TO_PANEL.get((name, None))
            report.add(v["code"] if trust_keyed else None, col, "set missing",
                       ("" if trust_keyed else f"area {v['code']}: ") + f"value {v['reason']}",
                       source=f, line=v["line"], raw_column=v["column"], old=v["raw"])
        rec = frame.attrs.get("recoded", [])
        if name == "trust_profiles":
            for v in rec:
                if v["new"] in panel_codes:
                    report.add(v["new"], "org_code", "repaired", f"code written {v['old']!r}: organisation codes are "
                               "upper case without spaces; read as " + repr(v["new"]), source=f, line=v["line"],
                               raw_column=v["column"], old=v["old"], new=v["new"])
        elif rec:
            lines = ", ".join(str(v["line"]) for v in rec[:10]) + (" ..." if len(rec) > 10 else "")
            report.notes.append(f"{f}: {len(rec)} code(s) not in upper case or with spaces were read in upper case "
                                f"(lines {lines}).")


# --------------------------------------------------------------------------------- whole columns

def _check_whole_columns(tp: pd.DataFrame, report: QualityReport, tp_file: str) -> None:
    """Detect columns whose content does not mean what their name says."""
    pct = tp["pct_within_18_weeks_latest"]
    n_counts = int((pct > 100).sum())
    if n_counts:
        report.add(None, None, "column rejected",
                   f"'pct_within_18_weeks_latest' holds values up to {pct.max():,.0f} for {n_counts} of "
                   f"{pct.notna().sum()} acute trusts: counts, not percentages. Not used; RTT comes from the WLMDS "
                   "counts (waiting under 18 weeks, total waiting), whose ratio matches the WLMDS percentage column.",
                   source=tp_file, raw_column="pct_within_18_weeks_latest")
    report.add(None, None, "column rejected",
               "'total_waiting_latest' / 'waiting_under_18_weeks_latest' (monthly RTT) do not add up: the week buckets "
               "sum to more than the total for every trust and the implied share within 18 weeks (~0.51) is far "
               "below the published figure; WLMDS counts used instead.",
               source=tp_file, raw_column="total_waiting_latest")
    fte_ratio = (tp["workforce_total_fte_latest"] / tp["workforce_nursing_fte_latest"]).median()
    if fte_ratio > 5:
        report.add(None, "workforce_fte", "flagged",
                   f"total FTE is a median {fte_ratio:.1f} x nursing FTE (national NHS ratio is about 3.5): the total may "
                   "double-count staff groups; kept as a size descriptor only, not used in any model",
                   source=tp_file, raw_column="workforce_total_fte_latest")
    report.add(None, None, "column rejected",
               "'palliative_pct_latest' is at most 0.0002 for every trust (published palliative-care coding rates are "
               "tens of percent): not a percentage; not used.", source=tp_file, raw_column="palliative_pct_latest")


# --------------------------------------------------------------------------------- one trust

def _trust_row(r: dict, types: pd.Series, report: QualityReport, f: str, official: Official) -> dict | None:
    code, name, line = r["org_code"], r["org_name"], r[LINE]
    taken: dict = {}  # panel column -> the official publication its value came from

    def finding(column, action, reason, raw_column=None, old=None, new=None):
        u = taken.get(column)
        if u is not None:  # the value came from an official publication: name its file and column
            report.add(code, column, action, reason, source=u.file, raw_column=u.feed.raw_columns.get(column), old=old,
                       new=new)
            return
        report.add(code, column, action, reason, source=f, line=line, raw_column=raw_column, old=old, new=new)

    size = SIZE_CLASS_MAP.get(r["Trust_subtype"] or "")
    if size is None:
        report.exclude(code, name, f"unknown acute size class (Trust_subtype = {r['Trust_subtype']!r})", f, line)
        return None
    region = r["Region"]
    if region not in schema.REGIONS:
        report.exclude(code, name, f"unknown NHS region {region!r}", f, line)
        return None
    cqc = types.get(code)
    ttype = CQC_TYPE_MAP.get(cqc) if isinstance(cqc, str) else None
    implied = "acute specialist" if size == "specialist" else "acute non-specialist"
    if ttype is None:
        ttype = implied
        cqc_txt = repr(cqc) if isinstance(cqc, str) else "no entry"
        finding("trust_type", "imputed", f"no CQC acute category for this code (CQC: {cqc_txt}); taken from size class",
                raw_column="primary_category", new=ttype)
    elif ttype != implied:
        finding("trust_type", "flagged", f"CQC category '{ttype}' differs from size class '{size}'; CQC kept",
                raw_column="primary_category", old=size, new=ttype)

    row = {"period": PERIOD, "org_code": code, "org_name": name, "region": region, "trust_type": ttype,
           "size_class": size}
    for col, raw_col in TRUST_PROFILE_COLUMNS.items():
        row[col] = r[raw_col]
    row["ae_attendances"] = _sum_parts(r, AE_ATTENDANCE_PARTS)
    row["ae_over_4h"] = _sum_parts(r, AE_OVER4_PARTS)
    taken.update(precedence.overlay_trust(row, code, official, report))

    # negative counts are never legitimate
    for c in schema.COLUMNS:
        if c.count and c.name in row and pd.notna(row[c.name]) and row[c.name] < 0:
            finding(c.name, "set missing", "negative count", raw_column=TRUST_PROFILE_COLUMNS.get(c.name),
                    old=row[c.name])
            row[c.name] = np.nan

    _check_shmi(row, finding)
    if READM[1] in row:  # optional columns: only when the readmissions publication was used
        _check_readmissions(row, finding)
    _check_pair(row, "rtt_waiting_under_18w", "rtt_total_waiting", finding, "RTT")
    if ("rtt_total_waiting" not in taken and pd.notna(row["rtt_total_waiting"])
            and pd.notna(r["wlmds_pct_within_18wks_latest"]) and row["rtt_total_waiting"] > 0):
        ratio = row["rtt_waiting_under_18w"] / row["rtt_total_waiting"]
        if abs(ratio - r["wlmds_pct_within_18wks_latest"]) > 0.01:
            finding("rtt_waiting_under_18w", "flagged", "WLMDS count ratio differs from the published WLMDS "
                    "percentage by more than 1 point", raw_column="wlmds_pct_within_18wks_latest",
                    old=r["wlmds_pct_within_18wks_latest"], new=round(ratio, 4))
    for att, over in (("ae_attendances", "ae_over_4h"), ("ae_type1_attendances", "ae_type1_over_4h")):
        if row[att] == 0:
            finding(att, "set missing", "no attendances reported (no A&E department of this type): "
                    "treated as not applicable, not as 0/0", raw_column=None, old=0.0)
            row[att] = row[over] = np.nan
        _check_pair(row, over, att, finding, "A&E")

    if "fft_responses" in taken:
        _fft_official(row, finding)
    else:
        _fft(row, r, finding)
    for c in ("cancer_fds_28d_pct", "cancer_62d_pct"):
        if pd.notna(row[c]) and not 0 <= row[c] <= 100:
            finding(c, "set missing", "percentage outside 0-100", raw_column=TRUST_PROFILE_COLUMNS[c], old=row[c])
            row[c] = np.nan
    if "ncc_expected_cost_total_gbp_m" in taken:
        _cost_official(row, finding)
    else:
        _cost(row, r, finding)
    return row


def _sum_parts(r: dict, parts) -> float:
    vals = [r[p] for p in parts]
    return float(np.nansum(vals)) if any(pd.notna(v) for v in vals) else np.nan


def _check_pair(row, num, den, finding, label):
    if pd.notna(row[num]) != pd.notna(row[den]):
        present = num if pd.notna(row[num]) else den
        finding(present, "set missing", f"{label}: {num if present == den else den} is missing, so {present} "
                "cannot form an indicator; both set missing", old=row[present])
        row[num] = row[den] = np.nan
        return
    if pd.notna(row[num]) and pd.notna(row[den]) and row[num] > row[den]:
        finding(num, "set missing", f"{label} numerator above its denominator ({row[num]:.0f} > {row[den]:.0f}); "
                "both set missing", old=row[num])
        row[num] = row[den] = np.nan


def _check_shmi(row, finding) -> None:
    o, e, n, s = (row[c] for c in ("shmi_observed_deaths", "shmi_expected_deaths", "shmi_spells", "shmi_value"))
    trio = ("shmi_observed_deaths", "shmi_expected_deaths", "shmi_spells")
    have = [pd.notna(v) for v in (o, e, n)]
    if not any(have):
        return
    reason = None
    if not all(have):
        reason = "incomplete SHMI counts (spells, observed and expected must all be present)"
    elif e <= 0:
        reason = f"expected deaths <= 0 ({e})"
    elif o > n:
        reason = f"observed deaths above spells ({o:.0f} > {n:.0f})"
    elif pd.notna(s):
        # counts are rounded to the nearest 5: allow that much disagreement with the unrounded ratio
        tol = 2.5 / e * (1 + s) + 0.005
        if abs(o / e - s) > tol:
            reason = f"observed/expected ({o / e:.3f}) disagrees with published SHMI ({s:.3f}) beyond rounding"
    if reason:
        finding("shmi_observed_deaths", "set missing", reason + "; SHMI not used for this trust",
                raw_column="observed_deaths_latest", old=o)
        for c in (*trio, "shmi_value", "shmi_banding_published"):
            row[c] = np.nan


#: the optional readmissions columns (analysis.sources.official.readmissions): spells, observed, expected
READM = ("readmissions_spells", "readmissions_observed", "readmissions_expected")


def _check_readmissions(row, finding) -> None:
    """Observed and expected readmissions form the indicator together; expected must be above 0 and observed at most
    the spells (each readmission is a spell).  A failing trust keeps its row without readmissions."""
    n, o, e = (row[c] for c in READM)
    if pd.isna(o) and pd.isna(e):
        return
    reason = None
    if pd.isna(o) or pd.isna(e):
        reason = "incomplete readmission counts (observed and expected must both be present)"
    elif e <= 0:
        reason = f"expected readmissions <= 0 ({e})"
    elif pd.notna(n) and o > n:
        reason = f"observed readmissions above spells ({o:.0f} > {n:.0f})"
    if reason:
        finding(READM[1], "set missing", reason + "; readmissions not used for this trust", old=o)
        for c in READM:
            row[c] = np.nan


def _fft(row, r, finding) -> None:
    resp, share = row["fft_responses"], r["fft_pct_positive_latest"]
    row["fft_positive"] = np.nan
    if pd.isna(resp) or resp == 0:
        if resp == 0:
            finding("fft_responses", "set missing", "zero FFT responses", raw_column="fft_total_responses_latest", old=0.0)
        row["fft_responses"] = np.nan
        return
    if pd.isna(share):
        finding("fft_positive", "set missing", "FFT share positive missing; responses kept but indicator unusable",
                raw_column="fft_pct_positive_latest")
        row["fft_responses"] = np.nan
        return
    if 1 < share <= 100:
        finding("fft_positive", "repaired", "share positive given as a percentage; divided by 100",
                raw_column="fft_pct_positive_latest", old=share, new=share / 100)
        share = share / 100
    elif not 0 <= share <= 1:
        finding("fft_positive", "set missing", "share positive is not a proportion", raw_column="fft_pct_positive_latest",
                old=share)
        row["fft_responses"] = np.nan
        return
    row["fft_positive"] = float(np.round(resp * share))


def _fft_official(row, finding) -> None:
    """FFT from the official publication: responses and positive responses both present, responses above zero."""
    resp, pos = row["fft_responses"], row["fft_positive"]
    if pd.isna(resp) or resp == 0 or pd.isna(pos):
        if pd.notna(resp):
            finding("fft_responses", "set missing", "zero FFT responses" if resp == 0 else
                    "FFT share positive suppressed or missing; responses kept but indicator unusable", old=resp)
        row["fft_responses"] = row["fft_positive"] = np.nan


def _cost_official(row, finding) -> None:
    """Cost from the official publication: an expected cost must be positive to form a cost index."""
    for s in schema.COST_SETTINGS:
        col = f"ncc_expected_cost_{s}_gbp_m"
        if pd.notna(row[col]) and row[col] <= 0:
            finding(col, "set missing", "expected cost <= 0", old=row[col])
            row[col] = np.nan


def _cost(row, r, finding) -> None:
    a, e = row["ncc_actual_cost_total_gbp_m"], row["ncc_expected_cost_total_gbp_m"]
    if pd.notna(e) and e <= 0:
        finding("ncc_expected_cost_total_gbp_m", "set missing", "expected cost <= 0", old=e,
                raw_column="rc_expected_cost_total_m_latest")
        row["ncc_expected_cost_total_gbp_m"] = e = np.nan
    gap = r["rc_cost_gap_pct_latest"]
    if pd.notna(a) and pd.notna(e) and pd.notna(gap) and abs((a / e - 1) * 100 - gap) > 0.05:
        finding("ncc_expected_cost_total_gbp_m", "flagged", "actual/expected disagrees with the published cost gap %",
                raw_column="rc_cost_gap_pct_latest", old=gap, new=round((a / e - 1) * 100, 2))
    for s, (actual_col, gap_col) in COST_SETTING_COLUMNS.items():
        act, g = r[actual_col], r[gap_col]
        row[f"ncc_actual_cost_{s}_gbp_m"] = act
        row[f"ncc_expected_cost_{s}_gbp_m"] = np.nan
        if pd.isna(act):
            continue
        if pd.isna(g) or g <= -100 or act <= 0:
            finding(f"ncc_expected_cost_{s}_gbp_m", "set missing", "setting cost gap missing or invalid; "
                    "expected cost for this setting cannot be derived", raw_column=gap_col, old=g)
            continue
        row[f"ncc_expected_cost_{s}_gbp_m"] = act / (1 + g / 100)
    # the setting expected costs are derived, not published: say so once per trust only via the note

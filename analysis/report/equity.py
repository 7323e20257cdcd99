"""The documents' equity lens.  Part (a): what the population served changes in a trust's rank, formatted from the
``equity_lens`` table (:mod:`analysis.summaries.equity`, where the definition and its reasons are).  Part (b): equity
of access, who waits longer by deprivation, formatted from ``equity_access.csv`` beside the run's panel
(:mod:`analysis.equity_access`, where the gap and its interval are defined), when the run's data held NHS England's
waiting list by IMD decile.  Nothing is computed here but counts and quantiles of those tables' rows."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from analysis.equity_access import DRAWS, GAP_COLUMNS, MIN_QUINTILE_PATIENTS
from analysis.report.text import count, known, md, num, pct, signed

#: the covariates' plain names, for the sentence (the model's need covariates, models/default.toml)
NEED_WORDS = "the deprivation, age and health of the population it serves"


def ordinal(x) -> str:
    n = int(round(float(x)))
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _rank(r, which: str) -> str:
    return (f"{ordinal(r[f'rank_{which}_median'])} ({r[f'rank_{which}_lo95']:.0f} to "
            f"{r[f'rank_{which}_hi95']:.0f})")


def trust_equity(table: pd.DataFrame | None, code: str, name: str, need_applies: bool = True) -> dict:
    """``equity.text`` (the appendix's paragraph) and ``equity.slide`` (one line) for one trust; ``need_applies``
    False: its peer group has no need covariates (config need.by_group), so there is no adjustment to measure."""
    none = {"text": "The run has no equity table (its tables predate the equity lens); rerun `svi summarise`.",
            "slide": "not in this run's tables", "has": "no"}
    if not need_applies:
        return {"text": f"{name}'s peer group is not adjusted for catchment need (model configuration), so the "
                        "population it serves does not change its rank.",
                "slide": "none: its peer group is not adjusted for catchment need", "has": "no"}
    if table is None or not len(table):
        return none
    t = table.set_index("org_code")
    if code not in t.index or not known(t.loc[code, "rank_adjusted_median"]):
        return {"text": f"{name} has no value index, so the need adjustment's effect on its rank is not estimated.",
                "slide": "not estimated (no value index)", "has": "no"}
    r = t.loc[code]
    where = "nationally" if r.scope == "national" else "within its peer group"
    of = f"of {r.n_ranked:.0f} {where}"
    up, lo, hi = r.places_up_median, r.places_up_lo95, r.places_up_hi95
    moved = lo > 0 or hi < 0  # the 95% interval of the shift excludes no shift
    span = f"95% interval {signed(lo, 0)} to {signed(hi, 0)} places; chance it moves the trust up {pct(r.p_up)}"
    if moved:
        text = (f"Adjusting for {NEED_WORDS} moves it from {_rank(r, 'unadjusted')} to {_rank(r, 'adjusted')} {of}: "
                f"{abs(up):.0f} place{'s' if abs(round(up)) != 1 else ''} {'up' if up > 0 else 'down'} ({span}).")
        slide = (f"{ordinal(r.rank_unadjusted_median)} without the need adjustment, {ordinal(r.rank_adjusted_median)} "
                 f"with it ({'up' if up > 0 else 'down'} {abs(up):.0f}; {span.split(';')[0]})")
    else:
        text = (f"Adjusting for {NEED_WORDS} makes no clear difference to its rank: {_rank(r, 'unadjusted')} "
                f"without the adjustment, {_rank(r, 'adjusted')} with it, {of} (shift {span}).")
        slide = (f"no clear change: {ordinal(r.rank_unadjusted_median)} without the need adjustment, "
                 f"{ordinal(r.rank_adjusted_median)} with it")
    text += (" Without the adjustment the trust is compared with its peers as if it served a catchment of average "
             "need; the difference is the adjustment alone, with its uncertainty (the same fit, the same peers).")
    return {"text": text, "slide": slide, "has": "yes"}


def paper_equity(table: pd.DataFrame | None) -> dict:
    """National summary for the paper: how many trusts the need adjustment moves up or down with 95% probability,
    and the median absolute shift."""
    if table is None or not len(table) or "places_up_median" not in table:
        return {"n": "0", "up": "0", "down": "0", "median_shift": "not estimated", "largest": "not estimated"}
    t = table[table.rank_adjusted_median.notna()]
    # trusts of a group without need covariates (config need.by_group) have no adjustment to measure: their value
    # index is the same draw for draw with and without it
    if {"value_adjusted_median", "value_unadjusted_median"} <= set(t.columns):
        t = t[t.value_adjusted_median != t.value_unadjusted_median]
    up = int((t.places_up_lo95 > 0).sum())
    down = int((t.places_up_hi95 < 0).sum())
    a = t.places_up_median.abs()
    return {"n": str(len(t)), "up": str(up), "down": str(down), "median_shift": num(a.median(), 0),
            "largest": num(a.max(), 0)}


# --------------------------------------------------------------------------------- (b) equity of access

#: the columns of equity_access.csv the documents read: all of them (one definition, in analysis.equity_access)
ACCESS_COLUMNS = GAP_COLUMNS
#: why the run has no line: one sentence, the same for every trust of the run
ACCESS_ABSENT = ("NHS England's waiting list by deprivation (the Waiting List Minimum Data Set by IMD decile) was not "
                 "in the data for this run, so whether the most deprived patients wait longer cannot be said here.")
#: the paper's form of the same sentence
ACCESS_ABSENT_PAPER = ("NHS England's waiting list by deprivation (the Waiting List Minimum Data Set by IMD decile) "
                       "was not in the data for this run, so no equity-of-access gap is computed or summarised here.")
#: the publication's own limits, said wherever a gap is shown (analysis.equity_access.equity_gap's docstring)
ACCESS_CAVEAT = ("Read with care: deprivation is that of the patient's home area (IMD decile of residence), not of the "
                 "patient; small numbers make a quintile's share noisy, and the interval counts sampling noise only "
                 "(patients of one list are not independent, so it is too narrow); the gap is not need-adjusted; and "
                 "it can reflect a different mix of specialties between the two quintiles rather than unequal waits "
                 "for the same care.")


def period_words(period) -> str:
    """``2026-03-29`` -> ``29 March 2026`` (the publication's week-ending date); other forms as published."""
    try:
        d = dt.date.fromisoformat(str(period).strip()[:10])
    except ValueError:
        return md(str(period))
    return f"{d.day} {d:%B %Y}"


def latest_access(table: pd.DataFrame) -> pd.DataFrame:
    """One row per trust: its latest snapshot (the table has one row per trust and period)."""
    t = table.copy()
    t["_order"] = pd.to_datetime(t["period"].astype(str).str[:10], errors="coerce", format="ISO8601")
    t = t.sort_values(["org_code", "_order", "period"], na_position="first", kind="stable")
    return t.groupby("org_code", sort=True).tail(1).drop(columns="_order").set_index("org_code")


def _reading(r) -> str:
    if r.gap_pp_hi95 < 0:
        return ("its most deprived patients wait longer: fewer of them are within 18 weeks, and the whole interval "
                "is below zero")
    if r.gap_pp_lo95 > 0:
        return ("its most deprived patients wait less long: more of them are within 18 weeks, and the whole "
                "interval is above zero")
    return (f"there is no clear gap: the interval includes zero (chance that the most deprived wait longer: "
            f"{pct(r.p_gap_below_zero)})")


def trust_access(table: pd.DataFrame | None, code: str, name: str) -> dict:
    """``text`` (one line of the appendix's equity paragraph) and ``has`` for one trust, from ``equity_access.csv``
    (``None``: the run's data did not hold the publication)."""
    if table is None:
        return {"text": ACCESS_ABSENT, "has": "no"}
    t = latest_access(table)
    if code not in t.index:
        return {"text": (f"{name} is not in this run's equity-of-access table (it lists the trusts of the panel "
                         f"it was built with), so whether its most deprived patients wait longer "
                         f"cannot be said here."),
                "has": "no"}
    r = t.loc[code]
    when = period_words(r.period)
    note = str(r.note).strip() if known(r.note) else ""
    if not known(r.gap_pp_median):
        why = md(note.removeprefix("no gap:").strip()) if note else "the publication gives no gap for it"
        return {"text": f"No equity-of-access gap for {name} in the snapshot of {when}: {why}.", "has": "no"}
    text = (f"In its waiting list of {when}, {num(100 * r.share_most_deprived, 1)}% of patients from the most "
            f"deprived fifth of areas (IMD deciles 1-2; {count(r.n_most)} patients) had waited under 18 weeks, "
            f"against {num(100 * r.share_least_deprived, 1)}% of those from the least deprived fifth (deciles 9-10; "
            f"{count(r.n_least)}): a gap of {signed(r.gap_pp_median, 1)} points (95% interval "
            f"{signed(r.gap_pp_lo95, 1)} to {signed(r.gap_pp_hi95, 1)}), so {_reading(r)}.")
    if note:
        text += f" Note: {md(note)}."
    return {"text": text + " " + ACCESS_CAVEAT, "has": "yes"}


def paper_access(table: pd.DataFrame | None) -> dict:
    """The paper's national summary of equity of access: how many trusts have a gap, its distribution (median,
    middle half, range, in points) and how many intervals exclude 0 each way; ``text`` is the paragraph, ``draws``
    and ``min_patients`` the method's settings (analysis.equity_access) for the paper's description."""
    method = {"draws": count(DRAWS), "min_patients": str(MIN_QUINTILE_PATIENTS)}
    if table is None:
        return {**method, "has": "no", "text": ACCESS_ABSENT_PAPER}
    t = latest_access(table)
    g = t[t.gap_pp_median.notna()]
    n, n_all = len(g), len(t)
    periods = sorted({period_words(p) for p in g.period}) or sorted({period_words(p) for p in t.period})
    when = "the snapshot of " + ", ".join(periods) if periods else "the publication"
    if n == 0:
        return {**method, "has": "no",
                "text": (f"The run's data held the waiting list by deprivation ({when}), but none of its {n_all} trusts "
                         f"has a gap (each is too small in one quintile, or not in the file; the table's notes give "
                         f"the reason for each).")}
    longer, shorter = int((g.gap_pp_hi95 < 0).sum()), int((g.gap_pp_lo95 > 0).sum())
    q = g.gap_pp_median.quantile([0.25, 0.5, 0.75])
    others = ("" if n == n_all else
              " (the others have a quintile under the minimum size or are not in the file; each appendix says which)")
    text = (f"From NHS England's waiting list by deprivation ({when}), {n} of the run's {n_all} trusts have an "
            f"equity-of-access gap{others}. The median gap is {signed(q[0.5], 1)} points (middle half {signed(q[0.25], 1)} to {signed(q[0.75], 1)}, "
            f"range {signed(g.gap_pp_median.min(), 1)} to {signed(g.gap_pp_median.max(), 1)}). For {longer + shorter} "
            f"of the {n} the 95% interval excludes 0: in {longer} the most deprived patients wait longer, in "
            f"{shorter} less long; for the other {n - longer - shorter} the data cannot tell.")
    return {**method, "has": "yes", "text": text, "n": str(n), "n_all": str(n_all), "longer": str(longer),
            "shorter": str(shorter), "median": signed(q[0.5], 1)}

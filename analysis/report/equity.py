"""The documents' equity lens, part (a): what the population served changes in a trust's rank.  Formatted from the
``equity_lens`` table (:mod:`analysis.summaries.equity`, where the definition and its reasons are); nothing is
computed here but counts of that table's rows."""

from __future__ import annotations

import pandas as pd

from analysis.report.text import known, num, pct, signed

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
    t = t[t.value_adjusted_median != t.value_unadjusted_median]
    up = int((t.places_up_lo95 > 0).sum())
    down = int((t.places_up_hi95 < 0).sum())
    a = t.places_up_median.abs()
    return {"n": str(len(t)), "up": str(up), "down": str(down), "median_shift": num(a.median(), 0),
            "largest": num(a.max(), 0)}

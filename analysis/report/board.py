"""What the board documents say beyond the tables' numbers: the one mortality message, what to act on (the parts
that move the value index most, the care settings where trapped value sits, questions for the board), the
specialist caveat, the periods of the data, the slide's title and the reason for every value that is missing.

Every sentence here is a template filled from the saved tables (:mod:`analysis.summaries`), the panel, its
dictionary and its data-quality findings; nothing is typed in by hand, and a template whose evidence is absent is
left out rather than filled with a placeholder.
"""

from __future__ import annotations

import math
import re

import pandas as pd

from models import indicators as registry
from analysis.report.text import display_name, interval, known, md, money, num, pct, short_name, signed

#: the parts of the value index (analysis.summaries.posterior.value_drivers) as a board reads them: the quality
#: parts' names, measures and units come from their records (models/indicators.py); "cost" is the cost composite
COST_PART = "cost"


def part_label(part: str) -> str:
    if part in registry.INDICATORS:
        r = registry.get(part)
        return r.plain_name or r.label
    return "cost" if part == COST_PART else md(part)


def part_measure(part: str):
    """(Health Alpha measure, text template, formatter) that show a quality part in board units."""
    r = registry.get(part)
    if r.alpha == "ratio":
        return r.alpha_measure, "model's need-adjusted ratio {v}", lambda x: num(x, 2)
    return r.alpha_measure, "{v} percentage points against expectation", lambda x: signed(x, 1)


def is_mortality(part: str) -> bool:
    """The mortality part (the record marked ``avoidable``): its questions come from the published band only."""
    return part in registry.INDICATORS and registry.get(part).avoidable


#: panel column of each indicator's data (its period is read from the panel dictionary), then the costs'
#: (a binomial's denominator, the count it is measured on; otherwise its first column, e.g. SHMI's observed deaths)
PERIOD_COLUMNS = {**{r.short: r.denominator if r.family == "binomial" else r.columns[0]
                     for r in registry.INDICATORS.values() if r.weight is not None},
                  "costs": "ncc_actual_cost_total_gbp_m"}
#: the slide's title: its largest size, and the most characters a line holds at that size (DejaVu Sans Bold takes
#: about 0.83 em a character in trust names, measured on the rendered slide; the line is 26.9 cm)
TITLE_PT = 19.0
TITLE_MAX_CHARS = 44
#: the smallest size the title may shrink to before the name is cut
TITLE_MIN_PT = 14.0
#: the appendix's and the handout's level-1 heading (the trust's title and code): largest size, the most characters
#: a line holds at it (measured on rendered pages: at 13 pt the A4 appendix's 17.4 cm line held 61 characters of
#: "Robert Jones and Agnes Hunt Orthopaedic Hospital (RL1): board", so 58 leaves a margin; the handout's 18 cm line
#: at 16 pt proportionally 50), and the smallest size before the line may wrap
HEADING = {"appendix": (13.0, 58, 10.0), "handout": (16.0, 50, 12.0)}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


# ----------------------------------------------------------------------------- names and periods

def title_name(name: str) -> str:
    """The trust's name for a one-line title: the display name if it fits at :data:`TITLE_PT`, else without "NHS
    (Foundation) Trust" and a leading "The" (the full name is printed above the title), cut at a word boundary
    with an ellipsis only if even :data:`TITLE_MIN_PT` would not fit it on one line."""
    full = display_name(name)
    if len(full) <= TITLE_MAX_CHARS:
        return full
    short = re.sub(r"^The\s+", "", short_name(name))
    limit = int(TITLE_MAX_CHARS * TITLE_PT / TITLE_MIN_PT)
    if len(short) <= limit:
        return short
    out = ""
    for w in short.split(" "):
        if len(out) + len(w) + 1 > limit - 1:
            break
        out = f"{out} {w}".strip()
    return out.rstrip(",") + "\u2026"


def title_size(title: str) -> str:
    """The title's type size: :data:`TITLE_PT`, shrunk so that a long name still fits on one line."""
    n = len(title.replace("\\", ""))
    return f"{max(TITLE_MIN_PT, min(TITLE_PT, TITLE_PT * TITLE_MAX_CHARS / max(n, 1))):.1f}pt"


def heading_size(text: str, doc: str) -> str:
    """The type size of a document's level-1 heading (:data:`HEADING`): its largest, shrunk so that a long trust
    name and code fit on one line, never below its smallest (where a line that still does not fit wraps)."""
    pt, chars, low = HEADING[doc]
    n = len(text.replace("\\", ""))
    return f"{max(low, min(pt, pt * chars / max(n, 1))):.1f}pt"


def _period_text(period: str) -> str:
    """``latest month in 2026-03 snapshot`` -> ``March 2026``; ``latest week in 2026-03 snapshot`` -> ``a week
    of March 2026``; other periods as recorded."""
    m = re.search(r"latest (week|month)?\s*in (\d{4})-(\d{2})", str(period))
    if m:
        when = f"{MONTHS[int(m.group(3)) - 1]} {m.group(2)}"
        return f"one week of {when}" if m.group(1) == "week" else when
    return str(period).strip()


def periods(dictionary: pd.DataFrame | None) -> str:
    """The period of each indicator's data, from the panel dictionary: ``SHMI mortality Jan 2025 - Dec 2025;
    RTT waits one week of March 2026; ...`` (indicators sharing a period are listed together)."""
    if dictionary is None or not {"name", "period"} <= set(dictionary.columns):
        return "the periods of the data are not recorded in this panel's dictionary"
    per = dictionary.set_index("name")["period"]
    groups: dict[str, list[str]] = {}
    for label, col in PERIOD_COLUMNS.items():
        if col in per.index and known(per[col]) and str(per[col]).strip() not in ("", "-"):
            groups.setdefault(_period_text(per[col]), []).append(label)
    if not groups:
        return "the periods of the data are not recorded in this panel's dictionary"
    join = lambda xs: xs[0] if len(xs) == 1 else ", ".join(xs[:-1]) + " and " + xs[-1]
    return "; ".join(f"{md(join(labels))} {md(p)}" for p, labels in groups.items())


# ----------------------------------------------------------------------------- amounts

def _zero(x, f) -> bool:
    return f(0.0) == f(abs(float(x)))


def amount(med, lo, hi, f, unit: str = "") -> str:
    """A non-negative amount with its 95% interval as a board reads it: ``none`` when the whole interval rounds
    to 0, ``up to X`` when the median does, ``M (up to X)`` when the lower end does; never "0" beside a wide
    interval."""
    if not (known(med) and known(lo) and known(hi)):
        return ""
    u = f" {unit}" if unit else ""
    if _zero(hi, f):
        return "none"
    if _zero(med, f):
        return f"up to {f(hi)}{u}"
    if _zero(lo, f):
        return f"{f(med)}{u} (up to {f(hi)})"
    return f"{f(med)}{u} (95% interval {f(lo)} to {f(hi)})"


# ----------------------------------------------------------------------------- missing values

def missing_reason(findings: pd.DataFrame | None, code: str, column: str, default: str) -> str:
    """Why a trust's value is missing: the data-quality finding that set it missing (first clause), else
    ``default`` (what the source lacks)."""
    if findings is not None and len(findings) and {"org_code", "column", "action", "reason"} <= set(findings.columns):
        f = findings[(findings.org_code == code) & (findings.column == column) &
                     findings.action.astype(str).str.contains("missing")]
        if len(f):
            return md(re.split(r"[:;(]", str(f.reason.iloc[0]))[0].strip())
    return default


# ----------------------------------------------------------------------------- what to act on

def _strength(r) -> float:
    """How far from 0 a part's contribution is at least, with 90% probability: the 80% interval's end nearest 0
    (0 when the interval spans 0)."""
    if not (known(r.lo80) and known(r.hi80)):
        return -1.0
    return float(r.lo80) if r.lo80 > 0 else float(-r.hi80) if r.hi80 < 0 else 0.0


def drivers(ix, code: str, n: int = 2, band: str | None = None) -> list[dict]:
    """The ``n`` parts of the value index (quality indicators and cost) that move this trust's position most:
    ordered by how far their contribution lies from 0 at least (80% interval), then by its median's size.  The
    mortality part names the published SHMI ``band`` beside the model's ratio (the one mortality message)."""
    t = ix.drivers.get(code) if getattr(ix, "drivers", None) is not None else None
    if t is None or not len(t):
        return []
    t = t[t["median"].notna()].reset_index()
    t["strength"] = [_strength(r) for r in t.itertuples()]
    t["size"] = t["median"].abs()
    out = []
    for r in t.sort_values(["strength", "size"], ascending=False).head(n).itertuples():
        d = _driver(ix, code, r)
        if is_mortality(d["part"]) and band:
            d["text"] += f"; NHS Digital's published band: \u201c{md(band)}\u201d"
        out.append(d)
    return out


def _driver(ix, code: str, r) -> dict:
    part = r.part
    d = {"part": part, "label": part_label(part), "median": float(r.median),
         "credible": bool(r.lo95 > 0 or r.hi95 < 0),  # the 95% interval of its contribution excludes 0
         "contribution": signed(r.median),
         "contribution_i95": interval(r.lo95, r.hi95, signed), "weight": pct(r.weight)}
    if part == COST_PART:
        c = ix.value.get("cost_residual_total")
        cr = c.loc[code] if c is not None and code in c.index else None
        if cr is not None and known(cr["median"]):
            f = lambda x: signed(100 * (math.exp(float(x)) - 1), 1) + "%"
            m = 100 * (math.exp(float(cr["median"])) - 1)
            d["measure"] = f"{num(abs(m), 1)}% {'above' if m > 0 else 'below'} need-adjusted expectation"
            d["measure_i95"] = interval(cr.lo95, cr.hi95, f)
        else:
            d["measure"], d["measure_i95"] = "cost composite " + signed(r.median), d["contribution_i95"]
    else:
        measure, text, f = part_measure(part)
        a = ix.alpha.get(measure)
        ar = a.loc[code] if a is not None and code in a.index else None
        d["measure"] = text.format(v=f(ar["median"])) if ar is not None else "not reported"
        d["measure_i95"] = interval(ar.lo95, ar.hi95, f=f) if ar is not None else ""
    d["direction"] = "raises" if r.median > 0 else "lowers"
    d["text"] = (f"**{d['label'][0].upper() + d['label'][1:]}**: {d['measure']} (95% interval {d['measure_i95']}); "
                 f"{d['direction']} the value index by {d['contribution'].lstrip('+' + chr(0x2212))} SD "
                 f"(95% interval {d['contribution_i95']})")
    return d


#: in place of a 95% interval the model does not have (see :func:`settings`)
NO_INTERVAL_WORDS = "from reported costs; no interval"


def settings(ix, code: str, labels: dict, n: int = 2, fixed_gap: bool = False) -> list[dict]:
    """The care settings (not the all-settings total) where this trust's trapped value sits, largest first: those
    whose 95% interval reaches above 0.  ``fixed_gap``: the gap is the same in every draw (a peer group without
    need adjustment: analysis.report.trapped.FIXED_GAP_NOTE), so no interval is printed."""
    rows = []
    for s, label in labels.items():
        if s == "total":
            continue
        t = ix.trapped.get(s)
        if t is None or code not in t.index:
            continue
        r = t.loc[code]
        if known(r["mean"]) and known(r.hi95) and not _zero(r.hi95, money):
            i95 = (NO_INTERVAL_WORDS if fixed_gap else f"95% interval {money(r.lo95)} to {money(r.hi95)}")
            rows.append({"setting": s, "label": label, "mean": float(r["mean"]), "lo95": float(r.lo95),
                         "hi95": float(r.hi95), "credible": not _zero(r.lo95, money), "i95": i95,
                         "text": f"**{label}**: " + (f"{money(r['mean'])} a year ({i95})" if fixed_gap else
                                                     amount(r['mean'], r.lo95, r.hi95, money, 'a year'))})
    return sorted(rows, key=lambda x: (-x["mean"], -x["hi95"]))[:n]


def questions(drv: list[dict], sett: list[dict], band: str | None, shmi: str, n: int = 3) -> list[str]:
    """Up to ``n`` questions for the board, each prompted by a number whose 95% interval excludes no difference:
    parts that lower the value index, a published SHMI band "higher than expected", care settings whose trapped
    value is above 0 in 95% of draws, then parts that raise the index (what to keep).  Mortality questions come
    from the published band alone, so the board hears one mortality message."""
    qs = []
    for d in drv:  # mortality questions come from the published band only (one mortality message)
        if not (d["credible"] and d["median"] < 0) or is_mortality(d["part"]):
            continue
        if d["part"] == "cost":
            qs.append(f"Cost is {d['measure']} (95% interval {d['measure_i95']}): which "
                      "services drive it, and how much is costing practice rather than real cost?")
        else:
            qs.append(f"{d['label'][0].upper() + d['label'][1:]} is {d['measure']} (95% interval "
                      f"{d['measure_i95']}): what explains it, and what would close the gap?")
    if band == "higher than expected":
        qs.append(f"NHS Digital bands this trust's mortality higher than expected (SHMI {shmi}): what have the "
                  "structured mortality reviews found?")
    for s in sett:
        if s["credible"]:
            qs.append(f"{s['label']} cost is {money(s['mean'])} a year above the peer benchmark ({s['i95']}): "
                      "which specialties sit behind it?")
    for d in drv:
        if d["credible"] and d["median"] > 0 and not is_mortality(d["part"]):
            qs.append(f"{d['label'][0].upper() + d['label'][1:]} is better than expected ({d['measure']}): what "
                      "sustains it, and can peers learn from it?")
    return qs[:n]


# ----------------------------------------------------------------------------- mortality: one message

def mortality(funnel_row, alpha_row, deaths_row, period: str) -> dict:
    """The one mortality message: NHS Digital's published SHMI band leads (exact, as published); the model's
    need-adjusted figure follows, with the reason the two can differ.  The handout's page has no line to spare:
    ``lead_short``, its lead, is one line where there is no published SHMI (the caveat box above it says so too),
    and ``secondary_handout`` keeps every number of ``secondary`` but leaves the reasons to the appendix."""
    if funnel_row is None or not bool(funnel_row.in_fit):
        return {"lead": "no published SHMI (NHS Digital publishes SHMI for non-specialist acute trusts only), so "
                        "there is no mortality band or model estimate for this trust",
                "lead_short": "no published SHMI (NHS Digital publishes it for non-specialist acute trusts only)",
                "band": "not published for this trust", "secondary": "", "secondary_short": "",
                "secondary_handout": "", "has": "no"}
    lead = (f"published SHMI {num(funnel_row.ratio, 2)}, \u201c{md(str(funnel_row.band_label))}\u201d on NHS "
            f"Digital's funnel ({md(period)})")
    sec = short = handout = ""
    if alpha_row is not None and known(alpha_row["median"]):
        ratio = f"{num(alpha_row['median'], 2)} (95% interval {interval(alpha_row.lo95, alpha_row.hi95)})"
        deaths = ""
        if deaths_row is not None and known(deaths_row["mean"]):
            deaths = ("; deaths a year above the peer benchmark: "
                      + amount(deaths_row["mean"], deaths_row.lo95, deaths_row.hi95, lambda x: num(x, 0)))
        short = f"Model, need-adjusted against peers: ratio {ratio}{deaths}."
        sec = (f"The model's need-adjusted ratio against its peer group is {ratio}{deaths}. It can differ from the "
               "published band: it adjusts for catchment deprivation, age and health (SHMI does not), compares with "
               "the peer group rather than all of England, pulls small trusts' estimates toward their peers, and its "
               "interval covers only this trust's own uncertainty, not the normal spread between trusts that NHS "
               "Digital's control limits allow for, so it marks more trusts as different. The published band is the "
               "mortality message to report; the model's figure is a prompt for mortality review.")
        handout = (f"The model's need-adjusted ratio against its peer group is {ratio}{deaths}; it can differ from "
                   "the published band for reasons the appendix gives. The published band is the mortality message "
                   "to report; the model's figure is a prompt for mortality review.")
    return {"lead": lead, "lead_short": lead, "band": md(str(funnel_row.band_label)), "secondary": sec,
            "secondary_short": short, "secondary_handout": handout,
            "has": "yes"}


# ----------------------------------------------------------------------------- specialist trusts

def specialist_caveat(name: str, group: str, n_group: int, weights: dict[str, float], age75: str,
                      age75_england: str, shmi_weight: str, need_applies: bool = True, short: bool = False) -> str:
    """The caveat of a trust ranked only within its peer group: a mixed group, no SHMI so mortality's weight is
    re-spread, and the need adjustment: either catchment covariates made for general hospitals' populations
    (``need_applies``) or none (config need.by_group), and hence no national rank.  ``short``: the handout's, the
    same facts and numbers in fewer words (the trust is named in the heading above it): on a page that also
    carries the position chart, the long caveat ran a specialist trust's handout to a second page."""
    # short labels (RTT, A&E, FFT, Cancer FDS): with six indicators the plain names ran the slide's first page over
    spread = "; ".join(f"{md(registry.get(k).short) if k in registry.INDICATORS else part_label(k)} {pct(w)}"
                       for k, w in weights.items())
    if short:
        need = (f"Need is adjusted with covariates made for general hospitals' catchments (residents aged 75 and "
                f"over: {age75} here, England median {age75_england}), a poor fit for a specialist service."
                if need_applies else
                "Not adjusted for catchment need (referral catchments): compared with its group's mean alone.")
        return (f"**Specialist trust: read with care.** Compared only within the {md(group)} peer group of "
                f"{n_group} trusts, which mixes specialisms. No published SHMI: mortality's {shmi_weight} of the "
                f"quality weight is spread over the other indicators ({spread}). {need} So no national or regional "
                "rank: it is ranked within its peer group only.")
    need = (f"Need is adjusted with catchment covariates made for a general hospital's population, such as residents "
            f"aged 75 and over ({age75} here, England median {age75_england}), which fit a specialist service "
            f"poorly." if need_applies else
            "It is not adjusted for catchment need (its patients come from referral catchments): it is compared "
            "with its group's mean alone.")
    return (f"**Specialist trust: read with care.** {md(name)} is compared only within the {md(group)} peer group "
            f"of {n_group} trusts, which mixes hospitals of different specialisms. It "
            f"has no published SHMI, so mortality's {shmi_weight} of the quality weight is spread over the other "
            f"indicators (quality weights here: {spread}). {need} For these reasons it has no national or "
            "regional rank: it is ranked within its peer group only.")

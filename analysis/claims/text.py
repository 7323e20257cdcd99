"""The claims' text: numbers in their units, the printed table, and each claim's section of the paper."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from analysis.claims.spec import ABOUT_FACTOR, CLAIMS, NO_VERDICT, SUPPORTED
from analysis.report.text import MINUS


def fmt(x: float, unit: str) -> str:
    if x is None or not np.isfinite(x):
        return "-"
    if unit == "GBP m":
        sign = MINUS if x < 0 else ""
        return f"{sign}£{abs(x) / 1000:,.2f}bn" if abs(x) >= 1000 else f"{sign}£{abs(x):,.0f}m"
    if unit == "ratio":
        return f"{x:.3f}"
    if unit in ("deaths", "rank", "regions"):
        return f"{x:,.0f}".replace("-", MINUS)
    return f"{x:.3g}"


def interval_text(r) -> str:
    return f"{fmt(r['median'], r['unit'])} [95% interval {fmt(r['lo95'], r['unit'])} to {fmt(r['hi95'], r['unit'])}]"


def p_text(p: float) -> str:
    if not np.isfinite(p):
        return "-"
    return "< 0.001" if p < 0.001 else ("> 0.999" if p > 0.999 else f"{p:.3f}")


def peq(p: float) -> str:
    """' = 0.712', ' < 0.001': a probability after 'P(...)'."""
    t = p_text(p)
    return " " + t if t[0] in "<>" else " = " + t


def plain_table(df: pd.DataFrame, primary_only: bool = True) -> str:
    """The printed table: claim, quantity, median, 95% interval, probability, verdict."""
    d = df[df.primary] if primary_only else df
    out = []
    for _, r in d.iterrows():
        out.append({"claim": r.claim if primary_only else f"{r.claim} {r.scenario}",
                    "quantity": (r.quantity if primary_only else textwrap.shorten(r.label, 50))
                    + (" [fit failed gate]" if r.gate_passed is False else ""),
                    "median": fmt(r["median"], r.unit),
                    "95% interval": ("-" if not np.isfinite(r.lo95) else
                                     f"{fmt(r.lo95, r.unit)} to {fmt(r.hi95, r.unit)}"),
                    "event": r.event, "P(event)": p_text(r.probability),
                    "verdict": r.verdict + ("" if r.evidence in ("-", "strong evidence for") else f" ({r.evidence})")})
    return pd.DataFrame(out).to_string(index=False)


CAVEATS = {
    1: ("Single year (NCC 2024/25): a trust's cost index mixes persistent productivity with one-year noise (costing "
        "practice, coding, one-off costs), so an extreme year regresses toward the mean. Ranking on spend and then "
        "measuring spend per unit of activity selects expensive years into the 'largest' group; the activity-ranked "
        "check removes that. Only {k} trusts are in the group (small numbers: see the bootstrap row). Productivity "
        "here is cost-weighted activity per £ of patient-care cost, not ONS quality-adjusted productivity: public "
        "data do not measure capital, staff mix, research and teaching costs beyond what the NCC excludes, or the "
        "complexity within a tariff price."),
    2: ("The counterfactual assumes each trust can reach the smaller trusts' cost index for its own case mix and "
        "need, and that the NCC cost index is all productivity (part is teaching, research, specialised services and "
        "London costs not fully captured by MFF). NCC actual cost is patient-care cost, smaller than operating "
        "expenditure; a saving is gross and one-year."),
    3: ("SHMI counts deaths in hospital or within 30 days of discharge against a national risk model; NHS Digital "
        "states it is not a measure of avoidable deaths, so 'lives saved' is read here as the difference in "
        "expected SHMI deaths at a benchmark rate. Summing only the trusts above the benchmark is a one-sided sum, "
        "which is positive even when every trust is at the benchmark (noise); the net version avoids that. Observed "
        "and expected deaths are published rounded to the nearest 5."),
    4: ("'Lowest-performing' is read on this index (need-adjusted quality and cost composite); regions hold "
        "{regions} trusts, and the lowest of a region is decided among several trusts with overlapping intervals, "
        "so the probability that one named trust is last is small for any trust. Size within region uses the same "
        "NCC spend measure."),
    5: ("The published claim's index is not this index (its indicators, weights and need adjustment are not "
        "public), so this tests whether Barnsley ranks first on *this* index. With {n} trusts and overlapping "
        "intervals no trust is certain to rank first."),
}


def claim_text(claim: int, df: pd.DataFrame, ctx: dict) -> tuple[str, dict]:
    d = df[df.claim == claim]
    p = d[d.primary].iloc[0]
    c = CLAIMS[claim]
    lines = [f"> {c.text}", ""]
    if p.verdict in NO_VERDICT:
        lines.append(f"**Verdict: {p.verdict}.** {p.note}")
    else:
        lines.append(f"**Verdict: {p.verdict}** ({p.evidence}). {p.quantity[:1].upper() + p.quantity[1:]}: "
                     f"{interval_text(p)}; P({p.event}){peq(p.probability)}"
                     + (f" (the verdict's event: at least {ABOUT_FACTOR:g} × the claimed {fmt(c.claimed, c.unit)}); "
                        f"P(≥ {fmt(c.claimed, c.unit)}){peq(p.p_at_least_claimed)}" if c.claimed else "") + ".")
    for para in ctx.get("lines", []):
        lines += ["", para]
    sens = d[~d.primary]
    if len(sens):
        lines.append("")
        lines.append("Sensitivity checks (same verdict rule):")
        lines.append("")
        for _, r in sens.iterrows():
            if r.verdict in NO_VERDICT:
                lines.append(f"* {r.label}: {r.verdict} ({r.note}).")
            else:
                lines.append(f"* {r.label}: {interval_text(r)}; P({r.event}){peq(r.probability)}: {r.verdict}"
                             + (f" ({r.evidence})" if r.verdict != SUPPORTED else "")
                             + (f"; {r.note}" if r.note else "") + ".")
    changed = sorted(set(sens.verdict[~sens.verdict.isin(NO_VERDICT)]) - {p.verdict})
    n_test = int((~sens.verdict.isin(NO_VERDICT)).sum())
    agree = int((sens.verdict == p.verdict).sum())
    lines.append("")
    lines.append(f"The verdict is the same in {agree} of {n_test} testable sensitivity checks"
                 + (f" (others: {', '.join(changed)})." if changed else "."))
    lines.append("")
    lines.append("*Caveats.* " + CAVEATS[claim].format(**ctx.get("fmt", {})))
    extra = {"verdict": p.verdict, "evidence": p.evidence, "median": p["median"], "lo95": p.lo95, "hi95": p.hi95,
             "probability": p.probability, "event": p.event, "quantity": p.quantity, "unit": p.unit,
             "claimed": None if c.claimed is None else c.claimed,
             "p_at_least_claimed": None if c.claimed is None else p.p_at_least_claimed,
             "sensitivity": {r.scenario: {"verdict": r.verdict, "median": r["median"], "lo95": r.lo95, "hi95": r.hi95,
                                          "probability": r.probability} for _, r in sens.iterrows()}}
    extra.update(ctx.get("extra", {}))
    return "\n".join(lines), jsonable(extra)


def jsonable(o):
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if isinstance(o, (np.floating, float)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, np.bool_):
        return bool(o)
    return o

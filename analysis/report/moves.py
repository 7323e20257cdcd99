"""The movements of the board documents and the paper's trend section, from the multi-year fit's tables
(``svi trend fit``: :mod:`analysis.trend.movements`) and the backtest's (``svi validate --backtest``).

Nothing is computed here that those tables do not hold; this module chooses and formats.  When the results hold
no trend fit, or its gate failed, every document says so in one sentence (:attr:`analysis.report.data.Trend.reason`)
and the appendix has no movements page."""

from __future__ import annotations

import re

import pandas as pd

from analysis.figures.movements import moving_indicators, units
from analysis.report.text import count, interval, known, md, md_table, num, pct, signed
from models import indicators as registry

#: the appendix's movements page (or the sentence saying why there is none) is written where this marker stands
MOVEMENTS_MARKER = re.compile(r"(?m)^<!-- svi:movements[^\n]*-->\n")
#: the table cells of one indicator's row (svi.moves.ind.<name>.<cell>)
CELLS = ("label", "years", "window", "window_i95", "window_p", "latest_years", "latest", "latest_i95", "latest_p")


def _and(items: list[str]) -> str:
    return ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + (items[-1] if items else "")


def _years(a, b) -> str:
    return f"{a} to {b}"


def _fmt(ind: str):
    """Formatter of a movement in board units: points (shares) or per cent (SHMI ratio), one decimal."""
    return lambda x: signed(x, 1)


def _row(df: pd.DataFrame, **eq) -> pd.Series | None:
    m = pd.Series(True, index=df.index)
    for k, v in eq.items():
        m &= df[k] == v
    sub = df[m]
    return None if sub.empty else sub.iloc[-1]


def _latest(mv: pd.DataFrame) -> pd.Series | None:
    """The last consecutive-year movement of one trust and indicator."""
    c = mv[mv.span == "consecutive"]
    return None if c.empty else c.sort_values("to").iloc[-1]


def _cells(r: pd.Series | None, f) -> tuple[str, str, str, str]:
    if r is None:
        return ("", "", "", "")
    years = _years(r["from"], r["to"])
    if "observed_both" in r.index and not bool(r.observed_both):
        years += " (a year without data: modelled)"
    return (years, f(r["median"]), interval(r.lo95, r.hi95, f=f), pct(r.p_improved))


def composite_words(trend_tables: dict) -> str:
    """What the trend composite is made of: the short names of its components (value_movement)."""
    vm = trend_tables.get("value_movement")
    if vm is None or vm.empty:
        return ""
    comps = [c for c in dict.fromkeys(vm.component) if c != "total" and c in registry.INDICATORS]
    return _and([registry.get(c).short for c in comps])


def trust_moves(trend, code: str) -> dict:
    """``svi.moves`` of one trust: whether its movements page is shown, the sentence when it is not, the rows of
    the movements table (one per indicator with movement, keyed by name, and the composite) and the direction of
    travel sentence of the slide and the handout."""
    blank = {c: "" for c in CELLS}
    if trend is None or not trend.ok:
        reason = trend.reason if trend is not None else "no multi-year (trend) fit is in these results"
        short = (trend.short or reason) if trend is not None else "no multi-year fit is in these results"
        return {"show": "no", "absent": f"**Movements over the years** are not shown: {md(reason)}.",
                "sentence": f"**Direction of travel:** not available ({md(short)}).",
                "sentence_short": f"**Direction of travel:** not available ({md(short)}).", "ind": {}, "value": blank,
                "window": ""}
    t = trend.tables
    mv = t["movements"]
    inds = moving_indicators(mv)
    mine = mv[mv.org_code == code]
    if mine.empty:
        return {"show": "no", "absent": f"**Movements over the years** are {NOT_IN_PANEL}.",
                "sentence": f"**Direction of travel:** {NOT_IN_PANEL}.",
                "sentence_short": f"**Direction of travel:** {NOT_IN_PANEL}.",
                "ind": {n: dict(blank) for n in inds}, "value": blank, "window": ""}
    ind = {}
    for name in inds:
        rec = registry.get(name)
        f = _fmt(name)
        m = mine[mine.indicator == name]
        w = _row(m, span="window")
        lat = _latest(m)
        wy, wv, wi, wp = _cells(w, f)
        ly, lv, li, lp = _cells(lat, f)
        _, aunit = units(name)
        ind[name] = {"label": md(f"{rec.label} ({aunit.replace(' vs expected', '')})"), "years": wy, "window": wv,
                     "window_i95": wi, "window_p": wp, "latest_years": ly, "latest": lv, "latest_i95": li,
                     "latest_p": lp}
        if not wv:
            ind[name].update(window="not estimated for this trust", window_i95="", window_p="")
    vm = t.get("value_movement")
    value = dict(blank)
    vmine = vm[vm.org_code == code] if vm is not None and len(vm) else None
    if vmine is not None and len(vmine):
        f = lambda x: signed(x, 2)
        tot = vmine[vmine.component == "total"]
        wy, wv, wi, wp = _cells(_row(tot, span="window"), f)
        ly, lv, li, lp = _cells(_latest(tot), f)
        value = {"label": f"**Trend composite** of {md(composite_words(t))} (SD units)", "years": wy,
                 "window": f"**{wv}**", "window_i95": wi, "window_p": wp, "latest_years": ly, "latest": lv,
                 "latest_i95": li, "latest_p": lp}
    return {"show": "yes", "absent": "", "sentence": direction_sentence(trend.tables, code),
            "sentence_short": direction_short(trend.tables, code), "ind": ind,
            "value": value, "window": value["years"] or (ind[inds[0]]["years"] if inds else "")}


def _direction(tables: dict, code: str) -> dict | None:
    """The parts of the direction of travel: the trend composite's window movement (when the trust has one) and
    the indicator that moved it most (largest contribution in SD units); without a composite, the indicator whose
    movement is most certain in either direction.  None when the trust has no movement."""
    mv = tables["movements"]
    mine = mv[(mv.org_code == code) & (mv.span == "window")]
    mine = mine[mine.indicator.isin(moving_indicators(mv))]
    if mine.empty:
        return None
    vm = tables.get("value_movement")
    vmine = vm[(vm.org_code == code) & (vm.span == "window")] if vm is not None and len(vm) else pd.DataFrame()
    tot, top = None, None
    if len(vmine) and (vmine.component == "total").any():
        tot = vmine[vmine.component == "total"].iloc[0]
        comps = vmine[(vmine.component != "total") & vmine.component.isin(mine.indicator)]
        if len(comps):
            top = comps.loc[comps["median"].abs().idxmax(), "component"]
    if top is None:
        top = mine.loc[(mine.p_improved - 0.5).abs().idxmax(), "indicator"]
    return {"total": tot, "top": top, "row": mine[mine.indicator == top].iloc[0]}


def _composite_clause(tables: dict, tot: pd.Series) -> str:
    return (f"the trend composite of {md(composite_words(tables))} changed by {signed(tot['median'], 2)} SD units (95% interval "
            f"{interval(tot.lo95, tot.hi95, f=lambda x: signed(x, 2))}; chance it improved {pct(tot.p_improved)})")


def direction_sentence(tables: dict, code: str) -> str:
    """One sentence on the trust's direction of travel for the slide: the trend composite's movement over the
    window (95% interval, chance it improved) and the indicator that moved it most, with its own movement in board
    units and chance of improvement (its interval is in the appendix's table)."""
    d = _direction(tables, code)
    if d is None:
        return f"**Direction of travel:** {NOT_IN_PANEL}."
    tot, r, top = d["total"], d["row"], d["top"]
    _, aunit = units(top)
    f = _fmt(top)
    lead = f", {tot['from']} to {tot['to']}" if tot is not None else ""
    when = "" if lead == f", {r['from']} to {r['to']}" else f" from {r['from']} to {r['to']}"
    parts = [_composite_clause(tables, tot)] if tot is not None else []
    what = "moved most" if parts else "moved most clearly"
    parts.append(f"{md(registry.get(top).label)} {what} ({f(r['median'])} {aunit}{when}, chance it improved "
                 f"{pct(r.p_improved)})")
    return f"**Direction of travel**{lead}: {'; '.join(parts)}."


def direction_short(tables: dict, code: str) -> str:
    """The direction of travel in the one-page handout's space: the composite's movement and, by name only, the
    indicator that moved it most (the slide has the full sentence, the appendix every number)."""
    d = _direction(tables, code)
    if d is None or d["total"] is None:
        return direction_sentence(tables, code)
    tot = d["total"]
    return (f"**Direction of travel**, {tot['from']} to {tot['to']}: trend composite {signed(tot['median'], 2)} SD "
            f"(95% interval {interval(tot.lo95, tot.hi95, f=lambda x: signed(x, 2))}; chance improved "
            f"{pct(tot.p_improved)}), most through {md(registry.get(d['top']).short)}.")


NOT_IN_PANEL = "not shown, because this trust is not in the multi-year panel the trend fit was made from"


def movement_table(names) -> str:
    """The movements page's table: the trend composite, then one row per indicator of the run with movement; every
    cell a meta shortcode (svi.moves...), filled like every other value of the document."""
    cell = lambda key, c: f"{{{{< meta svi.moves.{key}.{c} >}}}}"
    head = ("| Measure and years | Change | 95% interval | Chance improved | Latest year | 95% interval | Chance "
            "improved |\n"
            "|:-----------------------------|--------:|-----------------:|----------:|--------:|-----------------:|"
            "----------:|\n")

    def row(key):
        return (f"| {cell(key, 'label')}, {cell(key, 'years')} | {cell(key, 'window')} | {cell(key, 'window_i95')} | "
                f"{cell(key, 'window_p')} | {cell(key, 'latest')} | {cell(key, 'latest_i95')} | "
                f"{cell(key, 'latest_p')} |\n")
    return head + row("value") + "".join(row(f"ind.{n}") for n in names)


def movements_page(trend) -> str:
    """What stands in for the appendix's movements marker: the page (figure and table, shown when the trust is in
    the trend fit) when the results hold a trend fit that passed its gate, else the one sentence saying why not."""
    if trend is None or not trend.ok:
        return "{{< meta svi.moves.absent >}}\n"
    names = moving_indicators(trend.tables["movements"])
    return MOVEMENTS_PAGE.format(table=movement_table(names))


MOVEMENTS_PAGE = """```{{=typst}}
#if "{{{{< meta svi.moves.show >}}}}" == "yes" [
#pagebreak()
```

## 4. Movements over the years

From the multi-year model: each year's Health Alpha is the trust's difference from its peer group's need-adjusted mean *of that year* (a trust that improved with everyone else did not move), shrunk toward the trust's own history and its peers so that one lucky or unlucky year is discounted before any change is computed. {{{{< meta svi.moves.sentence >}}}}

![Movements: for each indicator, the top track is the peer group's mean (blue, 95% band) and England's (grey, dashed), in the indicator's own units; the bottom track is this trust against its peers' path (red line: median; bands: 80% and 95% intervals; 0 = on its peers' path; an open circle is a year without the trust's data). Years are financial years; a break in a line is a year no trust has data for.](figures/movements.svg){{width=100%}}

```{{=typst}}
#[
#set text(size: 9pt)
```

{table}
```{{=typst}}
]
```

Change: the later year's Health Alpha minus the earlier's in every posterior draw (points against expected; per cent for SHMI); chance improved: that it moved in the better direction. The trend composite (SD units) has no cost and is not the value index of page 1.

```{{=typst}}
] else [
```

{{{{< meta svi.moves.absent >}}}}

```{{=typst}}
]
```
"""


# ================================================================================================ the paper

def paper_trend(trend) -> str:
    """The generated part of the paper's trend section: the model's estimated dynamics, national trends, how many
    trusts moved, and the backtest; or the sentences saying which of them these results lack."""
    out = []
    if trend is None or not trend.ok:
        reason = trend.reason if trend is not None else "no multi-year (trend) fit is in these results"
        out.append(f"*No trend results are shown: {md(reason)}.*\n")
    else:
        t = trend.tables
        g = trend.gate
        out.append(f"The multi-year fit passed its convergence gate (max R-hat {num(g.get('max_rhat'), 3)}, min bulk "
                   f"ESS {count(g.get('min_ess_bulk'))}, divergences {count(g.get('divergences'))}; model "
                   f"{md(g.get('model_id') or 'not recorded')}).\n")
        out.append(dynamics_text(t.get("hyperparameters")))
        out.append(national_trends_table(t["trends"]))
        out.append(moved_table(t["movements"]))
    out.append(backtest_text(trend.backtest if trend is not None else None))
    return "\n".join(out)


def dynamics_text(hp: pd.DataFrame | None) -> str:
    if hp is None or hp.empty:
        return ("*This trend fit does not record its hyperparameters (written by an older `svi trend fit`); refit "
                "to report the estimated persistence.*\n")
    rows, gains = [], []
    for name in [n for n in registry.INDICATORS if n in set(hp.indicator)]:
        h = hp[hp.indicator == name].set_index("parameter")
        cell = lambda p, d=2: (f"{num(h.loc[p, 'median'], d)} ({num(h.loc[p, 'lo95'], d)} to "
                               f"{num(h.loc[p, 'hi95'], d)})") if p in h.index else "one year: not estimated"
        rows.append([md(registry.get(name).label), cell("rho"), cell("sigma"), cell("tau"), cell("gain")])
        if "gain" in h.index and "rho" in h.index:
            gains.append((name, h.loc["gain", "median"], h.loc["rho", "median"]))
    text = ("Estimated dynamics per indicator (posterior median and 95% interval): persistence $\\rho$, the spread "
            "of the trust effects $\\sigma$ and the year-level noise $\\tau$ (both on the model's scale), and the "
            "weight a new year's observation gets in a large trust's state once the filter has settled (the "
            "steady-state Kalman gain; a small trust's is lower, its sampling noise adds to $\\tau^2$).\n\n")
    text += md_table(["Indicator", "Persistence rho", "Trust SD sigma", "Year noise tau", "Weight of a new year"],
                     rows, [24, 19, 19, 19, 19], "lrrrr")
    if gains:
        lo = min(gains, key=lambda x: x[1])
        hi = max(gains, key=lambda x: x[1])
        text += (f"\nSo a one-year surprise moves a large trust's estimated state by between "
                 f"{num(100 * lo[1], 0)}% ({md(registry.get(lo[0]).short)}) and {num(100 * hi[1], 0)}% "
                 f"({md(registry.get(hi[0]).short)}) of its size; the rest is read as year-level noise. Of what is "
                 f"kept, the share expected to persist into the next year is the persistence "
                 f"({num(min(g[2] for g in gains), 2)} to {num(max(g[2] for g in gains), 2)} here).\n")
    return text


def national_trends_table(tn: pd.DataFrame) -> str:
    nat = tn[tn.scope == "national"]
    rows = []
    for name in [n for n in registry.INDICATORS if n in set(nat.indicator)]:
        lunit, _ = units(name)
        d = 3 if lunit == "ratio" else 1
        f = lambda x: num(x, d)
        for r in nat[nat.indicator == name].sort_values("period").itertuples():
            ch = getattr(r, "change_median", float("nan"))
            rows.append([md(registry.get(name).label), md(r.period),
                         f"{f(r.level_median)}{'' if lunit == 'ratio' else '%'}",
                         interval(r.level_lo95, r.level_hi95, f=f),
                         signed(ch, d) if known(ch) else "",  # the first year with data: nothing to change from
                         interval(r.change_lo95, r.change_hi95, f=lambda x: signed(x, d)) if known(ch) else "",
                         pct(r.p_improved) if known(ch) else ""])
    if not rows:
        return "*The trend fit holds no national trends.*\n"
    return ("National trends: England's mean level by financial year (the peer groups' mean paths at average need, "
            "weighted by their trusts), with the change from the previous year with data.\n\n"
            + md_table(["Indicator", "Year", "England", "95% interval", "Change", "95% interval", "Chance improved"],
                       rows, [24, 10, 11, 17, 10, 17, 11], "llrrrrr"))


def moved_table(mv: pd.DataFrame) -> str:
    w = mv[mv.span == "window"]
    rows = []
    for name in moving_indicators(mv):
        s = w[w.indicator == name]
        _, aunit = units(name)
        rows.append([md(registry.get(name).label), md(f"{s['from'].iloc[0]} to {s['to'].iloc[0]}"), count(len(s)),
                     count((s.p_improved > 0.975).sum()), count((s.p_improved < 0.025).sum()),
                     f"{num(s['median'].abs().median(), 1)} {aunit}"])
    if not rows:
        return "*No indicator has two years of data, so the trend fit holds no movements.*\n"
    return ("\nHow many trusts moved: trusts whose movement over the window is credibly in the better direction "
            "(chance improved above 97.5%) or the worse (below 2.5%), and the median size of a trust's movement.\n\n"
            + md_table(["Indicator", "Window", "Trusts", "Improved", "Worsened", "Median size of movement"],
                       rows, [23, 21, 9, 13, 13, 21], "llrrrr"))


def backtest_text(bt: dict | None) -> str:
    if bt is None:
        return ("\n**Backtest.** No backtest is in these results: `svi validate --backtest` fits the years up to "
                "T−1, predicts each trust's year T and scores the forecasts; run it to report the forecasts' "
                "coverage and their CRPS against the naive forecast.\n")
    o = bt.get("overall") or {}
    s = bt.get("summary")
    gates = bt.get("gates")
    cov = o.get("target_coverage90") or [float("nan"), float("nan")]
    text = "\n**Backtest.** For every target year T the data allow, the model is fitted to the years before T and " \
           "each trust's year T is predicted; the forecasts are scored against what was observed.\n\n"
    if known(o.get("coverage90")):
        text += (f"Over all {count(o.get('n'))} trust-years scored, the 90% predictive intervals held the observed "
                 f"value {pct(o['coverage90'])} of the time (target {pct(cov[0])} to {pct(cov[1])}); the "
                 f"continuous ranked probability score (CRPS) was {num(o.get('crps_ratio'), 2)} times that of the "
                 f"naive \u201csame as last year\u201d forecast (target at most {num(o.get('target_crps_ratio'), 2)}); "
                 f"the uniformity of the predictive p-values has Kolmogorov-Smirnov p = {num(o.get('pit_ks_p'), 3)}.")
        if known(o.get("rel_coverage90")) and known(o.get("rel_pit_ks_p")):
            # the forecasts of one year share its national change, so their p-values are not independent
            # (analysis/trend/backtest.py relative_split)
            text += (" Every trust's forecast for a year carries the same national change, so that p-value is not a "
                     "valid test; judged on each trust's position relative to the year's cross-trust centre, the 90% "
                     f"intervals held {pct(o['rel_coverage90'])} and the uniformity tests of the target years, "
                     f"combined, have p = {num(o['rel_pit_ks_p'], 3)}")
            if known(o.get("national_pit_ks_p")):
                text += (f"; the {count(o.get('n_national'))} forecasts of the national centre, one per target year "
                         f"and indicator, have p = {num(o['national_pit_ks_p'], 3)}")
            text += "."
    else:
        text += "The backtest scored no trust-year (no target year had enough earlier years)."
    if gates is not None and len(gates):
        n_pass = int(gates.passed.astype(bool).sum())
        text += f" {n_pass} of {len(gates)} backtest fits passed the convergence gate."
    text += "\n"
    if s is not None and len(s):
        rows = []
        for r in s.itertuples():
            name = registry.get(r.indicator).label if r.indicator in registry.INDICATORS else r.indicator
            row = [md(name), md(r.target), count(r.n_trusts), pct(r.coverage90), num(r.crps_ratio, 2),
                   num(getattr(r, "crps_ratio_spread", float("nan")), 2), num(r.pit_ks_p, 3)]
            if "rel_pit_ks_p" in s:
                row += [pct(r.rel_coverage90), num(r.rel_pit_ks_p, 3), num(r.national_pit, 2)]
            rows.append(row)
        head = ["Indicator", "Target year", "Trusts", "90% coverage", "CRPS / naive", "CRPS / naive with spread",
                "PIT KS p"]
        widths, align = [24, 12, 9, 12, 12, 17, 14], "llrrrrr"
        if "rel_pit_ks_p" in s:
            head += ["Relative 90% coverage", "Relative PIT KS p", "National PIT"]
            widths, align = widths + [12, 12, 10], align + "rrr"
        text += "\n" + md_table(head, rows, widths, align)
    return text

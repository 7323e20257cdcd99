"""Result tables -> typed facts, each number with its interval and the table and row it came from.

Every number an answer shows is the formatted text of a :class:`Fact` (one formatting function, :func:`fmt`), so
that a test can parse the numbers out of an answer and find each among the answer's facts.  A fact read straight
from a table cell says which table, row and columns; a fact computed from cells (a peer median, a cost residual
shown as a percentage, the published cost index from the panel) also says how (``derivation``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.ask.source import RunTables, display_name
from models import indicators as registry

MINUS = "-"  # plain hyphen-minus in answers (terminals, JSON, language models)

#: number-bearing phrases that are labels, not results: removed before an answer's numbers are checked
LABEL_PHRASES = ("95% interval", "80% interval", "18 weeks", "4 hours", "per 1,000 spells", "£1,000",
                 "100 = national average", "1 = best", "above 0", "below 0", "below 1", "above 1", "IMD 2019",
                 "(%)", "25th percentile", "aged 75 and over", "28-day", "62-day", "28 days", "62 days")


# ------------------------------------------------------------------------------------------------ formatting

def _ok(x) -> bool:
    return x is not None and not pd.isna(x) and not (isinstance(x, float) and math.isinf(x))


def fmt(x, kind: str) -> str:
    """The one way a number is written in an answer.

    kinds: ``sd`` signed 2 dp (SD units); ``ratio`` 2 dp; ``pp`` signed 1 dp (percentage points); ``signed2``;
    ``prob`` a probability as a percentage (never 0% or 100%); ``pct`` signed 1 dp percentage; ``money`` GBP million
    (1 dp below 100, else none); ``rank`` and ``count`` whole numbers; ``index`` whole number; ``num1`` 1 dp.
    """
    if not _ok(x):
        return "n/a"
    x = float(x)
    if kind in ("sd", "signed2"):
        s = f"{x:+.2f}"
    elif kind == "pp":
        s = f"{x:+.1f}"
    elif kind == "pct":
        s = f"{x:+.1f}%"
    elif kind == "ratio":
        s = f"{x:.2f}"
    elif kind == "prob":
        return "<1%" if x < 0.005 else ">99%" if x > 0.995 else f"{100 * x:.0f}%"
    elif kind == "money":
        s = f"£{x:,.{1 if abs(x) < 99.95 else 0}f}m".replace("£-", "-£")
    elif kind in ("rank", "count", "index"):
        s = f"{x:,.0f}"
    elif kind == "num1":
        s = f"{x:,.1f}"
    else:
        raise ValueError(f"unknown number kind {kind!r}")
    if s[0] in "+-" and re.fullmatch(r"[+-]£?0(\.0+)?%?m?", s):  # rounds to zero: no sign
        s = s[1:]
    return s


@dataclass(frozen=True)
class Fact:
    """One number of the run (its median or value, with its 95% interval when it has one) and where it came from."""

    key: str
    label: str
    kind: str
    value: float
    lo: float | None = None
    hi: float | None = None
    unit: str = ""
    table: str = ""  # "tables/value_index" or "panel/panel"
    row: tuple = ()  # (("org_code", "RFF"), ("measure", "value_index"))
    columns: tuple = ("median", "lo95", "hi95")
    derivation: str = ""
    literal: str = ""  # a fact that is a label (the analysis period), shown as written

    @property
    def ok(self) -> bool:
        return bool(self.literal) or _ok(self.value)

    @property
    def v(self) -> str:
        return self.literal or fmt(self.value, self.kind)

    @property
    def interval(self) -> str:
        if not (_ok(self.lo) and _ok(self.hi)):
            return ""
        return f"{fmt(self.lo, self.kind)} to {fmt(self.hi, self.kind)}"

    def text(self) -> str:
        """``v (95% interval lo to hi)``, or ``v`` for a number without an interval."""
        return f"{self.v} (95% interval {self.interval})" if self.interval else self.v

    def strings(self) -> list[str]:
        return [s for s in (self.v, fmt(self.lo, self.kind) if _ok(self.lo) else None,
                            fmt(self.hi, self.kind) if _ok(self.hi) else None) if s and s != "n/a"]

    def as_dict(self) -> dict:
        d = {"key": self.key, "label": self.label, "value": self.v, "unit": self.unit,
             "source": {"table": self.table, "row": dict(self.row), "columns": list(self.columns)}}
        if self.interval:
            d["interval95"] = [fmt(self.lo, self.kind), fmt(self.hi, self.kind)]
        if self.derivation:
            d["source"]["derivation"] = self.derivation
        return d


# ------------------------------------------------------------------------------------------------ grounding

_NUM = re.compile(r"(?<![A-Za-z0-9.])[-+\u2212]?£?\d[\d,]*(?:\.\d+)?(?:/\d+)?%?m?(?![A-Za-z0-9])")


def _norm(s: str) -> str:
    s = s.replace("\u2212", "-").replace("£", "").replace(",", "").lstrip("<>")
    s = s.rstrip("m").rstrip("%").lstrip("+")
    return s[1:] if s.startswith("-") and re.fullmatch(r"-0(\.0+)?", s) else s


def numbers_in(text: str) -> list[str]:
    """The numbers written in ``text`` (label phrases such as "95% interval" left out)."""
    for p in LABEL_PHRASES:
        text = text.replace(p, " ")
    text = re.sub(r"`[^`]*`", " ", text)  # code spans: commands, ODS codes
    return [m.group(0) for m in _NUM.finditer(text)]


def ungrounded(text: str, facts, quoted: str = "") -> list[str]:
    """Numbers in ``text`` that are not the formatted value or interval end of any fact (nor in ``quoted``,
    passages quoted from the paper)."""
    allowed = {_norm(s) for f in facts for s in f.strings()}
    allowed |= {_norm(n) for n in numbers_in(quoted)}
    return [n for n in numbers_in(text) if _norm(n) not in allowed]


# ------------------------------------------------------------------------------------------------ the facts

SETTINGS = {"total": "all settings", "apc": "admitted patient care", "op": "outpatients", "ae": "A&E"}
def alpha_spec(indicator: str) -> tuple[str, str, str]:
    """(health_alpha measure, label, kind) of an indicator, from its record (models/indicators.py)."""
    r = registry.get(indicator)
    ratio = r.alpha == "ratio"
    label = r.ask_label or (f"{r.label}, {'ratio to expected' if ratio else 'percentage points against expected'} "
                            f"({r.better_phrase})")
    return r.alpha_measure, label, "ratio" if ratio else "pp"


def indicator_name(indicator: str) -> str:
    """The indicator's plain name in answers: "waiting times (RTT, 18 weeks)"."""
    r = registry.get(indicator)
    return r.plain_name or r.label
#: trapped value rows (analysis.summaries.trapped): the care settings' sum is the headline, the total cost the net
TRAPPED_SETTINGS = {**SETTINGS, "gross": "the sum of the care settings",
                    "total": "all costs, net of settings below the benchmark"}


def short_name(published: str) -> str:
    """``THE ROTHERHAM NHS FOUNDATION TRUST`` -> ``Rotherham``: the report's display form without "The" and the
    NHS (Foundation) Trust ending."""
    n = re.sub(r"\s+NHS( Foundation)? Trust$", "", display_name(published)).strip(" ,")
    return re.sub(r"^The\s+", "", n) or n


def _row_key(**kw) -> tuple:
    return tuple(kw.items())


@dataclass
class FactBook:
    """Facts of a run, looked up by trust (indexes built once; each look-up is a dictionary access)."""

    run: RunTables
    _idx: dict = field(default_factory=dict)

    def __post_init__(self):
        t = self.run.tables
        vi = t["value_index"]
        self.info = vi[vi.measure == "value_index"].set_index("org_code")[
            ["org_name", "region", "size_class", "peer_group"]]
        self.value = {m: g.set_index("org_code") for m, g in vi.groupby("measure")}
        self.alpha = {m: g.set_index("org_code") for m, g in t["health_alpha"].groupby("measure")}
        self.ranks = {s: g.set_index("org_code") for s, g in t["ranks"].groupby("scope")}
        self.trapped = {s: g.set_index("org_code") for s, g in t["trapped_value"].groupby("setting")}
        ad = t.get("avoidable_deaths")
        self.deaths = ad.set_index("org_code") if ad is not None else None
        self.effects = {m: g.set_index("org_code") for m, g in t["trust_effects"].groupby("indicator")}
        self.panel = self.run.panel.drop_duplicates("org_code").set_index("org_code")
        self.groups = {g: list(ix) for g, ix in self.info.groupby("peer_group").groups.items()}

    # ---------------------------------------------------------------- who
    def codes(self) -> list[str]:
        return list(self.info.index)

    def name(self, code: str) -> str:
        return short_name(self.info.org_name[code])

    def peers(self, code: str) -> list[str]:
        return [c for c in self.groups[self.info.peer_group[code]] if c != code]

    def period(self) -> Fact:
        return Fact("period", "analysis period of the panel", "label", float("nan"), table="panel/panel",
                    columns=("period",), literal=self.run.period)

    # ---------------------------------------------------------------- generic readers
    def _cell(self, frame, code, key, label, kind, table, unit_default="", point="median", **row) -> Fact | None:
        if frame is None or code not in frame.index:
            return None
        r = frame.loc[code]
        r = r.iloc[0] if isinstance(r, pd.DataFrame) else r
        point = point if point in r.index else "median"
        if not _ok(r[point]):
            return None
        return Fact(key, label, kind, float(r[point]), float(r.lo95), float(r.hi95),
                    str(r.get("unit", unit_default)), f"tables/{table}", _row_key(org_code=code, **row),
                    columns=(point, "lo95", "hi95"))

    def _peer_median(self, frame, code, key, label, kind, table, transform=None, tdesc="", **row) -> Fact | None:
        if frame is None:
            return None
        peers = self.peers(code)
        vals = frame["median"].reindex(peers).dropna()
        if vals.empty:
            return None
        v = float(np.median(vals))
        return Fact(key, label, kind, transform(v) if transform else v, table=f"tables/{table}",
                    row=_row_key(org_code=f"{len(vals)} peers of {code}", **row), columns=("median",),
                    derivation=f"median over the peer group ({self.info.peer_group[code]}, this trust left out) of "
                               f"the column median" + (f", then {tdesc}" if tdesc else ""))

    # ---------------------------------------------------------------- the value position
    def composite(self, code: str, measure: str) -> Fact | None:
        labels = {"value_index": "value index", "quality_composite": "quality composite",
                  "cost_composite": "cost composite (above 0 = cheaper than expected)"}
        return self._cell(self.value.get(measure), code, f"{code}.{measure}", labels[measure], "sd", "value_index",
                          measure=measure)

    def p_positive(self, code: str, measure: str) -> Fact | None:
        t = self.value.get(measure)
        if t is None or code not in t.index or not _ok(t.loc[code, "p_positive"]):
            return None
        return Fact(f"{code}.{measure}.p_positive", f"chance the {measure.replace('_', ' ')} is above 0", "prob",
                    float(t.loc[code, "p_positive"]), table="tables/value_index",
                    row=_row_key(org_code=code, measure=measure), columns=("p_positive",))

    def peer_median_composite(self, code: str, measure: str) -> Fact | None:
        return self._peer_median(self.value.get(measure), code, f"{code}.{measure}.peer_median",
                                 f"peer median of the {measure.replace('_', ' ')}", "sd", "value_index",
                                 measure=measure)

    # ---------------------------------------------------------------- cost
    def cost(self, code: str, setting: str) -> Fact | None:
        """Need-adjusted cost residual shown as the percentage above (+) or below (-) the need-adjusted expected cost
        of a trust in this peer group: 100 (exp(r) - 1), a monotone map, so median and interval map exactly."""
        f = self._cell(self.value.get(f"cost_residual_{setting}"), code, f"{code}.cost.{setting}",
                       f"{SETTINGS[setting]} cost against need-adjusted expectation", "pct", "value_index",
                       measure=f"cost_residual_{setting}")
        if f is None:
            return None
        tr = lambda x: 100 * (math.exp(x) - 1)
        return Fact(f.key, f.label, "pct", tr(f.value), tr(f.lo), tr(f.hi), "% above need-adjusted expected cost",
                    f.table, f.row, derivation="100 x (exp(x) - 1) of log(actual / need-adjusted expected cost)")

    def cost_peer_median(self, code: str, setting: str) -> Fact | None:
        return self._peer_median(self.value.get(f"cost_residual_{setting}"), code, f"{code}.cost.{setting}.peer",
                                 f"peer median, {SETTINGS[setting]} cost against need-adjusted expectation", "pct",
                                 "value_index", transform=lambda x: 100 * (math.exp(x) - 1),
                                 tdesc="100 x (exp(x) - 1)", measure=f"cost_residual_{setting}")

    def ncc_index(self, code: str, setting: str) -> Fact | None:
        """The published National Cost Collection index (actual / national-price expected cost x 100, MFF-adjusted,
        not need-adjusted), from the panel."""
        a, e = f"ncc_actual_cost_{setting}_gbp_m", f"ncc_expected_cost_{setting}_gbp_m"
        if a not in self.panel or code not in self.panel.index:
            return None
        av, ev = self.panel.at[code, a], self.panel.at[code, e]
        if not (_ok(av) and _ok(ev) and ev > 0):
            return None
        return Fact(f"{code}.ncc.{setting}", f"National Cost Collection cost index, {SETTINGS[setting]}", "index",
                    100 * float(av) / float(ev), unit="actual / expected cost x 100 (100 = national average)",
                    table="panel/panel", row=_row_key(org_code=code), columns=(a, e),
                    derivation=f"100 x {a} / {e}")

    def ncc_peer_median(self, code: str, setting: str) -> Fact | None:
        a, e = f"ncc_actual_cost_{setting}_gbp_m", f"ncc_expected_cost_{setting}_gbp_m"
        if a not in self.panel:
            return None
        peers = [p for p in self.peers(code) if p in self.panel.index]
        r = (100 * pd.to_numeric(self.panel.loc[peers, a], errors="coerce")
             / pd.to_numeric(self.panel.loc[peers, e], errors="coerce")).dropna()
        if r.empty:
            return None
        return Fact(f"{code}.ncc.{setting}.peer", f"peer median National Cost Collection index, {SETTINGS[setting]}",
                    "index", float(np.median(r)), table="panel/panel",
                    row=_row_key(org_code=f"{len(r)} peers of {code}"),
                    columns=(a, e), derivation=f"median over the peer group of 100 x {a} / {e}")

    def actual_cost(self, code: str, setting: str) -> Fact | None:
        c = f"ncc_actual_cost_{setting}_gbp_m"
        if c not in self.panel or code not in self.panel.index or not _ok(self.panel.at[code, c]):
            return None
        return Fact(f"{code}.actual.{setting}", f"actual cost, {SETTINGS[setting]}", "money",
                    float(self.panel.at[code, c]), unit="GBP million", table="panel/panel",
                    row=_row_key(org_code=code), columns=(c,))

    # ---------------------------------------------------------------- quality (Health Alpha)
    def alpha_fact(self, code: str, indicator: str) -> Fact | None:
        measure, label, kind = alpha_spec(indicator)
        return self._cell(self.alpha.get(measure), code, f"{code}.alpha.{indicator}", label, kind, "health_alpha",
                          measure=measure)

    def alpha_peer_median(self, code: str, indicator: str) -> Fact | None:
        measure, label, kind = alpha_spec(indicator)
        return self._peer_median(self.alpha.get(measure), code, f"{code}.alpha.{indicator}.peer",
                                 f"peer median, {label}", kind, "health_alpha", measure=measure)

    def excess_deaths(self, code: str) -> Fact | None:
        return self._cell(self.alpha.get("excess_deaths_per_1000_spells"), code, f"{code}.excess",
                          "deaths above need-adjusted expectation per 1,000 spells", "signed2", "health_alpha",
                          measure="excess_deaths_per_1000_spells")

    def standardised_effect(self, code: str, indicator: str) -> Fact | None:
        """The trust's effect (median, log scale, higher = better) over the spread of all trusts' medians: how far
        this indicator moves the quality composite, in the composite's own units (approximately)."""
        t = self.effects.get(indicator)
        if t is None or code not in t.index or not _ok(t.at[code, "median"]):
            return None
        spread = float(t["median"].std())
        sign = registry.get(indicator).sign
        if not spread > 0:
            return None
        return Fact(f"{code}.z.{indicator}", f"{indicator_name(indicator)} effect in SD units", "sd",
                    sign * float(t.at[code, "median"]) / spread, table="tables/trust_effects",
                    row=_row_key(org_code=code, indicator=indicator), columns=("median",),
                    derivation="sign x median / standard deviation of all trusts' medians (SHMI sign reversed)")

    # ---------------------------------------------------------------- ranks
    def rank(self, code: str, scope: str) -> dict[str, Fact] | None:
        t = self.ranks.get(scope)
        if t is None or code not in t.index or not _ok(t.at[code, "rank_median"]):
            return None
        r = t.loc[code]
        row = _row_key(org_code=code, scope=scope)
        return {
            "rank": Fact(f"{code}.rank.{scope}", f"{scope} rank (1 = best value)", "rank", float(r.rank_median),
                         float(r.rank_lo95), float(r.rank_hi95), table="tables/ranks", row=row,
                         columns=("rank_median", "rank_lo95", "rank_hi95")),
            "n": Fact(f"{code}.rank.{scope}.n", f"trusts ranked ({r.group})", "count", float(r.n_ranked),
                      table="tables/ranks", row=row, columns=("n_ranked",)),
            "top": Fact(f"{code}.rank.{scope}.top", "chance of being in the top quarter", "prob",
                        float(r.p_top_quartile), table="tables/ranks", row=row, columns=("p_top_quartile",)),
            "bottom": Fact(f"{code}.rank.{scope}.bottom", "chance of being in the bottom quarter", "prob",
                           float(r.p_bottom_quartile), table="tables/ranks", row=row, columns=("p_bottom_quartile",)),
            "group": str(r.group),
        }

    # ---------------------------------------------------------------- trapped value, deaths
    def trapped_fact(self, code: str, setting: str) -> Fact | None:
        # posterior means, as the documents show: the settings' means add up to the headline's
        return self._cell(self.trapped.get(setting), code, f"{code}.trapped.{setting}",
                          f"trapped value, {TRAPPED_SETTINGS[setting]}", "money", "trapped_value", point="mean",
                          measure=f"trapped_value_{setting}")

    def avoidable(self, code: str) -> Fact | None:
        return self._cell(self.deaths, code, f"{code}.avoidable", "avoidable deaths a year above the peer benchmark",
                          "count", "avoidable_deaths", point="mean", measure="avoidable_deaths")

    def shmi_published(self, code: str) -> dict | None:
        f = self.run.funnel
        if f is None or code not in f.index or not bool(f.at[code, "in_fit"]):
            return None
        r = f.loc[code]
        src = "tables/shmi_funnel" if "shmi_funnel" in self.run.tables else "panel/panel"
        der = "" if src == "tables/shmi_funnel" else "NHS Digital's banding method (analysis.shmi_funnel) on the panel"
        row = _row_key(org_code=code)
        return {"ratio": Fact(f"{code}.shmi", "published SHMI", "ratio", float(r.ratio), table=src, row=row,
                              columns=("shmi_value",), derivation=der),
                "observed": Fact(f"{code}.shmi.o", "observed deaths", "count", float(r.observed), table=src, row=row,
                                 columns=("shmi_observed_deaths",)),
                "expected": Fact(f"{code}.shmi.e", "expected deaths", "count", float(r.expected), table=src, row=row,
                                 columns=("shmi_expected_deaths",)),
                "band": str(r.band_label)}

    # ---------------------------------------------------------------- need context
    def need(self, code: str, column: str, label: str, scale: float = 1.0, kind: str = "num1") -> tuple:
        if column not in self.panel or code not in self.panel.index:
            return None, None
        v = pd.to_numeric(self.panel[column], errors="coerce") * scale
        peers = [p for p in self.peers(code) if p in v.index]
        pv = v.reindex(peers).dropna()
        own = Fact(f"{code}.need.{column}", label, kind, float(v[code]), table="panel/panel",
                   row=_row_key(org_code=code), columns=(column,),
                   derivation=f"x {scale:g}" if scale != 1 else "") if _ok(v[code]) else None
        med = Fact(f"{code}.need.{column}.peer", f"peer median, {label}", kind, float(np.median(pv)),
                   table="panel/panel", row=_row_key(org_code=f"{len(pv)} peers of {code}"), columns=(column,),
                   derivation="median over the peer group") if len(pv) else None
        return own, med

"""Template answers: each intent's handler turns the facts of a trust into plain English.

Every number goes through a :class:`~analysis.ask.facts.Fact` (``say.f(fact)``), which records it among the
answer's facts; handlers never format a number themselves.  Method answers quote the paper's own text
(:mod:`analysis.ask.method`).  Handlers are looked up in :data:`HANDLERS`, so an intent can be replaced without
touching the others (the trend answer takes a multi-year table when a run has one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from analysis.ask.facts import SETTINGS, TRAPPED_SETTINGS, Fact, FactBook, indicator_name, ungrounded
from analysis.ask.parse import Parsed
from analysis.cost_gap import fixed_gap
from models import indicators as registry

APPENDIX = "board appendix (reports/appendices/{code}_appendix.pdf)"
PAPER = "methodology paper (reports/methodology.pdf)"


@dataclass
class Answer:
    """A structured answer: the text, every number with its interval and source, caveats, and what to read next."""

    question: str
    intent: str
    entities: dict
    text: str
    kind: str = "answer"  # answer | clarify | cannot | refusal
    facts: list[Fact] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)
    read_next: list[str] = field(default_factory=list)
    quoted: str = ""  # passages quoted from the paper (their numbers are the paper's)
    candidates: list[str] = field(default_factory=list)  # trust codes to choose from when kind == "clarify"
    note: str = ""  # e.g. why a language model's phrasing was not used
    phrased_by: str = "template"

    def ungrounded(self) -> list[str]:
        """Numbers in the text that are not among the answer's facts (empty for every template answer)."""
        return ungrounded(self.text, self.facts, self.quoted)

    def as_dict(self) -> dict:
        return {"question": self.question, "intent": self.intent, "entities": self.entities, "kind": self.kind,
                "text": self.text, "numbers": [f.as_dict() for f in self.facts], "caveats": self.caveats,
                "read_next": self.read_next, "candidates": self.candidates, "note": self.note,
                "phrased_by": self.phrased_by}

    def render(self) -> str:
        out = [self.text]
        if self.note:
            out.append(f"({self.note})")
        if self.caveats:
            out.append("Caveats: " + " ".join(self.caveats))
        if self.read_next:
            out.append("Read next: " + "; ".join(self.read_next) + ".")
        return "\n\n".join(out)


class Say:
    """Collects an answer's sentences and the facts its numbers come from."""

    def __init__(self):
        self.parts: list[str] = []
        self.facts: list[Fact] = []
        self.caveats: list[str] = []
        self.read: list[str] = []

    def f(self, fact: Fact | None, interval: bool = True) -> str:
        if fact is None or not fact.ok:
            return "n/a"
        self.facts.append(fact)
        return fact.text() if interval else fact.v

    def __call__(self, *sentences: str) -> None:
        self.parts.extend(s for s in sentences if s)

    def text(self) -> str:
        return "\n".join(self.parts)


# ----------------------------------------------------------------------------------------------- helpers

def _verdict(top: Fact | None, bottom: Fact | None) -> str:
    """The report's wording for the national quarter (thresholds as in the board appendix)."""
    if top is None:
        return "is not ranked (no value index)"
    if top.value >= 0.9:
        return "is very likely among the best-value quarter of trusts in England"
    if top.value >= 0.5:
        return "is more likely than not among the best-value quarter of trusts in England"
    if bottom is not None and bottom.value >= 0.9:
        return "is very likely among the lowest-value quarter of trusts in England"
    if bottom is not None and bottom.value >= 0.5:
        return "is more likely than not among the lowest-value quarter of trusts in England"
    return "cannot be placed with confidence in either the best or the lowest quarter nationally"


def _sign_word(f: Fact | None, above="above", below="below", mid="about at") -> str:
    if f is None or not f.ok:
        return ""
    if f.lo is not None and f.lo > 0:
        return above
    if f.hi is not None and f.hi < 0:
        return below
    return mid


def _who(book: FactBook, code: str) -> str:
    return f"{book.name(code)} ({code})"


def _read(code: str | None, appendix_section: str, paper_section: str) -> list[str]:
    out = []
    if code:
        out.append(f"{APPENDIX.format(code=code)}, {appendix_section}")
    out.append(f"{PAPER}, section '{paper_section}'")
    return out


CAVEAT_RANK = "A rank is an estimate, not a league position: read the interval, not the single number."
CAVEAT_COST = ("National Cost Collection costs depend on each trust's costing practice; the need adjustment "
               "covers catchment deprivation, age and health, not everything that makes care dearer.")
CAVEAT_TV = ("Trapped value is an estimate of scope, not a savings target: part of a gap may reflect case-mix or "
             "costing practice the data cannot see.")
CAVEAT_SHMI = ("SHMI is not adjusted for deprivation, and mortality ratios are a weak signal of avoidable deaths: "
               "treat excess deaths as a prompt for mortality review, not a count of lives.")
CAVEAT_ONE_YEAR = "The index is one cross-section with mixed reference periods (cost for the previous financial year)."
CAVEAT_WEIGHTS = "The weights of indicators and of quality against cost are a judgement set in the configuration."


# ----------------------------------------------------------------------------------------------- handlers

def value_position(book: FactBook, p: Parsed, s: Say) -> None:
    c = p.trust
    v, q, k = (book.composite(c, m) for m in ("value_index", "quality_composite", "cost_composite"))
    pv = book.p_positive(c, "value_index")
    rk = book.rank(c, "national") or {}
    s(f"{_who(book, c)}, {s.f(book.period())}: value index {s.f(v)}, in standard-deviation units against what the "
      f"model "
      f"expects for its peer group and catchment need (above 0 = better value than expected); chance it is above "
      f"0: {s.f(pv)}.",
      f"Quality composite {s.f(q)}; cost composite {s.f(k)} (above 0 = cheaper than expected).",
      f"On the national ranking it {_verdict(rk.get('top'), rk.get('bottom'))}"
      + (f" (chance of the top quarter {s.f(rk['top'])}, of the bottom quarter {s.f(rk['bottom'])})." if rk else "."))
    s.caveats += [CAVEAT_WEIGHTS]
    s.read += _read(c, "section 1 'Value position among peers'", "Value index")


def _cost_lines(book: FactBook, c: str, settings, s: Say) -> list[tuple[str, Fact, Fact | None]]:
    rows = []
    for st in settings:
        f, pm = book.cost(c, st), book.cost_peer_median(c, st)
        if f is not None:
            rows.append((st, f, pm))
    for st, f, pm in rows:
        label = SETTINGS[st] + (" (cost per case-mix-adjusted admission)" if st == "apc" else "")
        ncc, nccp = book.ncc_index(c, st), book.ncc_peer_median(c, st)
        s(f"- {label[0].upper() + label[1:]}: {s.f(f)} against the need-adjusted expected cost; peer median "
          f"{s.f(pm)}." + (f" National Cost Collection index {s.f(ncc)}, peer median {s.f(nccp)}."
                           if ncc is not None and nccp is not None else ""))
    if any(book.ncc_index(c, st) is not None for st, _, _ in rows):
        s("(The National Cost Collection index is actual over expected cost at national prices, 100 = national "
          "average, before any need adjustment.)")
    return rows


def cost(book: FactBook, p: Parsed, s: Say) -> None:
    c = p.trust
    first = p.setting or "apc"
    order = [first] + [x for x in ("apc", "op", "ae", "total") if x != first]
    s(f"{_who(book, c)}: cost against the need-adjusted expectation for a trust in its peer group "
      f"({book.info.peer_group[c]}), by care setting, as the percentage above (+) or below (-) that expectation:")
    rows = _cost_lines(book, c, order, s)
    gaps = [(st, f.value - (pm.value if pm is not None else 0.0)) for st, f, pm in rows if st != "total"]
    if gaps:
        st, _ = max(gaps, key=lambda x: x[1])
        s(f"Compared with its peers, the highest spending relative to need is in {SETTINGS[st]}.")
    s.caveats += [CAVEAT_COST, "Public data give cost by care setting, not by specialty."]
    s.read += _read(c, "section 2 'Trapped value and avoidable deaths'", "Cost")


def drivers(book: FactBook, p: Parsed, s: Say) -> None:
    c = p.trust
    cfg = book.run.config.get("value", {})
    wq = float(cfg.get("quality_share", 0.5))
    w = cfg.get("quality_weights", {n: r.weight for n, r in registry.INDICATORS.items()
                                     if r.weight is not None and not r.when_present})
    v, q, k = (book.composite(c, m) for m in ("value_index", "quality_composite", "cost_composite"))
    s(f"{_who(book, c)}: value index {s.f(v)} combines the quality composite {s.f(q)} and the cost composite "
      f"{s.f(k)} (above 0 = better than expected).")
    if q is not None and k is not None:
        bigger = "quality" if abs(wq * q.value) >= abs((1 - wq) * k.value) else "cost"
        s(f"With the configured weights, {bigger} moves the position more.")
    zs = []
    for ind in (i for i in w if i in registry.INDICATORS):  # the run's indicators
        z = book.standardised_effect(c, ind)
        if z is not None:
            zs.append((abs(w.get(ind, 0) * z.value), ind, z))
    zs.sort(reverse=True)
    if zs:
        s("Within quality, the indicators in order of how far they move the composite (each trust effect over the "
          "spread of all trusts' effects, higher = better; weighted):")
        for _, ind, z in zs:
            a, pm = book.alpha_fact(c, ind), book.alpha_peer_median(c, ind)
            unit = "ratio to expected" if registry.get(ind).alpha == "ratio" else "percentage points against expected"
            s(f"- {indicator_name(ind)}: {s.f(z, interval=False)} SD; Health Alpha {s.f(a)} {unit}, peer median "
              f"{s.f(pm)}.")
        up = [t for t in zs if t[2].value > 0]
        down = [t for t in zs if t[2].value < 0]
        if down:
            s(f"Pulling the position down most: {indicator_name(down[0][1])}.")
        if up:
            s(f"Holding it up most: {indicator_name(up[0][1])}.")
    s.caveats += ["The order of indicators is an approximate decomposition from posterior medians; the composite "
                  "itself is computed in every posterior draw.", CAVEAT_WEIGHTS]
    s.read += _read(c, "section 1 'The indicators that drive it (Health Alpha)'", "Quality: Health Alpha")


def trapped_value(book: FactBook, p: Parsed, s: Say) -> None:
    c = p.trust
    bench = str(book.trapped.get("total", {}).get("benchmark", ["peer_median"]).iloc[0]) \
        if "total" in book.trapped else "peer_median"
    btxt = "the peer-group median" if bench == "peer_median" else "the peer group's best quarter"
    first = p.setting or ("gross" if "gross" in book.trapped else "total")
    order = [first] + [x for x in ("gross", "apc", "op", "ae", "total") if x != first]
    s(f"{_who(book, c)}: trapped value is the money a year that would be released if its need-adjusted cost fell to "
      f"{btxt}, setting by setting (zero where it is already at or below it); the headline is the sum of the care "
      f"settings.")
    best = None
    facts = [f for f in (book.trapped_fact(c, st) for st in order) if f is not None and f.ok]
    # every draw the same (a peer group without need adjustment, costs taken as reported): no interval to give
    # (a positive gap identical in every draw; all draws at zero is a different, ordinary case)
    fixed = fixed_gap((f.value, f.lo, f.hi) for f in facts)  # the documents' rule (analysis.cost_gap)
    for st in order:
        f, act = book.trapped_fact(c, st), book.actual_cost(c, st)
        if f is None:
            continue
        label = TRAPPED_SETTINGS[st]
        s(f"- {label[0].upper() + label[1:]}: {s.f(f, interval=not fixed)} a year" +
          (f", of an actual cost of {s.f(act)}." if act is not None else "."))
        if st not in ("total", "gross") and (best is None or f.value > best[1].value):
            best = (st, f)
    if best is not None and best[1].value > 0:
        s(f"The most is in {SETTINGS[best[0]]}.")
    elif best is not None:
        s("None of it is above the benchmark in any setting on the central estimate.")
    if fixed:
        s.caveats.append("These figures are the same in every posterior draw, so they have no interval: costs are "
                         "taken as reported and the trust's peer group has no need adjustment that the model could "
                         "be unsure of. That is not certainty: costing differences could be as large as the gap.")
    s.caveats += [CAVEAT_TV, "The headline is the sum of the care settings (means, so they add up). The net figure "
                             "lets settings below the benchmark offset those above and also covers cost outside the "
                             "three settings, so it can be larger or smaller than the headline."]
    s.read += _read(c, "section 2 'Trapped value and avoidable deaths'", "Trapped value and avoidable deaths")


def _overlap(a: Fact | None, b: Fact | None) -> bool:
    return a is not None and b is not None and not (a.lo > b.hi or b.lo > a.hi)


def compare(book: FactBook, p: Parsed, s: Say) -> None:
    c, o = p.trust, p.other or "peers"
    if o in book.info.index:
        s(f"{_who(book, c)} against {_who(book, o)}:")
        if p.indicator:
            for x in (c, o):
                a = book.alpha_fact(x, p.indicator)
                s(f"- {book.name(x)}: {indicator_name(p.indicator)}, Health Alpha {s.f(a)}" +
                  (f" (ratio to expected, {registry.get(p.indicator).better_phrase})."
                   if registry.get(p.indicator).alpha == "ratio" else " (percentage points against expected)."))
            a, b = book.alpha_fact(c, p.indicator), book.alpha_fact(o, p.indicator)
        for x in (c, o):
            v = book.composite(x, "value_index")
            rk = book.rank(x, "national") or {}
            s(f"- {book.name(x)} ({book.info.peer_group[x]} peer group): value index {s.f(v)}; national rank "
              f"{s.f(rk.get('rank'))} of {s.f(rk.get('n'), interval=False)}.")
        if not p.indicator:
            a, b = book.composite(c, "value_index"), book.composite(o, "value_index")
        what = indicator_name(p.indicator) if p.indicator else "value"
        if a is None or b is None:
            s(f"One of the two has no estimate for {what}, so they cannot be compared on it.")
        elif _overlap(a, b):
            s(f"Their 95% intervals on {what} overlap: the data cannot tell the two apart.")
        else:
            higher = registry.get(p.indicator).higher_is_better if p.indicator else True
            better = c if ((a.value > b.value) == higher) else o
            s(f"Their 95% intervals on {what} do not overlap: {book.name(better)} is better.")
        if book.info.peer_group[c] != book.info.peer_group[o]:
            s("They are in different peer groups: each is measured against its own peers' need-adjusted expectation.")
        s.read += _read(c, "section 1 'Value position among peers'", "Value index")
    elif o == "peers":
        g = book.info.peer_group[c]
        s(f"{_who(book, c)} against its {g} peer group:")
        for m, lab in (("value_index", "Value index"), ("quality_composite", "Quality composite"),
                       ("cost_composite", "Cost composite")):
            s(f"- {lab}: {s.f(book.composite(c, m))}; peer median {s.f(book.peer_median_composite(c, m))}.")
        rk = book.rank(c, "peer group")
        if rk:
            s(f"Rank within the peer group: {s.f(rk['rank'])} of {s.f(rk['n'], interval=False)}; chance of the "
              f"group's top quarter {s.f(rk['top'])}, of its bottom quarter {s.f(rk['bottom'])}.")
        s.caveats.append(CAVEAT_RANK)
        s.read += _read(c, "section 3 'Peer group, and why these peers'", "Ranks")
    else:  # nationally or within the region: the rank answer, led by that scope
        rank(book, Parsed(p.question, "rank", trust=c, other=o), s)


def rank(book: FactBook, p: Parsed, s: Say) -> None:
    c = p.trust
    scopes = ["national", "peer group", "region"]
    lead = {"england": "national", "peers": "peer group", "region": "region"}.get(p.other or "", "national")
    scopes.remove(lead)
    s(f"{_who(book, c)}, rank on the value index (1 = best value):")
    for sc in [lead] + scopes:
        rk = book.rank(c, sc)
        if not rk:
            continue
        kind = "peer group" if sc == "peer group" else "region"
        where = "in England" if sc == "national" else f"in the {rk['group']} {kind}"
        s(f"- {where[0].upper() + where[1:]}: {s.f(rk['rank'])} of {s.f(rk['n'], interval=False)}; chance of the top "
          f"quarter {s.f(rk['top'])}, of the bottom quarter {s.f(rk['bottom'])}.")
    rk = book.rank(c, "national") or {}
    if rk:
        s(f"Nationally it {_verdict(rk.get('top'), rk.get('bottom'))}.")
    s.caveats.append(CAVEAT_RANK)
    s.read += _read(c, "section 1 'Rank'", "Ranks")


def mortality(book: FactBook, p: Parsed, s: Say) -> None:
    c = p.trust
    a, pm, ex = book.alpha_fact(c, "shmi"), book.alpha_peer_median(c, "shmi"), book.excess_deaths(c)
    pub = book.shmi_published(c)
    if a is None and pub is None:
        s(f"{_who(book, c)} has no published SHMI (SHMI covers non-specialist acute trusts), so the index has no "
          "mortality estimate for it.")
        s.read += _read(c, "section 1 'Place on the SHMI funnel'", "The SHMI funnel")
        return
    word = {"above": "higher than", "below": "lower than", "about at": "not clearly different from"}
    shifted = None  # the ratio less 1, only to read which side of 1 its interval lies (never shown)
    if a is not None:
        shifted = Fact(a.key, a.label, a.kind, a.value - 1, a.lo - 1, a.hi - 1)
    s(f"{_who(book, c)}: need-adjusted mortality ratio {s.f(a)} (below 1 is better; peer median {s.f(pm)}): "
      f"mortality {word.get(_sign_word(shifted), 'not clearly different from')} the need-adjusted expectation of its "
      f"peer group.")
    if ex is not None:
        s(f"Deaths above that expectation per 1,000 spells: {s.f(ex)}.")
    if pub is not None:
        s(f"Published SHMI {s.f(pub['ratio'])} ({s.f(pub['observed'])} observed against {s.f(pub['expected'])} "
          f"expected deaths): NHS Digital band \u201c{pub['band']}\u201d.")
    ad = book.avoidable(c)
    if ad is not None:
        s(f"Avoidable deaths above the peer benchmark: {s.f(ad)} a year.")
    s.caveats.append(CAVEAT_SHMI)
    s.read += _read(c, "section 1 'Place on the SHMI funnel' and section 2", "The SHMI funnel")


def indicator(book: FactBook, p: Parsed, s: Say) -> None:
    c, ind = p.trust, p.indicator or "rtt"
    if registry.get(ind).avoidable:  # the mortality indicator has its own answer
        return mortality(book, p, s)
    a, pm = book.alpha_fact(c, ind), book.alpha_peer_median(c, ind)
    if a is None:
        s(f"{_who(book, c)} does not report {indicator_name(ind)}, so the index has no estimate for it.")
    else:
        s(f"{_who(book, c)}, {indicator_name(ind)}: Health Alpha {s.f(a)} percentage points against the "
          f"need-adjusted expectation of its peer group (above 0 is better); peer median {s.f(pm)}.",
          f"It is {_sign_word(a, 'above', 'below', 'not clearly different from')} that expectation.")
    period = ("Waiting times, A&E and the Friends and Family Test are one month's snapshot" if
              registry.get(ind).period_months == 1 else  # the cancer standards: a financial year's counts
              "The cancer standards sum a financial year of counts (April to March)")
    s.caveats.append(f"{period}; noisy estimates are pulled toward the peer group.")
    s.read += _read(c, "section 1 'The indicators that drive it (Health Alpha)'", "Quality: Health Alpha")


def trend(book: FactBook, p: Parsed, s: Say) -> None:
    t = book.run.table("trend")
    c = p.trust
    if t is not None and {"org_code", "period", "measure", "median", "lo95", "hi95"} <= set(t.columns):
        rows = t[(t.org_code == c) & (t.measure == "value_index")].sort_values("period")
        s(f"{_who(book, c)}, value index by period:")
        for _, r in rows.iterrows():
            f = Fact(f"{c}.trend.{r.period}", f"value index {r.period}", "sd", float(r["median"]), float(r.lo95),
                     float(r.hi95), table="tables/trend", row=(("org_code", c), ("period", r.period),
                                                               ("measure", "value_index")))
            per = Fact(f"{c}.trend.{r.period}.period", "period", "label", float("nan"), table="tables/trend",
                       row=f.row, columns=("period",), literal=str(r.period))
            s(f"- {s.f(per)}: {s.f(f)}")
        s.read += _read(c, "section 1", "Value index")
        return
    s(f"The index has one year so far ({s.f(book.period())}), so it cannot yet say how {book.name(c)}'s position has "
      "moved over time. What it can say for this year: its value position, what drives it, and its rank with "
      "intervals.")
    s.caveats.append(CAVEAT_ONE_YEAR)
    s.read += _read(c, "section 1 'Value position among peers'", "Limitations")


def peer_group(book: FactBook, p: Parsed, s: Say) -> None:
    c = p.trust
    g = book.info.peer_group[c]
    peers = book.peers(c)
    rk = book.rank(c, "peer group") or {}
    col = str(book.run.config.get("peer_groups", {}).get("column", "size_class")).replace("_", " ")
    s(f"{_who(book, c)} is in the {g} peer group"
      + (f" ({s.f(rk['n'], interval=False)} trusts)" if rk else "") + f". Peer groups are the trusts' {col} "
      "(ERIC-style: teaching, large, medium, small, specialist, multi-service), grouping trusts that run similar "
      "services at a similar scale; within the group every expectation is then adjusted for the need of each "
      "trust's catchment, so peers need not be alike on deprivation, age or health.")
    s("Its peers: " + "; ".join(f"{book.name(x)} ({x})" for x in peers) + ".")
    for col_, label, scale in (("imd_score", "Deprivation (IMD 2019 score)", 1.0),
                               ("share_aged_75_plus", "Residents aged 75 and over (%)", 100.0),
                               ("health_index_score", "ONS Health Index", 1.0)):
        own, med = book.need(c, col_, label, scale)
        if own is not None:
            s(f"- {label}: {s.f(own)}; peer median {s.f(med)}.")
    s.read += _read(c, "section 3 'Peer group, and why these peers'", "Need adjustment and peer grouping")


def not_measured(book: FactBook, p: Parsed, s: Say) -> None:
    c = p.trust
    mort = bool(p.indicator and registry.get(p.indicator).avoidable) or any(
        w in p.question.lower() for w in ("mortality", "death", "dying"))
    s("The index cannot answer that: public data do not break costs or quality down by specialty, service line, "
      "ward, consultant or procedure. Cost is measured by care setting (admitted patient care, outpatients, A&E) "
      "and quality for the whole trust." + (" Here is what is measured instead." if c else ""))
    if c and mort:
        s("")
        mortality(book, p, s)
        return
    if c:
        s(f"{_who(book, c)}, cost by care setting against the need-adjusted expectation of its peer group:")
        _cost_lines(book, c, ("apc", "op", "ae"), s)
        tv = book.trapped_fact(c, "gross") or book.trapped_fact(c, "total")
        if tv is not None:
            s(f"Trapped value, {TRAPPED_SETTINGS['gross' if 'gross' in book.trapped else 'total']}: {s.f(tv)} a year.")
        s.caveats.append(CAVEAT_COST)
        s.read += _read(c, "section 2 'Trapped value and avoidable deaths'", "Cost")
    else:
        s.read.append(f"{PAPER}, section 'Data'")


def method(book: FactBook, p: Parsed, s: Say) -> str:
    from analysis.ask.method import passage

    text, where = passage(p.topic or "value_index", book)
    s(text)
    s.read.append(where)
    return text


def suggestions(book: FactBook, code: str | None) -> list[str]:
    who = book.name(code) if code else "Barnsley Hospital"
    return [f"How does {who} compare with its peers on value?", f"Where is {who}'s trapped value?",
            "How is trapped value calculated?"]


def cannot(book: FactBook, p: Parsed, s: Say) -> None:
    s("I can't answer that from the index. It measures need-adjusted quality (mortality, waiting times, A&E, patient "
      "experience), cost by care setting, value, ranks and trapped value of English acute trusts. Questions I can "
      "answer:")
    for q in suggestions(book, p.trust):
        s(f"- {q}")


HANDLERS: dict[str, Callable] = {
    "value_position": value_position, "cost": cost, "drivers": drivers, "trapped_value": trapped_value,
    "compare": compare, "rank": rank, "mortality": mortality, "indicator": indicator, "trend": trend,
    "peer_group": peer_group, "not_measured": not_measured, "method": method, "out_of_scope": cannot,
}
#: per intent, how to name it when asking back which was meant, and an example question (no numbers: the text of a
#: question back is checked for grounding like any answer)
KINDS: dict[str, tuple[str, str]] = {
    "value_position": ("the overall value position", "How good value are we?"),
    "cost": ("cost against what our need predicts", "Are our admitted-care costs high for our need?"),
    "drivers": ("what drives the value position", "Which indicators move our position most?"),
    "trapped_value": ("trapped value (the savings opportunity)", "How much trapped value do we have?"),
    "compare": ("a comparison with another trust or the peers", "How do we compare with our peers?"),
    "rank": ("the rank and the chance of the top or bottom quarter", "Where do we rank?"),
    "mortality": ("mortality and the SHMI band", "What is our SHMI band?"),
    "indicator": ("one indicator (waiting times, A&E or patient experience)", "How are our waiting times?"),
    "trend": ("movement over time", "How has our value index changed since last year?"),
    "peer_group": ("the peer group and why", "Which peer group are we in and why?"),
    "method": ("how the index is calculated", "How is the value index calculated?"),
    "not_measured": ("specialties or services (not measured from public data)", "Which specialties drive our cost?"),
    "out_of_scope": ("something outside the index", "What does the index measure?"),
}
#: intents answered without a trust
NO_TRUST = {"method", "out_of_scope", "not_measured"}

"""A board's question -> intent and entities (trust, comparator, indicator, care setting, method topic).

Two layers, no learned model.  The rules: each intent has weighted patterns, developed on the ``dev`` questions of
``tests/analysis/ask/questions.csv``; the highest weight wins, ties going to the intent listed first in
:data:`INTENTS` (the more specific).  The words: misspelt question words are corrected and every word is stemmed,
and per-intent synonym sets (:mod:`analysis.ask.lexicon`) place a question no rule placed, or override a rule that
found only a measure word when the question's words say what kind of question it is (see :func:`classify`); two
intents scoring too close are asked back rather than guessed.  A question neither layer places is
``out_of_scope``.  Entities are read independently of the intent and then kept where the intent uses them.  The
held-out splits measure all this; benchmarks/RESULTS.md (issue 17) has the figures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from analysis.ask.lexicon import correct, cue_scores, indicator_of, stem, tokens
from analysis.ask.names import Mention, Register
from models import indicators as registry

#: method topics about mortality as a whole (the SHMI funnel, avoidable deaths), not about one indicator
MORTALITY_TOPICS = ("shmi", "avoidable_deaths")

INTENTS = ("not_measured", "method", "trend", "peer_group", "rank", "trapped_value", "drivers", "mortality",
           "cost", "indicator", "compare", "value_position", "out_of_scope")

_P = {
    "not_measured": [
        (r"\bspecialt(y|ies)\b|\bservice lines?\b|\bwards?\b|\bconsultants?\b|\bsurgeons?\b|\bclinicians?\b"
         r"|\bdirectorates?\b|\bprocedures?\b|\bhrgs?\b|\bper (hip|knee|operation|procedure)\b", 6),
        (r"\b(cardiology|orthopaedics?|orthopedics?|oncology|paediatrics|pediatrics|urology|dermatology|neurology|"
         r"gastroenterology|ophthalmology|respiratory|maternity|obstetrics|general surgery|trauma and orthopaedics|"
         r"stroke|cancer services|hip replacements?|knee replacements?|cataracts?|theatres?|radiology|pathology|"
         r"imaging|pharmacy|diagnostics|critical care|intensive care|icu)\b", 6),
    ],
    "method": [
        (r"\bhow (is|are|was|were|do you|does (the|it|svi)|do they)\b.*\b(calculated|calculate|computed|compute|"
         r"derived|worked out|work out|estimated|estimate|defined|chosen|choose|picked|adjust|work|works|measured)\b",
         7),
        (r"\b(explain|describe) (how|what)\b|\bmethodology\b|\bmethod\b|\bwhat does .* mean\b|\bmeaning of\b", 6),
        (r"^(what|whats|what's) (is|are) (a |an |the )?(health alpha|trapped value|the value index|value index|"
         r"a credible interval|credible intervals?|the convergence gate|convergence gate|need adjustment|"
         r"the shmi funnel|the shmi|shmi|sucra|a peer group|peer groups?|the cost composite|"
         r"the quality composite)\??$", 7),
        (r"\bwhere does the data come from\b|\bdata sources?\b|\bwhat data\b|\blimitations?\b|\bcaveats\b"
         r"|\bhow reliable\b|\bhow accurate\b|\bcan (i|we) trust (the|these)\b|\bhow (confident|sure|certain)\b"
         r"|\bwhy does (the|svi|the index) use\b|\bwhat do(es)? (the )?\w+ (actually )?(tell|show) (us|me)\b|"
         r"\b(not|n't) (cover|include|measure)\b", 7),
    ],
    "trend": [
        (r"\bsince (last|the last|\d{4})\b|\bover time\b|\btrend\b|\blast (year|\w+ years)\b|\byear on year\b|"
         r"\bprevious years?\b|\bhistor(y|ical)\b|\bover the (last|past)\b", 8),
        (r"\bimprov(ing|ed|ement)\b|\bgetting (better|worse)\b|\bdeteriorat\w*\b|\bchanged\b|\bhas .* moved\b", 6),
    ],
    "peer_group": [
        (r"\b(which|what) peer group\b|\bpeer group (are|is|do) (we|they|it)\b|\bwho are (our|their|its|the) "
         r"(peers|comparators)\b|\bbenchmarked against\b|\bcomparators\b|\bbelong to\b|\bwhy are we (in|compared)\b"
         r"|\bcompared (with|to) these\b|\bwhy these peers\b|\bpeer group membership\b|\bwhy is .* in (our|the|its|"
         r"their) peer group\b|\bwho else is in\b|\b(members?|membership) of\b|\b(teaching|large|medium|small|"
         r"specialist|multi-service) (peer )?group\b", 7),
    ],
    "rank": [
        (r"\brank(ed|ing|ings|s)?\b|\bleague table\b|\btop (quarter|quartile|25)\b|\bbottom (quarter|quartile|25)\b"
         r"|\bnumber one\b|\bpercentile\b|\bbest in (the )?(country|england|region)\b|\bwhere do we come\b|"
         r"\bstanding\b|\bwhere do we (sit|stand)\b|\bplaced\b", 6),
    ],
    "trapped_value": [
        (r"\btrapp?ed\b|\btraped\b|\bsavings?\b|\bsave\b|\brelease\b|\befficiency opportunit\w*\b|"
         r"\bopportunity\b|\bmoney .* (trapped|locked)\b|\bunlock\b", 7),
    ],
    "drivers": [
        (r"\bdriv(e|es|ing|er|ers)\b|\bcontribut\w*\b|\bpull(s|ing)? .* down\b|\bdrag(s|ging)?\b|"
         r"\bholding .* back\b|\bexplain why\b|\bwhy is (our|the|their|its) (value|index|score|position)\b|"
         r"\bwhy is the index\b|\b(which|what) (indicators?|measures?) (move|moves|matter|matters|explain)\b|"
         r"\bquality or cost\b|\bcost or quality\b|\bwhy (are|is) (we|it|they) where\b|\bwhy .* (low|high|negative|"
         r"positive)\b|\bwhat explains\b|\bexplain\b|\bhurts? (us|our)\b|\bhelps? (us|our)\b|\blevers?\b|"
         r"\bmove (our|the|its|their) (index|position|score|value)\b", 6),
    ],
    "mortality": [
        (r"\bmortality\b|\bshmi\b|\bdeaths?\b|\bdying\b|\bdied\b|\bdeath rates?\b|\bfunnel\b|\bsurvival\b", 6),
    ],
    "cost": [
        (r"\bcosts?\b|\bcosting\b|\bspend(ing|s)?\b|\bspent\b|\bexpensive\b|\bcheap(er)?\b|\bper (weighted |adjusted )?"
         r"admission\b|\boverspend\b|\befficient\b|\bunit costs?\b|\bcost index\b|\bcostly\b|\bpricey\b|"
         r"\bdear(er)?\b", 5),
    ],
    "compare": [
        (r"\bvs\.?\b|\bversus\b|\bcompare[sd]?\b|\bcomparison\b|\bstack up\b|\bmeasure up\b|\bbetter than\b|"
         r"\bworse than\b|\bagainst (our|the|its|their|other|similar)\b|\bnationally\b|\bsimilar trusts\b|"
         r"\b(\w+er|more \w+|less \w+) than\b", 4),
    ],
    "value_position": [
        (r"\b(value index|quality composite|cost composite|value for money|value score|quality score)\b", 5.5),
        (r"\bvalue\b|\bhow are we doing\b|\bhow (is|are) \w+( \w+)? doing\b|\boverall\b|\bheadline\b|\bscore\b"
         r"|\bcomposite\b|\bperforming\b|\bposition\b|\bsummar(y|ise|ize)\b", 3),
    ],
}
_COMPILED = {k: [(re.compile(p), w) for p, w in v] for k, v in _P.items()}

# Indicators: their words come from their records (models/indicators.py ask_words / ask_name), read when a
# question is parsed, so an indicator registered later is understood without a change here.
def _indicator_words() -> list[tuple[str, str]]:
    return [(n, r.ask_words) for n, r in registry.INDICATORS.items() if r.ask_words]


def _indicator_names() -> list[tuple[str, str]]:
    """Named measures: when a question names one, a generic word for another ("A&E waits") does not decide."""
    return [(n, r.ask_name) for n, r in registry.INDICATORS.items() if r.ask_name]


def _compiled() -> dict:
    """The intent rules, with the "indicator" intent's from the records of indicators other than mortality (which
    has its own intent)."""
    ind = [(re.compile(r.ask_words), 5) for r in registry.INDICATORS.values() if r.ask_words and not r.avoidable]
    return {**_COMPILED, "indicator": ind}


_SETTING = [
    ("apc", r"\badmitted\b|\badmissions?\b|\binpatients?\b|\bapc\b|\bin-patients?\b"),
    ("op", r"\boutpatients?\b|\bout-patients?\b|\bclinics?\b"),
    ("ae", r"\ba ?(&|and) ?e\b|\bemergency department\b|\bemergency care\b|\bed\b"),
    ("total", r"\btotal\b|\boverall\b|\ball settings\b|\bwhole trust\b"),
]
_TOPIC = [
    ("trapped_value", r"\btrapped\b|\bsavings?\b"),
    ("avoidable_deaths", r"\bavoidable deaths?\b|\bexcess deaths?\b"),
    ("health_alpha", r"\bhealth alpha\b|\balpha\b"),
    ("need_adjustment", r"\bneed\b|\bneed-adjust\w*\b|\badjust\w* for\b|\bdeprivation\b|\bcase[- ]mix\b"),
    ("peer_groups", r"\bpeer groups?\b|\bpeers\b"),
    ("intervals", r"\bcredible\b|\binterval\b|\buncertain\w*\b|\bconfident\b|\bconfidence\b|\bhow sure\b"),
    ("convergence", r"\bconvergence\b|\bgate\b|\br-?hat\b"),
    ("ranks", r"\brank\w*\b|\bleague\b"),
    ("cost", r"\bcost composite\b|\bcosts?\b"),
    ("limitations", r"\blimitations?\b|\bcaveats?\b|\bweakness\w*\b|\breliab\w*\b|\brobust\w*\b|"
                    r"\b(not|n't) (cover|include|measure)\b"),
    ("data", r"\bdata\b|\bsources?\b"),
    ("shmi", r"\bshmi\b|\bfunnel\b|\bmortality\b"),
    ("value_index", r"\bvalue index\b|\bindex\b|\bvalue\b|\bscore\b|\bquality composite\b"),
]
_PEERS = r"\bpeers?\b|\bpeer (group|median|average|benchmark)\b|\bsimilar trusts\b|\btrusts like us\b"
_ENGLAND = r"\bnational(ly)?\b|\bengland\b|\bacross the country\b|\ball trusts\b|\bin the country\b"
_REGION = r"\bregion(al)?\b"
_WE = re.compile(r"\b(we|our|us|ours|we're|were)\b")
_COMPARE_CUE = re.compile(r"\b(vs\.?|versus|compare[sd]?|against|than|with|and)\s*$")

#: the parser's own words, which never count as part of a trust name
STOP = frozenset("""value index trapped cost costs peers peer rank ranking mortality waiting times emergency
department patient experience compare versus against where which what when how many much more most less least
admission admitted outpatients outpatient trend quarter quartile better worse nationally region doing
spend spending expensive deaths death drivers driving score setting settings position quality composite english
england trust trusts average median benchmark chance odds likely between weather""".split())


@dataclass
class Parsed:
    question: str
    intent: str
    trust: str | None = None  # ODS code; "?" when the name was ambiguous
    other: str | None = None  # ODS code, "peers", "england", "region", or "?"
    indicator: str | None = None
    setting: str | None = None
    topic: str | None = None
    candidates: dict = field(default_factory=dict)  # "trust"/"other" -> codes, when ambiguous
    scores: dict = field(default_factory=dict)
    unsure: str | None = None  # a second intent scoring within MARGIN: the asker is asked which was meant

    def entities(self) -> dict:
        return {"trust": self.trust, "other": self.other, "indicator": self.indicator, "setting": self.setting,
                "topic": self.topic}


def _first(pairs, text: str) -> str | None:
    for key, pat in pairs:
        if re.search(pat, text):
            return key
    return None


def normalise(q: str) -> str:
    q = q.lower().replace("\u2019", "'").replace("\u2018", "'")
    q = re.sub(r"\bwhats\b", "what's", q)
    q = re.sub(r"\s+", " ", q).strip()
    return q


#: intents that say *what about* (a measure) rather than *what kind of question*: a question-type cue from the synonym
#: sets overrides them, as the rules' order lets drivers, rank, trend ... override a measure word
TOPIC = ("value_position", "cost", "mortality", "indicator")
#: a synonym-set score this high places a question on its own (one word that says what is asked: weight 3)
STRONG = 3.0
#: below this, the synonym sets' words are too weak to place a question no rule placed
WEAK = 2.0
#: ask back when the two best synonym-set scores are closer than this (benchmarks/RESULTS.md, issue 17)
MARGIN = 1.0


def classify(text: str, stems: list[str] | None = None) -> tuple[str, dict, str | None]:
    """The intent, every intent's score, and a second intent to offer when the two are too close to choose.

    The rules (:data:`_P`, developed on the dev questions) decide first; the synonym sets (:mod:`.lexicon`) decide
    (1) when no rule fired, if their best score reaches :data:`WEAK`, and (2) when the rules found only a measure
    word (an intent in :data:`TOPIC`) but the question's words say what kind of question it is (a cue score of
    :data:`STRONG` or more for another intent).  Ties among rules go to the intent listed first in :data:`INTENTS`;
    near-ties among synonym-set scores are asked back rather than guessed."""
    rules = {}
    for intent, pats in _compiled().items():
        s = max((w for p, w in pats if p.search(text)), default=0)
        if s:
            rules[intent] = s
    cues = cue_scores(stems if stems is not None else [stem(w) for w in tokens(text)])
    scores = {"rules": rules, "cues": cues}
    if rules:
        best = max(rules.values())
        intent = next(i for i in INTENTS if rules.get(i) == best)
        if intent not in TOPIC:
            return intent, scores, None
        pool = {i: c for i, c in cues.items() if c >= STRONG and i not in TOPIC and not rules.get(i)}
        if not pool:
            return intent, scores, None
    else:
        pool = {i: c for i, c in cues.items() if c >= WEAK}
        if not pool:
            return "out_of_scope", scores, None
    ranked = sorted(pool, key=lambda i: (-pool[i], INTENTS.index(i)))
    unsure = ranked[1] if len(ranked) > 1 and pool[ranked[0]] - pool[ranked[1]] < MARGIN else None
    return ranked[0], scores, unsure


def spell(text: str, register: Register) -> str:
    """``text`` with misspelt vocabulary words corrected (trust-name words are left to :class:`Register`)."""
    protect = lambda w: register._vocab_word(w) is not None  # noqa: E731
    return re.sub(r"[a-z]+", lambda m: correct(m.group(0), protect), text)


def parse(question: str, register: Register, context: str | None = None) -> Parsed:
    """Intent and entities of ``question``; ``context`` is the asker's own trust (``--trust``), if any."""
    text = spell(normalise(question), register)
    intent, scores, unsure = classify(text)
    # no question words placed it, but it names a measure: answer about the measure
    if not scores["rules"] and not unsure and intent == "out_of_scope":
        ind, st = _first(_indicator_words(), text), _first(_SETTING[:3], text)
        intent = ("mortality" if ind and registry.get(ind).avoidable else "indicator" if ind else "cost" if st
                  else intent)
    mentions: list[Mention] = register.find(question)
    we = bool(_WE.search(text))

    # -- trusts: who is asking about whom
    subject: Mention | None = None
    other: Mention | None = None
    if len(mentions) >= 2:
        subject, other = mentions[0], mentions[1]
    elif len(mentions) == 1:
        m = mentions[0]
        words_before = " ".join(re.findall(r"[a-z0-9&']+", text))  # for the cue test below
        before = " ".join(words_before.split()[: m.start])
        if context and (we or _COMPARE_CUE.search(before)) and m.codes != [context]:
            other = m
        elif not context and we and _COMPARE_CUE.search(before):
            other = m
        else:
            subject = m
    p = Parsed(question, intent, scores=scores, unsure=unsure)
    if subject is not None:
        p.trust = subject.codes[0] if not subject.ambiguous else "?"
        if subject.ambiguous:
            p.candidates["trust"] = subject.codes
    else:
        p.trust = context
    if other is not None:
        p.other = other.codes[0] if not other.ambiguous else "?"
        if other.ambiguous:
            p.candidates["other"] = other.codes
    elif intent not in ("peer_group", "method"):
        if re.search(_PEERS, text):
            p.other = "peers"
        elif re.search(_ENGLAND, text):
            p.other = "england"
        elif re.search(_REGION, text):
            p.other = "region"
    # a named second trust makes it a comparison (for cost, a single indicator or drivers only with a comparison cue)
    if other is not None and (intent in ("value_position", "mortality") or
                              intent in ("cost", "indicator", "drivers") and
                              (scores["rules"].get("compare", 0) or scores["cues"].get("compare", 0) >= STRONG)):
        p.intent = intent = "compare"

    # -- what about
    if intent in ("cost", "trapped_value"):
        p.setting = _first(_SETTING, text)
        if intent == "cost" and p.setting is None and re.search(r"\bper (weighted |adjusted )?admission", text):
            p.setting = "apc"
    else:
        p.indicator = _first(_indicator_names(), text) or _first(_indicator_words(), text) or \
            indicator_of([stem(w) for w in tokens(text)])
    if intent == "mortality":
        p.indicator = registry.mortality_name()
    if intent == "method":
        p.topic = _first(_TOPIC, text) or "value_index"
        if p.topic in MORTALITY_TOPICS:
            p.indicator = None
    if intent in ("value_position", "drivers", "trend", "peer_group", "not_measured", "out_of_scope", "rank",
                  "trapped_value", "cost"):
        p.indicator = None  # these answers are not about one indicator
    return p

"""Words, not phrasings: a light stemmer, a typo corrector and per-intent synonym sets for :mod:`analysis.ask.parse`.

The rule patterns of :mod:`.parse` recognise the phrasings the developers wrote; this module lets the parser place a
question worded in a way nobody wrote, from the *words* it uses:

- :func:`stem` strips English inflections (``ranking``/``ranked``/``ranks`` -> ``rank``, ``compared`` ->
  ``compar``), so a synonym set lists each word once;
- :func:`correct` replaces a misspelt word by the vocabulary word it is nearest to (optimal string alignment: one
  edit for words of 4-6 letters, two for longer ones; the first letter must agree and the nearest word must be
  unique), so ``mortalty``, ``vallue`` and ``natinally`` reach the rules and the synonym sets;
- :data:`CUES` lists, per intent, the words and short phrases (as stems) that point to it, each with a weight:
  3 for a word that on its own says what is asked, 2 for a strong hint, 1 for a weak one.  An intent's cue score is
  the sum of the weights of its cues found in the question, capped at :data:`CAP` so that many weak words never
  outvote one rule.

The synonym sets were written from the issue's question types and a thesaurus of board and finance language, not
from the held-out questions (benchmarks/RESULTS.md, issue 17, says what each set measured).  No dependency: the
edit distance is the one trust names use (:func:`analysis.ask.names.edit_distance`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from analysis.ask.names import edit_distance

#: an intent's cue score is capped here (the rules' weights run 3-8)
CAP = 4.0


def stem(w: str) -> str:
    """A crude English stem: enough to make ``rank``/``ranks``/``ranked``/``ranking`` and ``compare``/``compared``/
    ``comparing``/``comparison`` one word each (Porter's first steps, without its measure conditions)."""
    w = w.lower().strip("'")
    if w.endswith("'s"):
        w = w[:-2]
    if len(w) <= 3:
        return w
    for suf, rep in (("isons", ""), ("ison", ""), ("ations", "ate"), ("ation", "ate"), ("ies", "y"), ("ied", "y"),
                     ("sses", "ss"), ("ness", ""), ("ments", ""), ("ment", ""), ("ingly", ""), ("ing", ""),
                     ("edly", ""), ("ed", ""), ("ly", ""), ("es", "e"), ("s", "")):
        if w.endswith(suf) and len(w) - len(suf) >= 3 and not (suf == "s" and w.endswith(("ss", "us", "is"))):
            w = w[: len(w) - len(suf)] + rep
            break
    if len(w) > 4 and w[-1] == w[-2] and w[-1] not in "lsz":  # dragg -> drag, slipp -> slip
        w = w[:-1]
    if len(w) > 4 and w.endswith("e"):  # compare / compar(ed) -> compar
        w = w[:-1]
    return w


def tokens(text: str) -> list[str]:
    """Lower-case words of a normalised question (``a&e`` kept as one word, apostrophes inside words kept)."""
    return re.findall(r"a ?& ?e|[a-z0-9]+(?:'[a-z]+)?", text)


#: per intent: (words, weight); words are plain text, stemmed when the module loads
_CUES: dict[str, list[tuple[str, float]]] = {
    "value_position": [
        ("value", 2), ("value for money", 3), ("good value", 3), ("poor value", 3), ("value index", 3),
        ("headline", 2), ("overall", 1), ("summary", 2), ("verdict", 2), ("svi", 2), ("index", 1), ("score", 1),
        ("performance", 1), ("perform", 1), ("doing", 1), ("deliver", 1), ("worth", 2), ("position", 1),
        ("standing", 1), ("where do we sit", 2), ("how are we doing", 3), ("report card", 2),
        ("nutshell", 2), ("short version", 2), ("bottom line", 2), ("in the round", 2), ("big picture", 2),
        ("one line", 2),
    ],
    "drivers": [
        ("driver", 3), ("drive", 3), ("driving", 3), ("drag", 3), ("pull down", 3), ("hold back", 3),
        ("contribut", 3), ("reason", 2), ("why", 2), ("behind", 2), ("explain", 1), ("cause", 3),
        ("decompose", 3), ("component", 3), ("factor", 2), ("lever", 3), ("biggest difference", 3),
        ("most impact", 3), ("matter", 2), ("account for", 2), ("weigh", 2), ("hurt", 2), ("help", 1),
        ("quality or cost", 3), ("cost or quality", 3), ("influence", 3), ("affect", 2), ("impact", 2),
        ("damage", 3), ("harm", 2), ("weigh on", 3), ("penalise", 2), ("come down to", 3),
    ],
    "trapped_value": [
        ("trapped", 3), ("trap", 3), ("saving", 3), ("save", 3), ("release", 3), ("waste", 3), ("wasted", 3),
        ("opportunity", 3), ("efficiencies", 3), ("efficiency", 2), ("recover", 2), ("unlock", 3), ("locked", 3),
        ("excess", 2), ("potential", 2), ("prize", 2), ("how much money", 2), ("million", 2), ("cash", 1),
        ("reduce cost", 2), ("cut", 2), ("peer median", 2), ("inefficiency", 3),
        ("quantify", 1),
    ],
    "compare": [
        ("compare", 3), ("comparison", 2), ("vs", 3), ("versus", 3), ("against", 2), ("better than", 3),
        ("worse than", 3), ("ahead of", 3), ("behind", 1), ("stack up", 3), ("measure up", 3), ("relative to", 2),
        ("similar", 2), ("other trusts", 2), ("rest of", 2), ("nationally", 2), ("benchmark", 2),
        ("fare", 2), ("differ", 2), ("difference between", 3), ("which one", 2), ("who is better", 3),
        ("better or worse", 2), ("average", 1),
    ],
    "rank": [
        ("rank", 3), ("ranking", 3), ("league table", 3), ("league", 2), ("quartile", 3), ("quarter", 3),
        ("percentile", 3), ("top", 2), ("bottom", 2), ("best", 2), ("worst", 2), ("number one", 3),
        ("position", 1), ("placed", 2), ("place", 1), ("order", 2), ("odds", 2), ("chance", 2),
        ("likely", 2), ("probability", 2), ("out of all", 3), ("table", 1), ("standing", 2), ("per cent", 1),
        ("highest", 1), ("lowest", 1), ("the best", 3), ("the worst", 3),
    ],
    "mortality": [
        ("mortality", 3), ("shmi", 3), ("death", 3), ("die", 3), ("died", 3), ("dying", 3), ("dead", 3),
        ("survival", 3), ("survive", 3), ("fatal", 3), ("funnel", 2), ("outlier", 1), ("kill", 3),
        ("avoidable deaths", 3),
    ],
    "cost": [
        ("cost", 3), ("costing", 3), ("spend", 3), ("spending", 3), ("overspend", 3), ("expensive", 3),
        ("cheap", 3), ("pricey", 3), ("price", 2), ("money", 1), ("finance", 1), ("financial", 1), ("efficient", 2),
        ("per admission", 3), ("unit cost", 3), ("cost index", 3), ("to run", 2), ("afford", 1), ("outlay", 3),
        ("expenditure", 3), ("pound", 1), ("budget", 1),
    ],
    "indicator": [
        ("wait", 3), ("waiting", 3), ("waiting list", 3), ("rtt", 3), ("18 weeks", 3), ("referral", 2),
        ("a&e", 3), ("a & e", 3), ("emergency department", 3), ("four hour", 3), ("4 hour", 3), ("4 hrs", 3),
        ("casualty", 3), ("fft", 3), ("friends and family", 3), ("patient experience", 3), ("experience", 2),
        ("satisfied", 3), ("satisfaction", 3), ("recommend", 3), ("patients say", 3), ("patients think", 3),
        ("happy", 2), ("complain", 1), ("backlog", 2), ("target", 1), ("standard", 1), ("delay", 2),
        ("cancer wait", 3), ("faster diagnosis", 3), ("62 day", 3), ("28 day", 3),
        # "meeting the 4-hour standard" is performance against a standard, not a meeting
        ("meeting the", 1), ("meet the", 1),
    ],
    "trend": [
        ("trend", 3), ("since", 3), ("over time", 3), ("year on year", 3), ("year by year", 3), ("last year", 3),
        ("previous year", 3), ("past", 2), ("improve", 3), ("improving", 3), ("deteriorate", 3),
        ("getting better", 3), ("getting worse", 3), ("got better", 3), ("got worse", 3), ("going up", 3),
        ("going down", 3), ("up or down", 3), ("slip", 3), ("direction", 2), ("change", 2), ("moved", 2),
        ("move", 1), ("history", 3), ("historical", 3), ("rise", 3), ("fall", 3), ("risen", 3), ("fallen", 3),
        ("decline", 3), ("drop", 3), ("worsen", 3), ("trajectory", 3), ("this year", 2), ("recent", 2), ("over the", 1),
        ("backwards", 3), ("going backward", 3), ("forwards", 2), ("progress", 2), ("momentum", 3),
    ],
    "peer_group": [
        ("peer group", 1), ("comparison group", 3), ("comparator", 3), ("group of trusts", 3), ("group", 0.5),
        ("belong", 3), ("member", 3), ("membership", 3), ("put in", 2), ("placed in", 2), ("who else", 2),
        ("which trusts", 1), ("who do you compare", 3), ("compare us with", 1), ("benchmark us", 2),
        ("count as", 2), ("why these", 3), ("cluster", 3), ("fair", 1), ("classified", 3),
        ("category", 2), ("lumped", 3), ("bracketed", 3), ("comparable", 1),
    ],
    "method": [
        ("method", 3), ("methodology", 3), ("calculate", 3), ("calculated", 3), ("computed", 3), ("derived", 3),
        ("work out", 3), ("worked out", 3), ("defined", 3), ("definition", 3), ("mean", 2), ("meaning", 2),
        ("measure", 1), ("what exactly is", 3), ("what is", 1), ("come from", 3), ("source", 3), ("data", 2),
        ("model", 2), ("assumption", 3), ("reliable", 3), ("robust", 3), ("uncertainty", 2), ("trust these", 3),
        ("check", 1), ("convergence", 3), ("explain how", 3), ("how do you", 2), ("how does the index", 3),
        ("limitation", 3), ("caveat", 3), ("adjust", 1), ("formula", 3), ("approach", 2), ("weighting", 2),
        ("credible interval", 3), ("interval", 2), ("plain english", 2), ("plain words", 2), ("jargon", 2),
    ],
    "not_measured": [
        ("specialty", 3), ("specialties", 3), ("department", 2), ("service line", 3), ("ward", 3),
        ("consultant", 3), ("surgeon", 3), ("doctor", 3), ("clinician", 3), ("team", 1), ("unit", 1),
        ("procedure", 3), ("operation", 2), ("replacement", 3), ("cancer outcome", 3), ("cancer survival", 3),
        ("cancer service", 3), ("cancer care", 3), ("maternity", 3), ("cardiology", 3),
        ("theatre", 3), ("division", 2), ("directorate", 3), ("by site", 2), ("individual", 2),
    ],
    "out_of_scope": [
        # what the index cannot know: the future, advice, people, facilities, anything outside the tables
        ("next year", 3), ("will", 1), ("forecast", 3), ("predict", 3), ("should we", 3), ("hire", 3),
        ("recruit", 3), ("staff", 2), ("nurses", 2), ("beds", 3), ("board meeting", 3), ("the meeting", 3), ("chair", 3),
        ("chief executive", 3), ("ceo", 3), ("weather", 3), ("football", 3), ("joke", 3), ("capital of", 3),
        ("script", 3), ("code", 1), ("pay award", 3), ("strike", 3), ("who is", 2), ("who won", 3),
        ("close", 2), ("merge", 3), ("what time", 3),
        # the workforce: no table of the index holds it ("agency staff spend" is not a cost setting)
        ("agency", 3), ("locum", 3), ("workforce", 3), ("vacancy", 3), ("sickness", 3), ("overtime", 3),
    ],
}


def _stems(phrase: str) -> tuple[str, ...]:
    return tuple(stem(w) for w in tokens(phrase))


CUES: dict[str, list[tuple[tuple[str, ...], float]]] = {k: [(_stems(p), w) for p, w in v] for k, v in _CUES.items()}
#: the words a typo may be corrected to: the synonym sets' words and the rules' own vocabulary
VOCAB = frozenset(w for v in _CUES.values() for p, _ in v for w in tokens(p) if len(w) >= 4) | frozenset(
    """mortality nationally national quartile quarter ranking ranked trapped compared comparison compare versus
    outpatients outpatient inpatients inpatient admission admissions admitted emergency department experience
    patients patient performance position specialties specialty calculated calculate estimated improving improved
    waiting average benchmark benchmarked median region regional england country expected efficiency opportunity
    drivers driving value index composite quality savings peers group deaths death expensive spending""".split())


#: words of the synonym phrases that take no inflection (the English list has odd forms such as "withing")
_FUNCTION = frozenset("""with what when which where this that than there their they them does have been from into
over under will would should could about also only each some more most less much many well just like""".split())


def inflections(words) -> frozenset:
    """``words`` with those of their regular inflections that are English words (``hold``: holds, holding;
    ``compare``: compares, compared, comparing), so a typo of an inflected word ("hodling", "gorups") has a
    vocabulary word one or two edits away; a form that is no word ("withing") is left out, or it would attract typos
    of real words ("witing")."""
    out, english = set(), _english()
    for w in words:
        out.add(w)
        if w.isalpha() and len(w) >= 4 and w not in _FUNCTION:
            base = w[:-1] if w.endswith("e") else w
            out.update(f for f in (w + "s", w + "es", base + "ed", base + "ing", w + w[-1] + "ing", w + w[-1] + "ed")
                       if f in english)
    return frozenset(out)


def pattern_words(patterns, min_len: int = 5) -> frozenset:
    """Words of at least ``min_len`` letters written in regular expressions (the rules' own vocabulary), with a
    trailing optional ``s?`` read both ways; a stem written to take an ending (``calculat\\w*``, ``driv(e|es)``) is
    not a word and is left out."""
    out = set()
    for pat in patterns:
        for w, plural in re.findall(r"(?<![\\a-z])(?<![a-z]\()([a-z]{%d,})(s\?)?(?![a-z(\[]|\\w)" % min_len, pat):
            out.add(w)
            if plural:
                out.add(w + "s")
    return frozenset(out)




@lru_cache(maxsize=8)
def vocabulary(extra: frozenset = frozenset()) -> frozenset:
    """The typo corrector's words: :data:`VOCAB`, the indicator records' words and ``extra``, with inflections."""
    return inflections(VOCAB | extra) | record_words()


@lru_cache(maxsize=1)
def _english():
    """pyspellchecker's English word list: a word in it is spelt right (``charge`` is not a typo of ``change``)."""
    from spellchecker import SpellChecker

    return SpellChecker(language="en", distance=1).word_frequency


def correct(word: str, protect=lambda w: None, extra: frozenset = frozenset()) -> str:
    """``word``, or the vocabulary word it misspells (unique nearest within the edit budget).  Kept as written: an
    English word, an inflection of a vocabulary word (``cheaper``), and a word ``protect`` claims (the trust-name word
    it stands for, unless that is the vocabulary word it is nearest to: "natioanl" is "national" either way).
    ``extra``: more vocabulary (the rules' words)."""
    vocab = vocabulary(extra) | record_words()
    if len(word) < 4 or word in vocab or not word.isalpha() or word in _english():
        return word
    claim = protect(word)
    if claim and claim not in vocab:
        return word
    limit = 1 if len(word) < 7 else 2
    # nearest by (edits, -letters shared at the start): a typo rarely touches a word's first letters, so of two
    # words equally near, the one agreeing longer at the start is meant ("compair": compare, not complain)
    best, best_key, tie = None, (limit + 1, 0, True, 0), False
    for v in vocab:
        if v[0] != word[0] or abs(len(v) - len(word)) > limit:
            continue
        if word.startswith(v) and len(word) > len(v):  # an inflection or derivation, not a typo
            return word
        d = edit_distance(word, v, limit)
        if d > limit:
            continue
        # then a real word over a stem, then a word of the same length (a swap or slip rather than a lost letter)
        key = (d, -_shared_start(word, v), v not in _english(), abs(len(v) - len(word)))
        if key < best_key:
            best, best_key, tie = v, key, False
        elif key == best_key and v != best:
            tie = True
    return best if best is not None and not tie else word


def _shared_start(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _literal_words(pattern: str) -> set[str]:
    """The plain words of an ``ask_*`` regular expression: its alternatives that are a literal word or phrase
    (``\\bcasualty\\b``, ``\\bfriends and family\\b``), words of 4 letters or more (the typo corrector's floor)."""
    out, depth, branches, cur = set(), 0, [], ""
    for ch in pattern:  # split at the top-level bars only: "re-?admi(ssion|tted)" is one alternative
        depth += (ch == "(") - (ch == ")")
        if ch == "|" and depth == 0:
            branches.append(cur)
            cur = ""
        else:
            cur += ch
    for branch in branches + [cur]:
        b = branch.replace(r"\b", "")
        if re.fullmatch(r"[a-z][a-z ]*", b):
            out.update(w for w in b.split() if len(w) >= 4)
    return out


def _records() -> tuple:
    from models import indicators as registry

    return tuple(registry.INDICATORS.items())


def record_words() -> frozenset:
    """Every indicator record's plain ask words: part of the typo corrector's vocabulary (``mortalty``)."""
    return _record_words(_records())


@lru_cache(maxsize=4)
def _record_words(recs) -> frozenset:
    pats = [pat for _, r in recs for pat in (r.ask_words, r.ask_name, r.ask_hints) if pat]
    return inflections(frozenset(w for pat in pats for w in _literal_words(pat)) | pattern_words(pats, 4))


def claimed(text: str) -> str:
    """``text`` with the words an indicator record names (its ``ask_name`` or ``ask_words``) blanked out: a word a
    record claims is a measured indicator, so it cannot also say "not measured" (a cancer record's "cancer")."""
    for _, r in _records():
        for pat in (r.ask_name, r.ask_words):
            if pat:
                text = re.sub(pat, lambda m: " " * len(m.group(0)), text)
    return text


def indicator_of(text: str) -> str | None:
    """The indicator a (normalised) question names, from the indicator records (models/indicators.py), so a record
    registered later is understood without an edit here.  Three tiers, most specific first: a record's
    ``ask_name`` (the measure's own names: "A&E waits" is about A&E, not RTT), its ``ask_words``, its ``ask_hints``
    (generic words such as "backlog"); within a tier, registration order."""
    for attr in ("ask_name", "ask_words", "ask_hints"):
        for name, r in _records():
            pat = getattr(r, attr, "")
            if pat and re.search(pat, text):
                return name
    return None


def cue_scores(stems: list[str]) -> dict[str, float]:
    """Per intent, the capped sum of the weights of its cues present in ``stems`` (each cue counted once)."""
    out: dict[str, float] = {}
    n = len(stems)
    for intent, cues in CUES.items():
        total = 0.0
        for seq, w in cues:
            k = len(seq)
            if k and any(tuple(stems[i:i + k]) == seq for i in range(n - k + 1)):
                total += w
        if total:
            out[intent] = min(total, CAP)
    return out

"""Trust names in any spelling: ODS codes, short names, lower case, typos, common acronyms.

A question is split into words; runs of words that match the *distinctive* words of trust names (place names and
the like: ``Barnsley``, ``Sheffield``, ``Children's``) form a mention, and the generic words of NHS names
(``Hospital``, ``Teaching``, ``University``) inside or next to the run only narrow it down.  A mention whose words
fit several trusts equally (``Sheffield``: Sheffield Teaching Hospitals and Sheffield Children's) is *ambiguous*:
the caller asks which one is meant instead of guessing.  Typos are absorbed by an edit distance on words (one edit
for words of 5-7 letters, two for longer ones, a swap of neighbouring letters counting as one); short words must
match exactly.  Words the parser uses for its own vocabulary never match a trust.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: words of NHS trust names that say nothing about which trust (they can narrow a mention, never start one)
GENERIC = frozenset("""nhs foundation trust trusts ft the and of hospital hospitals university universities teaching
healthcare health care services service group integrated acute general district partnership ft's""".split())
#: distinctive but common English words: they extend a mention next to a place name, never start one alone
WEAK = frozenset("""royal north south east west central mid city county great western new upon st women's
children's heart chest eye kings king's queen princess college national orthopaedic specialist
free hey hunt forest guy""".split())  # the last line: trust words that are frequent English words ("free up")
#: weak words that are also compass points or places' qualifiers: never a name on their own
DIRECTIONS = frozenset("north south east west central mid city county great western new upon st national".split())
#: well-known short forms (ODS code first)
ALIASES = {
    "RJ1": ["gstt", "guy's", "guy's and st thomas", "st thomas"],
    "RRV": ["uclh"], "R0A": ["mft"], "RRK": ["uhb"], "RTH": ["ouh"], "RGT": ["cuh", "addenbrookes",
                                                                              "addenbrooke's"],
    "RX1": ["nuh"], "RJZ": ["kch", "kings college", "king's college"], "RR8": ["ltht"], "RHQ": ["sth"],
    "RWE": ["uhl"], "RHM": ["uhs"], "RTD": ["nuth"], "RYJ": ["imperial"], "R1H": ["barts", "bart's"],
    "RBV": ["christie"], "RBS": ["alder hey"], "RP6": ["moorfields"], "RL1": ["rjah"],
}
#: words left out of a name's initials (``RNOH``: Royal National Orthopaedic Hospital NHS Trust)
_NOT_INITIALLED = frozenset("nhs foundation trust the and of".split())
#: initials that NHS boards use for something else first ("CHS": community health services)
_NOT_A_TRUST = frozenset("chs ics icb cqc rtt fft nhs ceo cfo coo ned hrg apc cip mdt kpi pfi erf uec cdc".split())


def words(text: str) -> list[str]:
    """Lower-case words; apostrophes kept inside a word (``children's``), other punctuation dropped."""
    text = text.lower().replace("\u2019", "'").replace("&", " and ")
    return [w.strip("'") if not w.endswith("'s") else w for w in re.findall(r"[a-z0-9][a-z0-9']*", text)]


def _base(w: str) -> str:
    """A word without a possessive ``'s`` (``barnsley's`` -> ``barnsley``; ``children's`` is kept whole)."""
    return w[:-2] if w.endswith("'s") and w not in WEAK else w


def edit_distance(a: str, b: str, limit: int = 2) -> int:
    """Optimal-string-alignment distance (a swap of neighbours is one edit), capped at ``limit + 1``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2, prev = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def similar(word: str, target: str) -> bool:
    """Same word allowing for typos: exact below 5 letters, one edit for 5-7, two for 8 or more."""
    if word == target:
        return True
    n = min(len(word), len(target))
    if n < 5 or word[0] != target[0]:
        return False
    return edit_distance(word, target, 1 if n < 8 else 2) <= (1 if n < 8 else 2)


@dataclass(frozen=True)
class Trust:
    code: str
    name: str  # as published

    @property
    def short(self) -> str:
        """Readable name without the NHS (Foundation) Trust ending: ``Barnsley Hospital``."""
        from analysis.ask.facts import short_name

        return short_name(self.name)


@dataclass
class Mention:
    start: int
    end: int  # word span [start, end)
    codes: list[str]  # candidates: one = resolved, several = ambiguous
    text: str = ""

    @property
    def ambiguous(self) -> bool:
        return len(self.codes) > 1


@dataclass
class Register:
    """The trusts a question may name, with the distinctive words of each name."""

    trusts: dict[str, Trust]
    stop: frozenset = frozenset()  # the parser's own vocabulary: never a trust word
    _distinct: dict[str, set[str]] = field(default_factory=dict)
    _generic: dict[str, set[str]] = field(default_factory=dict)
    _vocab: set[str] = field(default_factory=set)
    _initials: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        seen: dict[str, set[str]] = {}
        for code, t in self.trusts.items():
            ws = [_base(w) for w in words(t.name)]
            self._distinct[code] = {w for w in ws if w not in GENERIC}
            self._generic[code] = {w for w in ws if w in GENERIC}
            self._vocab |= self._distinct[code]
            ini = "".join(w[0] for w in ws if w not in _NOT_INITIALLED)
            for a in (ini, ini + "t"):  # "RNOH", and with the Trust: "RWT", "RCHT"
                seen.setdefault(a, set()).add(code)
        # an initialism names a trust only if it fits one (several trusts share "BHT") and is no code or word of
        # the parser's own
        self._initials = {a: next(iter(c)) for a, c in seen.items() if len(a) >= 3 and len(c) == 1 and
                          a.upper() not in self.trusts and a not in self.stop and a not in _NOT_A_TRUST}

    @classmethod
    def from_pairs(cls, pairs, stop=frozenset()) -> "Register":
        return cls({str(c): Trust(str(c), str(n)) for c, n in pairs}, frozenset(stop))

    def name(self, code: str) -> str:
        return self.trusts[code].short if code in self.trusts else code

    # -------------------------------------------------------------------- matching
    def _vocab_word(self, w: str) -> str | None:
        """The trust-name word ``w`` stands for (allowing a typo), or None."""
        w = _base(w)
        if w in self.stop or w in GENERIC or len(w) < 3:
            return None
        if w in self._vocab:
            return w
        hits = [v for v in self._vocab if similar(w, v)]
        return min(hits, key=lambda v: edit_distance(w, v)) if hits else None

    def find(self, question: str) -> list[Mention]:
        """The trusts named in ``question``, in order of appearance (codes, aliases, then names)."""
        raw = re.findall(r"[A-Za-z0-9][A-Za-z0-9'&]*", question.replace("\u2019", "'"))
        ws = words(question)
        found: list[Mention] = []
        taken: set[int] = set()
        # codes: an all-letter code must be written in capitals (``REF``, ``RAN`` are also words); a code with a digit
        # in any case
        for i, tok in enumerate(raw[: len(ws)]):
            up = tok.upper().rstrip("'S") if tok.upper().endswith("'S") else tok.upper()
            if up in self.trusts and (tok.isupper() or any(ch.isdigit() for ch in up)) and up.lower() not in self.stop:
                found.append(Mention(i, i + 1, [up], tok))
                taken.add(i)
        # initials of a trust's name, written in capitals ("RNOH", "RWT"); the well-known short forms below first
        alias_words = {w for names in ALIASES.values() for a in names for w in words(a)}
        for i, tok in enumerate(raw[: len(ws)]):
            low = tok.lower()
            if i not in taken and tok.isupper() and low in self._initials and low not in alias_words:
                found.append(Mention(i, i + 1, [self._initials[low]], tok))
                taken.add(i)
        # aliases (longest first)
        for code, names in ALIASES.items():
            if code not in self.trusts:
                continue
            for a in sorted(names, key=len, reverse=True):
                aw = [_base(w) for w in words(a)]
                for i in range(len(ws) - len(aw) + 1):
                    if [_base(w) for w in ws[i:i + len(aw)]] == aw and not taken & set(range(i, i + len(aw))):
                        found.append(Mention(i, i + len(aw), [code], " ".join(ws[i:i + len(aw)])))
                        taken |= set(range(i, i + len(aw)))
        # names: runs of trust words
        match = [None if i in taken else self._vocab_word(w) for i, w in enumerate(ws)]
        i = 0
        while i < len(ws):
            if match[i] is None or match[i] in WEAK and not self._strong_run(match, i) and \
                    not self._named(question, ws[i], match[i]):
                i += 1
                continue
            j = i + 1
            while j < len(ws):
                if match[j] is not None:
                    if not self._candidates({match[t] for t in range(i, j + 1) if match[t]}, set()):
                        break  # a second trust starts here ("Barnsley and Chesterfield")
                    j += 1
                elif _base(ws[j]) in GENERIC and j + 1 < len(ws) and match[j + 1] is not None and \
                        self._candidates({match[t] for t in range(i, j + 2) if match[t]}, set()):
                    j += 1
                else:
                    break
            # generic words just after the run narrow it down ("Sheffield Teaching", "Barnsley Hospital")
            k = j
            while k < len(ws) and _base(ws[k]) in GENERIC and ws[k] not in ("and", "the", "of"):
                k += 1
            s = i
            while s > 0 and _base(ws[s - 1]) in GENERIC and ws[s - 1] not in ("and", "the", "of", "nhs"):
                s -= 1
            distinct = {match[t] for t in range(i, j) if match[t] is not None}
            generic = {_base(ws[t]) for t in range(s, k) if match[t] is None} - {"and", "the", "of", "nhs", "trust",
                                                                                  "foundation", "ft"}
            codes = self._candidates(distinct, generic)
            if codes:
                found.append(Mention(s, k, codes, " ".join(ws[s:k])))
            i = max(j, i + 1)
        out: list[Mention] = []
        for m in sorted(found, key=lambda m: m.start):  # one trust named twice ("Guy's and St Thomas'") is one
            if not (out and out[-1].codes == m.codes and not m.ambiguous):
                out.append(m)
        return out

    def _named(self, question: str, word: str, vocab: str) -> bool:
        """A weak word written as a name (capitalised, not opening the question, not a compass point) counts on its
        own: "How is Kings doing?" names a trust (which one is then asked back)."""
        if vocab in DIRECTIONS:
            return False
        pat = r"(?<=[\s,(])" + re.escape(word[:1].upper() + word[1:]) + r"\b"
        return re.search(pat, question.replace("\u2019", "'")) is not None

    def _strong_run(self, match, i) -> bool:
        """A run starting with a weak word counts only if it holds a strong one (``Royal Wolverhampton``) or is two
        weak words or more that fit a trust (``Royal National Orthopaedic``)."""
        j = i
        while j < len(match) and match[j] is not None:
            if match[j] not in WEAK:
                return True
            j += 1
        return j - i >= 2 and bool(self._candidates({match[t] for t in range(i, j)}, set()))

    def _candidates(self, distinct: set[str], generic: set[str]) -> list[str]:
        cands = [c for c, d in self._distinct.items() if distinct <= d]
        if len(cands) > 1 and generic:
            narrowed = [c for c in cands if {g.rstrip("s") for g in generic} <= {g.rstrip("s") for g in
                                                                                     self._generic[c]}]
            cands = narrowed or cands
        if len(cands) > 1:  # a name given in full beats names that merely contain it ("Birmingham Women's ...")
            exact = [c for c in cands if self._distinct[c] == distinct]
            if len(exact) == 1 and len(distinct) > 1:
                cands = exact
        return sorted(cands)

"""Score the parser on a question set: intent accuracy, entity accuracy (all five entities right) and a confusion
table.  Used by the tests (``tests/analysis/ask/test_evaluation.py``) and ``benchmarks/bench_ask.py``."""

from __future__ import annotations

import csv
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from analysis.ask.names import Register
from analysis.errors import SVIError
from analysis.ask.parse import INTENTS, STOP, parse

ENTITIES = ("trust", "other", "indicator", "setting", "topic")


def read_questions(path: str | Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: (v or None) if k in ENTITIES or k == "context" else v for k, v in r.items()}
                for r in csv.DictReader(fh)]


#: where the acute trusts' codes and names are, inside a data directory (see the data's PROVENANCE.md, section 8)
PROFILES = Path("raw") / "trustpulse" / "trust_profiles.csv"


def read_pairs(path: str | Path) -> list[tuple[str, str]]:
    """(ODS code, name) pairs of a CSV with ``org_code`` and ``org_name`` columns, all rows."""
    with open(path, newline="", encoding="utf-8") as fh:
        rd = csv.DictReader(fh)
        missing = {"org_code", "org_name"} - set(rd.fieldnames or ())
        if missing:
            raise SVIError(f"{path}: no {', '.join(sorted(missing))} column in the header (line 1); a trust list "
                           f"needs org_code and org_name")
        return [(r["org_code"], r["org_name"]) for r in rd]


def acute_trust_pairs(data_dir: str | Path) -> list[tuple[str, str]]:
    """(ODS code, name) of the acute trusts in a data directory (``Trust_type == "Acute trust"``), sorted by code:
    the trusts a real-data run holds, read from the shared data rather than copied into the repository."""
    path = Path(data_dir) / PROFILES
    if not path.is_file():
        raise SVIError(f"{path} not found: pass the data directory that holds raw/ (e.g. ../shared/data)")
    with open(path, newline="", encoding="utf-8") as fh:
        rd = csv.DictReader(fh)
        missing = {"org_code", "org_name", "Trust_type"} - set(rd.fieldnames or ())
        if missing:
            raise SVIError(f"{path}: no {', '.join(sorted(missing))} column in the header (line 1)")
        pairs = sorted((r["org_code"], r["org_name"]) for r in rd if r["Trust_type"] == "Acute trust")
    if not pairs:
        raise SVIError(f"{path}: no row has Trust_type 'Acute trust'; is this the trust profiles file?")
    return pairs


def register_of(pairs) -> Register:
    return Register.from_pairs(pairs, stop=STOP)


def read_register(path: str | Path) -> Register:
    return register_of(read_pairs(path))


@dataclass
class Score:
    n: int = 0
    intent_ok: int = 0
    entity_ok: int = 0
    asked_back: int = 0  # questions answered with "did you mean X or Y?" (counted as intent misses)
    asked_back_ok: int = 0  # ... of which the expected intent was one of the two offered
    confusion: Counter = field(default_factory=Counter)
    errors: list = field(default_factory=list)
    trained: dict = field(default_factory=dict)  # split scored -> the splits the learned model was fitted on

    @property
    def intent_accuracy(self) -> float:
        return self.intent_ok / self.n if self.n else float("nan")

    @property
    def entity_accuracy(self) -> float:
        return self.entity_ok / self.n if self.n else float("nan")


def evaluate(rows: list[dict], register: Register, hybrid: bool = True) -> Score:
    """Intent and entity accuracy of ``rows``.  ``hybrid``: as ``svi ask`` parses (the rules with the learned model,
    :mod:`analysis.ask.learned`), the model fitted without the split of the question being scored (leave one split
    out: a split is never scored by a model that learnt from it); False: the rules alone."""
    from analysis.ask.learned import fitted

    s = Score()
    for r in rows:
        h = None
        if hybrid:
            h = fitted(register, exclude={r["split"]})
            assert r["split"] not in h.trained_splits and r["id"] not in h.trained_ids
            s.trained[r["split"]] = h.trained_splits
        p = parse(r["question"], register, context=r["context"], hybrid=h)
        got = p.entities()
        want = {k: r[k] for k in ENTITIES}
        s.n += 1
        s.confusion[(r["intent"], "asked back" if p.unsure else p.intent)] += 1
        ok_i = p.intent == r["intent"] and not p.unsure
        s.asked_back += bool(p.unsure)
        s.asked_back_ok += bool(p.unsure) and r["intent"] in (p.intent, p.unsure)
        ok_e = got == want
        s.intent_ok += ok_i
        s.entity_ok += ok_e
        if not (ok_i and ok_e):
            s.errors.append((r["id"], r["question"], r["intent"], f"{p.intent}|{p.unsure}" if p.unsure else p.intent,
                             {k: (want[k], got[k]) for k in ENTITIES if want[k] != got[k]}))
    return s


def confusion_table(score: Score) -> str:
    labels = [i for i in (*INTENTS, "asked back") if any(i in k for k in score.confusion)]
    short = {i: i[:7] for i in labels}
    head = "expected \\ parsed".ljust(16) + " ".join(short[i].rjust(7) for i in labels)
    lines = [head]
    for a in labels:
        lines.append(a[:15].ljust(16) + " ".join(str(score.confusion.get((a, b), "") or ".").rjust(7)
                                                  for b in labels))
    return "\n".join(lines)


def with_typos(rows: list[dict], seed: int = 17) -> list[dict]:
    """Copies of ``rows`` with one typo each (a letter dropped, two neighbours swapped or one replaced, never the first)
    in one lower-case word of 5 letters or more, chosen at random; questions without such a word are left out.
    Capitalised words are never touched, so trust names keep the spelling the register is tested on elsewhere.  A
    measure of typo robustness that nobody wrote (benchmarks/RESULTS.md, 2026-12-03)."""
    rng = random.Random(seed)

    def typo(w: str) -> str:
        i, k = rng.randrange(1, len(w) - 1), rng.randrange(3)
        if k == 0:
            return w[:i] + w[i + 1:]
        if k == 1:
            return w[:i] + w[i + 1] + w[i] + w[i + 2:]
        return w[:i] + rng.choice("aeiourstnl") + w[i + 1:]

    out = []
    for r in rows:
        words = list(re.finditer(r"\b[a-z]{5,}\b", r["question"]))
        if words:
            m = rng.choice(words)
            out.append(dict(r, question=r["question"][:m.start()] + typo(m.group(0)) + r["question"][m.end():]))
    return out


#: openings a board member puts before a question; with_preamble adds one to each question
PREAMBLES = ("Could you tell me ", "Quick question: ", "Please can you tell me ", "I'd like to know ",
             "Just wondering, ", "For the board paper, ")


def with_preamble(rows: list[dict], seed: int = 3) -> list[dict]:
    """Copies of ``rows`` with a random opening from :data:`PREAMBLES` (the question's first letter lower-cased unless
    it starts a name): a measure of robustness to framing nobody wrote into the rules (RESULTS.md, 2026-12-03)."""
    rng = random.Random(seed)
    out = []
    for r in rows:
        q, p = r["question"], rng.choice(PREAMBLES)
        keep = re.match(r"[A-Z]{2,}|[A-Z][a-z]+'s|[A-Z][a-z]+ (Teaching|and|Hospital)", q)
        out.append(dict(r, question=p + (q if keep else q[0].lower() + q[1:])))
    return out

"""The evaluation set: intent and entity accuracy of the parser, per split (benchmarks/bench_ask.py prints the
confusion table; benchmarks/RESULTS.md records the figures and how each split was written).

- ``dev``, ``dev2``, ``dev3``: the parser was developed on them; ``heldout``: written with dev before the parser.
  They are held to the issue's 95% target.
- ``heldout3``, ``heldout4``, ``heldout5``: written blind; their misses were read and the 2026-12-03 classifier was
  tuned on them, so they are now development questions in all but name (RESULTS.md, 2026-12-03).
- ``heldout6`` (``questions_blind6.csv``): written and committed before the 2026-12-03 parser changes; scored blind
  after the first stage (89.2%), then its misses were read and the second stage tuned on them.
- ``heldout7`` (``questions_blind7.csv``): written after the first stage, before heldout6's misses were read; scored
  blind at 88.1% intent / 92.5% entities, then its misses were read and the fourth 2026-12-03 session tuned the parser
  on them: a development split now (100% / 100% after).
- ``heldout8`` (``questions_blind8.csv``): written and committed (cfd9bd7) in that fourth session before it read the
  parser's rules or any miss, and before its parser changes; left out of every run while the parser changed
  (``bench_ask.py --skip heldout8``) and scored once, at the end: 89.6% intent, 93.5% entities.  The fifth
  2026-12-03 session read its misses and wrote general rules for their classes: a development split now (100% /
  100% after).
- ``heldout9`` (``questions_blind9.csv``): written and committed (8a718e0) in the fifth session before it read the
  parser's code or any miss; absent from every run while the parser changed and scored once, at the end: 83.2%
  intent (79 of 95), 90.5% entities (86 of 95), the honest held-out figure, below the target.  Its author wrote the
  rules for heldout8's classes knowing heldout9's wording (the one extension that only heldout9 suggested, "the same
  peer group", was left out), so it is somewhat easier than a truly unseen set (RESULTS.md, 2026-12-03 fifth
  session).
- Since the fifth session's second change, every split is scored as ``svi ask`` parses: the rules with the learned
  intent model (analysis/ask/learned.py), the model fitted on every other split only (leave one split out;
  ``evaluate`` checks it).  Its settings were chosen by that cross-validation without heldout9, then heldout9 was
  scored: 89.5% intent (85 of 95), 93.7% entities (89 of 95), the honest figure now, still below the target
  (benchmarks/bench_ask_cv.py; RESULTS.md, 2026-12-03 fifth session, learned model).  The model costs the tuned
  splits a few questions the rules had learnt (heldout5's bound is lower), and wins back most of what the rules
  missed on each blind split as first written.
- ``heldout10`` (``questions_blind10.csv``): written and committed (fa6bf4f) in the sixth session before it read the
  parser's code (parse.py, lexicon.py, learned.py) or any existing question's wording or misses; registered so that
  it is scored, like every split, by the model fitted without it, and scored once with the code as it stood: 95.9%
  intent (117 of 122), 94.3% entities (115 of 122) as svi ask parses, 88.5% / 92.6% by the rules alone, the honest
  figure.  Adding it to the other splits' training sets moved heldout9 to 88 / 89 and heldout7 to 66 / 66 (one
  question lost by the model, the rules alone still right).  Then heldout9's and heldout10's misses were read and
  general rules written for their classes (constructed tests in test_parse.py): both are development splits now
  (heldout9 95 / 95, heldout10 121 / 121 after), and no split is both blind and untuned, so the target test skips
  until a new blind split is written (RESULTS.md, 2026-12-03 sixth session).
- ``heldout11`` (``questions_blind11.csv``): written and committed (69353ca) in the sixth session by a helper that
  read neither the parser's code nor any existing question's wording nor any miss (only the label columns' values);
  registered like heldout10 and scored once with the code as it stood: 97.8% intent (135 of 138), 98.6% entities
  (136 of 138) as svi ask parses, 95.7% / 97.8% by the rules alone.  It is the honest split, so the target test is
  a plain test now.  Adding it to the other splits' training sets moved heldout5 to 52 / 54 and heldout9 to 94 / 95
  (the learned model only: the rules alone are unchanged on both; RESULTS.md, 2026-12-03 sixth session, heldout11).
  The blind splits are held to what was measured on them (a regression bound: one more miss fails), not to the
  target; the target test checks the honest split alone (it skips while there is none; the tuned blind splits no
  longer say anything about the target).  Their misses are never printed here.

Accuracy needs the real trust list (the questions name trusts from all over England), so these tests skip without
the shared data; the frozen-set and scorer tests run anyway."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter

import pytest

from analysis.ask.evaluate import ENTITIES, evaluate, read_questions, with_preamble, with_typos
from analysis.ask.learned import QUESTION_DIR, QUESTION_FILES
from analysis.ask.parse import INTENTS

TARGET = 0.95
#: blind splits: questions with the intent / all entities right when they were measured (RESULTS.md, issue 17)
#: (as svi ask parses since the fifth 2026-12-03 session: the rules with the learned model, fitted without the split)
BLIND = {"heldout3": (39, 39), "heldout4": (118, 119), "heldout5": (52, 54), "heldout6": (74, 73),
         "heldout7": (66, 66), "heldout8": (77, 77), "heldout9": (94, 95), "heldout10": (121, 121),
         "heldout11": (135, 136)}
#: the honest held-out split: written blind and never tuned on (the target is measured on it); heldout11 since the
#: sixth 2026-12-03 session (None while no blind split is untuned)
HONEST = "heldout11"
#: question files (same columns); each blind set after heldout5 is a file of its own; the learned model is fitted on
#: the same files
FILES = QUESTION_FILES
#: the blind splits are frozen: these are sha256 digests of their rows as committed
FROZEN = {"heldout3": "2d318d3f94527fafbcf731efdc747c28995e032ec9f73f9749c268a9cc4fcbb6",
          "heldout4": "7688ff12d8b2ebc942f0fbe06075078d8f4a1a62d5372fe48eb7cc92d9faae38",
          "heldout5": "6c23f3cf723ef92e0d3393e5ebdae56b01d45c455ccd05790b240f5991794257",
          "heldout6": "fb85251ff99a6a43dc9bfe2095e91defbb2dfcfe194d2d78130074d51af13e2f",
          "heldout7": "8adc74f02e289d912c14d61f027ef0452f84180d9e9c7768b77417b5991ef5ad",
          "heldout8": "704a691cfa08c06d36380d0e29d36d725dca978d653e2d8c2ab8b66f96544be0",
          "heldout9": "0d396fb968ad055ac0418952b177d7fedd375b8ba83968f9ebe7c3f5a05f6a42",
          "heldout10": "2b5e0cda50dd03e569d184271447a333e3b6ec97d27af3183e3c8a0a64283d73",
          "heldout11": "1577a7931d5c7b9d2b81e669bb5b73291b3a033971861b298430f4403092f334"}


@pytest.fixture(scope="module")
def rows():
    return [r for f in FILES for r in read_questions(QUESTION_DIR / f)]


def test_the_set_covers_every_question_type(rows):
    assert len(rows) >= 150
    assert len({r["id"] for r in rows}) == len(rows)
    for split in ("dev", "heldout", "heldout4", "heldout5", "heldout6", "heldout7", "heldout8",
                  "heldout9", "heldout10", "heldout11"):
        n = Counter(r["intent"] for r in rows if r["split"] == split)
        assert set(n) == set(INTENTS), (split, set(INTENTS) - set(n))
    for r in rows:
        assert r["intent"] in INTENTS and r["question"].strip()
        assert all(k in r for k in ENTITIES)


@pytest.mark.parametrize("split", sorted(FROZEN))
def test_the_blind_sets_are_frozen(split):
    lines = []
    for f in FILES:
        with open(QUESTION_DIR / f, newline="", encoding="utf-8") as fh:
            lines += [",".join(r) for r in list(csv.reader(fh))[1:] if r[1] == split]
    assert lines, f"split {split} is missing"
    assert hashlib.sha256("\n".join(lines).encode()).hexdigest() == FROZEN[split], \
        f"the blind split {split} was edited; a blind set is scored as written (add new questions as a new split)"


@pytest.mark.parametrize("split", ["dev", "heldout", "dev2", "dev3"])
def test_accuracy(rows, real_reg, split):
    s = evaluate([r for r in rows if r["split"] == split], real_reg)
    # misses are listed on failure for dev splits only: the held-out questions are not for tuning
    detail = s.errors if split.startswith("dev") else f"{len(s.errors)} misses"
    assert s.intent_accuracy >= TARGET, detail
    assert s.entity_accuracy >= TARGET, detail


@pytest.mark.parametrize("split", sorted(BLIND))
def test_blind_accuracy_does_not_fall(rows, real_reg, split):
    s = evaluate([r for r in rows if r["split"] == split], real_reg)
    intent, entity = BLIND[split]
    assert s.intent_ok >= intent, f"{split}: intent right on {s.intent_ok} of {s.n}, {intent} when measured"
    assert s.entity_ok >= entity, f"{split}: entities right on {s.entity_ok} of {s.n}, {entity} when measured"


def test_blind_accuracy_meets_the_target(rows, real_reg):
    if HONEST is None:
        pytest.skip("issue 17: no blind split is untuned; heldout10 scored 95.9% intent, 94.3% entities when blind "
                    "(88.5% and 92.6% by the rules alone), then was tuned on; see benchmarks/RESULTS.md")
    s = evaluate([r for r in rows if r["split"] == HONEST], real_reg)
    assert s.n >= 60
    assert s.intent_accuracy >= TARGET and s.entity_accuracy >= TARGET, f"{len(s.errors)} misses"


def test_what_cannot_be_answered_is_still_refused(rows, real_reg):
    """"I can't answer that" with the learned model (each split scored by the model fitted without it): 42 of the 48
    out-of-scope questions refused and 1 answerable question refused when measured, against 45 and 16 by the rules
    alone (RESULTS.md, 2026-12-03 fifth session, learned model); 52 of 56 and 1 of 880 with heldout10, after the
    sixth session's rules; 58 of 64 and 1 of 1010 with heldout11.  A bound, so that a looser threshold is noticed."""
    s = evaluate(rows, real_reg)
    oos = sum(v for (want, got), v in s.confusion.items() if want == "out_of_scope")
    refused = s.confusion[("out_of_scope", "out_of_scope")]
    wrongly = sum(v for (want, got), v in s.confusion.items() if got == "out_of_scope" and want != "out_of_scope")
    assert oos >= 64 and refused >= 58 and wrongly <= 1, (refused, oos, wrongly)


def test_typo_robustness(rows, real_reg):
    """The development questions with one random typo each (evaluate.with_typos): 97.1% intent, 99.6% entities with
    the learned model fitted without each split (98.2% and 99.6% by the rules alone, which were tuned on these
    questions; RESULTS.md, 2026-12-03 fifth session)."""
    base = [r for r in rows if r["split"].startswith("dev") or r["split"] == "heldout"]
    s = evaluate(with_typos(base), real_reg)
    assert s.n > 250
    assert s.intent_accuracy >= TARGET and s.entity_accuracy >= TARGET, f"{len(s.errors)} misses"


def test_preamble_robustness(rows, real_reg):
    """The development questions behind an opening ("Quick question: "): 97.6% intent, 99.7% entities with the
    learned model fitted without each split (99.7% and 100% by the rules alone, tuned on these questions; RESULTS.md,
    2026-12-03 fifth session)."""
    base = [r for r in rows if r["split"].startswith("dev") or r["split"] == "heldout"]
    s = evaluate(with_preamble(base), real_reg)
    assert s.intent_accuracy >= TARGET and s.entity_accuracy >= TARGET, f"{len(s.errors)} misses"


def test_the_scorer_can_fail(rows, reg):
    """A wrong expectation is counted as a miss (the accuracy test is not vacuous)."""
    bad = [dict(r, intent="rank" if r["intent"] != "rank" else "cost", trust="XXX") for r in rows[:20]]
    s = evaluate(bad, reg)
    assert s.intent_ok == 0 and s.entity_ok == 0


def test_an_ask_back_is_not_counted_as_right(reg):
    """A question asked back ("did you mean X or Y?") is an intent miss, reported apart."""
    q = {"id": "x", "question": "What caused the drop?", "context": "RFF", "intent": "trend", "trust": "RFF",
         "other": None, "indicator": None, "setting": None, "topic": None}
    s = evaluate([q], reg, hybrid=False)
    assert (s.intent_ok, s.asked_back, s.asked_back_ok) == (0, 1, 1)

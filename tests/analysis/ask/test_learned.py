"""The learned intent model beside the rules (analysis/ask/learned.py): the combination policy, determinism, a split
never scored by a model that learnt from it, and questions it cannot place still refused.  Its accuracy is measured
by test_evaluation.py and benchmarks/bench_ask_cv.py (leave one split out)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from analysis.ask import learned
from analysis.ask.evaluate import evaluate, read_questions
from analysis.ask.learned import Hybrid, combine, fitted
from analysis.ask.parse import INTENTS, parse



def _p(best: str, p: float) -> dict:
    rest = (1 - p) / (len(INTENTS) - 1)
    return {i: (p if i == best else rest) for i in INTENTS}


def test_the_rules_stand_unless_they_leave_the_question_open_or_the_model_is_sure():
    tau, over = learned.TAU, learned.TAU_OVERRIDE
    assert 0 < tau < over <= 1
    # the rules placed it and the model is not sure enough to overrule them
    assert combine("rank", None, _p("trend", (tau + over) / 2), "fallback", tau, over) == ("rank", None)
    # ... or it is
    assert combine("rank", None, _p("trend", over), "fallback", tau, over) == ("trend", None)
    # the rules could not place it: the model does, when it is at least tau sure
    assert combine("out_of_scope", None, _p("cost", tau), "fallback", tau, over) == ("cost", None)
    # ... and when it is not, the question stays out of scope ("I can't answer that")
    assert combine("out_of_scope", None, _p("cost", tau - 0.01), "fallback", tau, over) == ("out_of_scope", None)
    # two intents too close for the rules: the model chooses
    assert combine("trend", "drivers", _p("drivers", tau), "fallback", tau, over) == ("drivers", None)
    assert combine("rank", None, _p("trend", 0.99), "rules", tau, over) == ("rank", None)
    assert combine("rank", None, _p("trend", 0.2), "model", 0.3, over) == ("out_of_scope", None)
    with pytest.raises(ValueError, match="unknown policy"):
        combine("rank", None, _p("trend", 0.5), "vote", tau, over)


def test_the_fit_is_deterministic(reg):
    a, b = Hybrid(reg), Hybrid(reg)
    qs = [learned.prepared(r["question"], reg) for r in learned.training_rows()[::40]]
    assert a.trained_ids == b.trained_ids and len(a.trained_ids) > 700
    assert a.model.proba(qs) == b.model.proba(qs)


def test_a_split_is_never_scored_by_a_model_that_learnt_it(reg):
    rows = [r for f in learned.QUESTION_FILES for r in read_questions(learned.QUESTION_DIR / f)]
    splits = set(r["split"] for r in rows)
    for split in ("heldout10", "dev"):
        sub = [r for r in rows if r["split"] == split]
        h = Hybrid(reg, exclude={split})
        assert not h.trained_ids & {r["id"] for r in sub}
        assert h.trained_splits == splits - {split}
        s = evaluate(sub[:5], reg)
        assert s.trained == {split: splits - {split}}
    # the exclusion matters: the model fitted on every split is another model
    q = learned.prepared(rows[-1]["question"], reg)
    assert fitted(reg).model.proba([q]) != fitted(reg, exclude={rows[-1]["split"]}).model.proba([q])


def test_the_model_learns_from_the_committed_question_files_only():
    assert learned.question_dir() == Path(learned.__file__).parent / "questions"
    from tests.analysis.ask.test_evaluation import FILES

    assert tuple(FILES) == learned.QUESTION_FILES
    src = Path(learned.__file__).read_text()
    assert not re.search(r"\bimport (pickle|joblib|dill)\b|\b(pickle|joblib|dill)\.load", src)


@pytest.mark.parametrize("q", ["Who is our chief executive?", "What's the weather like in Leeds tomorrow?",
                               "Can you book the boardroom for Tuesday?", "What is the capital of France?",
                               "Write me a poem about spring."])
def test_what_neither_places_is_still_out_of_scope(reg, q):
    p = parse(q, reg, context=None, hybrid=fitted(reg))
    assert p.intent == "out_of_scope", (p.intent, p.scores.get("model"))


def test_the_rules_alone_are_still_there(reg):
    q = "What's the weather like in Leeds tomorrow?"
    assert parse(q, reg).scores.get("model") is None
    assert parse(q, reg, hybrid=fitted(reg)).scores["model"]["rules"] == "out_of_scope"

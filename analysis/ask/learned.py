"""A learned intent classifier beside the rules (issue 17): TF-IDF of word and character n-grams and a multinomial
logistic regression, fitted on the labelled questions, and the policy that combines it with :func:`.parse.classify`.

The model is fitted from the committed question files when ``svi ask`` reads its tables (deterministic: the rows in
file order, a Newton solver with no random start), never loaded from a pickle, so it is reproducible from the
repository.  The policy
(:func:`combine`) and its settings were chosen by leave-one-split-out cross-validation without the honest split
(``benchmarks/bench_ask_cv.py``; benchmarks/RESULTS.md, 2026-12-03 fifth session, has the figures and the choice).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from analysis.errors import SVIError

#: the settings chosen by cross-validation (benchmarks/RESULTS.md)
C = 100.0
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)
POLICY = "fallback-ask"
TAU = 0.4
TAU_OVERRIDE = 0.8


@dataclass
class IntentModel:
    """Word and character n-gram TF-IDF features and a logistic regression over the intents."""

    C: float = C
    word_ngrams: tuple = WORD_NGRAMS
    char_ngrams: tuple | None = CHAR_NGRAMS

    def fit(self, texts: list[str], labels: list[str]) -> "IntentModel":
        from scipy.sparse import hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self._vecs = [TfidfVectorizer(analyzer="word", ngram_range=self.word_ngrams, sublinear_tf=True,
                                      token_pattern=r"(?u)\b\w[\w']*\b")]
        if self.char_ngrams:
            self._vecs.append(TfidfVectorizer(analyzer="char_wb", ngram_range=self.char_ngrams, sublinear_tf=True))
        x = hstack([v.fit_transform(texts) for v in self._vecs]).tocsr()
        self._hstack = hstack
        # newton-cg: the same objective as the default lbfgs, converged in a fraction of its time (RESULTS.md)
        self._lr = LogisticRegression(C=self.C, max_iter=1000, solver="newton-cg").fit(x, labels)
        self.classes = [str(c) for c in self._lr.classes_]
        return self

    def proba(self, texts: list[str]) -> list[dict[str, float]]:
        x = self._hstack([v.transform(texts) for v in self._vecs]).tocsr()
        return [dict(zip(self.classes, map(float, row))) for row in self._lr.predict_proba(x)]


def combine(rule_intent: str, unsure: str | None, proba: dict[str, float], policy: str, tau: float,
            tau_override: float = 1.1) -> tuple[str, str | None]:
    """The intent (and the intent to ask back about, if any) from the rules' answer and the model's probabilities.

    - ``rules``: the rules alone.
    - ``fallback``: the model places only what the rules leave open (out of scope, or asked back), when its best
      intent has probability ``tau`` or more; otherwise the rules' answer stands (out of scope stays "I can't answer
      that").  With ``tau_override`` <= 1 the model also overrules the rules when it is that sure of another intent.
    - ``fallback-ask``: as ``fallback``, but a question the rules ask back about stays asked back unless the model
      is ``tau_override`` sure.
    - ``model``: the model alone; below ``tau`` the question is out of scope.
    """
    best = max(proba, key=lambda k: (proba[k], k))
    p = proba[best]
    if policy == "rules":
        return rule_intent, unsure
    if policy == "model":
        return (best if p >= tau else "out_of_scope"), None
    if policy in ("fallback", "fallback-ask"):
        if (rule_intent == "out_of_scope" or unsure and policy == "fallback") and p >= tau:
            return best, None
        if best != rule_intent and p >= tau_override:
            return best, None
        return rule_intent, unsure
    raise ValueError(f"unknown policy {policy!r}: rules, fallback, fallback-ask or model")


#: the labelled question files the model is fitted on, in analysis/ask/questions/ (package data of analysis.ask,
#: the same place in a checkout and in the wheel; see pyproject.toml)
QUESTION_FILES = ("questions.csv", "questions_blind6.csv", "questions_blind7.csv", "questions_blind8.csv",
                  "questions_blind9.csv", "questions_blind10.csv", "questions_blind11.csv")


#: where they are: package data beside this module
QUESTION_DIR = Path(__file__).resolve().parent / "questions"


def question_dir() -> Path:
    """Where the labelled questions are (:data:`QUESTION_DIR`, in a checkout and in the installed wheel alike)."""
    d = QUESTION_DIR
    if not all((d / f).is_file() for f in QUESTION_FILES):
        raise SVIError(f"the labelled questions svi ask learns from are missing from {d} ({', '.join(QUESTION_FILES)}"
                       f"): reinstall svi, or run it from a complete source checkout")
    return d


def training_rows(exclude: frozenset | set | tuple = ()) -> list[dict]:
    """Every labelled question (id, split, question, intent) but those of the splits in ``exclude``."""
    d = question_dir()
    rows = []
    for f in QUESTION_FILES:
        with open(d / f, newline="", encoding="utf-8") as fh:
            rows += [r for r in csv.DictReader(fh) if r["split"] not in exclude]
    return rows


def prepared(question: str, register) -> str:
    """The question as the rules' intent classifier reads it (normalised, misspellings corrected, opening stripped):
    the model reads the same text."""
    from analysis.ask.parse import normalise, spell, strip_preamble

    return strip_preamble(spell(normalise(question), register))


class Hybrid:
    """The rules and the learned model together: :func:`combine` with the settings chosen by cross-validation,
    the model fitted on every labelled question except those of the splits in ``exclude`` (a split being scored is
    never in its own training set: :func:`analysis.ask.evaluate.evaluate` passes it here)."""

    def __init__(self, register, exclude=(), policy: str = POLICY, tau: float = TAU,
                 tau_override: float = TAU_OVERRIDE):
        rows = training_rows(frozenset(exclude))
        if not rows:
            raise SVIError("svi ask has no labelled questions to learn from once the excluded splits are left out")
        self.exclude = frozenset(exclude)
        self.trained_ids = frozenset(r["id"] for r in rows)
        self.trained_splits = frozenset(r["split"] for r in rows)
        self.policy, self.tau, self.tau_override = policy, tau, tau_override
        self.model = IntentModel().fit([prepared(r["question"], register) for r in rows], [r["intent"] for r in rows])

    def decide(self, text: str, rule_intent: str, unsure: str | None) -> tuple[str, str | None, dict]:
        """(intent, intent to ask back about or None, the model's probabilities) for a prepared ``text``."""
        proba = self.model.proba([text])[0]
        intent, unsure = combine(rule_intent, unsure, proba, self.policy, self.tau, self.tau_override)
        return intent, unsure, proba


_FITTED: dict = {}


def fitted(register, exclude=()) -> Hybrid:
    """A :class:`Hybrid` for ``register`` without the splits in ``exclude``, fitted once per process (the register
    is kept with it, so its id is never reused for another)."""
    key = (id(register), frozenset(exclude))
    if key not in _FITTED:
        _FITTED[key] = (register, Hybrid(register, exclude))
    return _FITTED[key][1]

"""`svi ask` benchmark: parser accuracy on the evaluation set, and the time of one answer.

    python benchmarks/bench_ask.py                   # intent and entity accuracy (dev and held-out), confusion table
    python benchmarks/bench_ask.py --out RESULTS     # also time answers on a results directory
    python benchmarks/bench_ask.py --errors          # list every miss (dev only unless --show-heldout)
    python benchmarks/bench_ask.py --confusion heldout9   # also one split's confusion table
    python benchmarks/bench_ask.py --rules           # the rules alone (no learned model)

Splits: ``dev`` (rules developed on it), ``heldout`` (written with dev, before the parser), ``dev2`` (a second set
written after the parser: scored blind once, then used for development), ``heldout3`` (written after that, scored
blind), ``heldout4`` (written before the issue-17 word layer, blind), ``dev3`` (written with heldout4 to tune the word
layer on) and ``heldout5`` (written after the word layer, blind); ``heldout6`` (analysis/ask/questions/
questions_blind6.csv, written for the 2026-12-03 scored intent classifier before any parser change, blind; then tuned
on) and ``heldout7``
(questions_blind7.csv, written after the first stage and before reading heldout6's misses, blind; tuned on in the
fourth 2026-12-03 session) and ``heldout8`` (questions_blind8.csv, written blind before that session's parser changes;
``--skip heldout8`` left it out while the parser changed; tuned on in the fifth session) and ``heldout9``
(questions_blind9.csv, written and committed in the fifth session before it read the parser, left out until its
parser changes were done and scored once; tuned on in the sixth session) and ``heldout10`` (questions_blind10.csv,
written and committed in the sixth session before it read the parser, scored once, then tuned on) and ``heldout11``
(questions_blind11.csv, written blind by a helper in the sixth session and scored once: the honest split).  Each split is
scored as `svi ask` parses (the rules with the learned intent model of analysis/ask/learned.py) with the model fitted
on every *other* split (leave one split out), beside
the rules alone; ``--rules`` scores the rules alone throughout.  benchmarks/bench_ask_cv.py has the full
cross-validation (the blind splits as first written, the choice of the model's settings).  The trust names are read
from the shared data (--data-dir, $SVI_SHARED_DATA or ../shared/data).  The held-out questions are scored, never
listed by default: looking at their misses while changing the parser would make them development questions.
Figures go to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analysis.ask.evaluate import (acute_trust_pairs, confusion_table, evaluate, read_questions,  # noqa: E402
                                   register_of, with_preamble, with_typos)

from analysis.ask.learned import QUESTION_FILES  # noqa: E402  (a new blind set goes in a file of its own)

QDIR = REPO / "analysis" / "ask" / "questions"


def data_dir(given: Path | None) -> Path:
    """--data-dir, else $SVI_SHARED_DATA, else ../shared/data beside the checkout (the trust names are read from
    the shared data, never copied into the repository)."""
    import os

    d = given or Path(os.environ.get("SVI_SHARED_DATA") or REPO.parent / "shared" / "data")
    if not (d / "raw").is_dir():
        sys.exit(f"bench_ask: {d} holds no raw/: pass --data-dir with the shared data (the evaluation questions name "
                 f"trusts from its acute-trust list)")
    return d


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, help="results directory to time answers on")
    ap.add_argument("--errors", action="store_true")
    ap.add_argument("--show-heldout", action="store_true")
    ap.add_argument("--data-dir", type=Path, help="data directory holding raw/ (default: ../shared/data)")
    ap.add_argument("--skip", action="append", default=[], metavar="SPLIT",
                    help="leave a split out (repeatable): a blind set not yet to be scored, while the parser changes")
    ap.add_argument("--rules", action="store_true", help="the rules alone (default: as svi ask parses, the rules "
                    "with the learned model, fitted without the split scored)")
    ap.add_argument("--confusion", action="append", default=[], metavar="SPLIT",
                    help="also print this split's confusion table (repeatable)")
    a = ap.parse_args()
    rows = [r for f in QUESTION_FILES for r in read_questions(QDIR / f) if r["split"] not in a.skip]
    reg = register_of(acute_trust_pairs(data_dir(a.data_dir)))
    splits = list(dict.fromkeys(r["split"] for r in rows))
    for split in splits + [None]:
        sub = [r for r in rows if split is None or r["split"] == split]
        r0 = evaluate(sub, reg, hybrid=False)
        t0 = time.perf_counter()
        s = evaluate(sub, reg, hybrid=not a.rules)
        dt = (time.perf_counter() - t0) / len(sub)
        print(f"{split or 'all':8s} n={s.n:4d}  intent {s.intent_accuracy:6.1%}  entities {s.entity_accuracy:6.1%}"
              f"  (rules alone {r0.intent_accuracy:6.1%} {r0.entity_accuracy:6.1%})"
              f"  asked back {s.asked_back:3d} ({s.asked_back_ok} offering the right intent)"
              f"  ({1000 * dt:.2f} ms a question)")
        if split is None or split in a.confusion:
            print(confusion_table(s))
        if a.errors and split and (split.startswith("dev") or a.show_heldout):
            for e in s.errors:
                print("   ", e)
    # typo robustness: the development questions (dev*, heldout) with one random typo each
    base = [r for r in rows if r["split"].startswith("dev") or r["split"] == "heldout"]
    t, c = evaluate(with_typos(base), reg, hybrid=not a.rules), evaluate(base, reg, hybrid=not a.rules)
    print(f"typos    n={t.n:4d}  intent {t.intent_accuracy:6.1%}  entities {t.entity_accuracy:6.1%}"
          f"  (the same questions without the typo: {c.intent_accuracy:.1%}, {c.entity_accuracy:.1%})")
    t = evaluate(with_preamble(base), reg, hybrid=not a.rules)
    print(f"preamble n={t.n:4d}  intent {t.intent_accuracy:6.1%}  entities {t.entity_accuracy:6.1%}"
          f"  (the same questions with an opening such as 'Quick question: ')")
    if a.out:
        from analysis.ask import Asker

        t0 = time.perf_counter()
        asker = Asker.open(a.out)
        load = time.perf_counter() - t0
        times = []
        code = asker.book.codes()[0]
        for r in rows:
            t0 = time.perf_counter()
            asker.ask(r["question"], trust=r["context"] or code)
            times.append(time.perf_counter() - t0)
        print(f"load {load:.2f} s; answer median {1000 * statistics.median(times):.1f} ms, "
              f"max {1000 * max(times):.1f} ms over {len(times)} questions")
    return 0


if __name__ == "__main__":
    sys.exit(main())

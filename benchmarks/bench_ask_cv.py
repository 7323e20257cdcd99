"""`svi ask`: leave-one-split-out cross-validation of the learned intent classifier beside the rules (issue 17).

    python benchmarks/bench_ask_cv.py --data-dir /work/shared/data            # choose the settings without heldout11
    python benchmarks/bench_ask_cv.py --data-dir /work/shared/data --final    # then score every split, heldout11 too

For each split S the classifier (analysis/ask/learned.py) is fitted on every other split only and S is scored: the
rules alone against the rules and the classifier combined (learned.combine), intent and entity accuracy (entities
are always read by the rules, with the intent the combination chose).  The rules themselves were tuned on every split
but the honest one (HONEST), so on those splits the rules' own figures are not held-out figures; the blind splits
are therefore also scored *as first written* (FIRST_WRITTEN): with the parser of the commit at which each was first
scored blind (extracted with ``git archive`` into a temporary directory), the classifier fitted on the other splits
as that parser reads them.  Without ``--final`` the honest split is left out of every fit and every score, and the
settings (features, C, policy, thresholds) are chosen on the pooled intent accuracy of the other splits (the blind
ones as first written); ``--final`` then reports every split with the chosen settings (learned.py), the honest split
scored by the classifier fitted on all the others.
Figures go to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QDIR = REPO / "analysis" / "ask" / "questions"
#: analysis.ask.learned.QUESTION_FILES, written out: the worker imports the parser of an older commit, which a
#: prior import of this checkout's analysis package would shadow
QUESTION_FILES = ("questions.csv", "questions_blind6.csv", "questions_blind7.csv", "questions_blind8.csv",
                  "questions_blind9.csv", "questions_blind10.csv", "questions_blind11.csv")
#: the commit whose parser scored each blind split when it was first scored (RESULTS.md: 89.2%, 88.1%, 89.6%, 83.2%,
#: 88.5% by the rules alone)
FIRST_WRITTEN = {"heldout6": "3070128", "heldout7": "5db77cb", "heldout8": "8a718e0", "heldout9": "8101c13",
                 "heldout10": "fa6bf4f", "heldout11": "69353ca"}
HONEST = "heldout11"
ENTITIES = ("trust", "other", "indicator", "setting", "topic")


def worker(root: str, data_dir: str, out: str) -> None:
    """Under the parser in ``root``: every question's text as the classifier sees it (normalised, spelt, opening
    stripped: what parse.classify is given), the rules' intent, and whether the intent and entities come out right
    for the rules' intent and for each intent forced in their place."""
    sys.path.insert(0, root)
    import analysis.ask.parse as P
    from analysis.ask.evaluate import acute_trust_pairs, read_questions, register_of

    reg = register_of(acute_trust_pairs(data_dir))
    orig = P.classify
    state: dict = {}

    def classify(text, stems=None):
        intent, scores, unsure = orig(text, stems)
        state["text"], state["rule"] = text, (intent, unsure)
        if state.get("force"):
            return state["force"], scores, None
        return intent, scores, unsure

    P.classify = classify
    recs = []
    for f in QUESTION_FILES:
        for r in read_questions(QDIR / f):
            want = {k: r[k] for k in ENTITIES}
            state["force"] = None
            p = P.parse(r["question"], reg, context=r["context"])
            rec = {"id": r["id"], "split": r["split"], "label": r["intent"], "text": state["text"],
                   "rule": p.intent, "unsure": p.unsure, "rule_entities": p.entities() == want, "forced": {}}
            for x in P.INTENTS:
                state["force"] = x
                q = P.parse(r["question"], reg, context=r["context"])
                rec["forced"][x] = [q.intent, q.entities() == want]
            recs.append(rec)
    Path(out).write_text(json.dumps(recs))


def records(commit: str | None, data_dir: str, cache: Path) -> list[dict]:
    """The worker's records under the parser of ``commit`` (None: this checkout)."""
    import hashlib

    ask = [p for p in sorted((REPO / "analysis" / "ask").glob("*.py")) if p.name != "learned.py"]
    src = b"".join(p.read_bytes() for p in ask + [REPO / "models" / "indicators.py"])
    # the questions are part of the key: records cached before a split was added would lack it
    qs = hashlib.sha256(b"".join((QDIR / f).read_bytes() for f in QUESTION_FILES)).hexdigest()[:12]
    out = cache / f"{commit or 'head-' + hashlib.sha256(src).hexdigest()[:12]}-{qs}.json"
    if not out.exists():
        root = str(REPO)
        tmp = None
        if commit:
            tmp = tempfile.TemporaryDirectory()
            root = tmp.name
            arch = subprocess.run(["git", "-C", str(REPO), "archive", commit, "analysis", "models"], check=True,
                                  capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", root], input=arch, check=True)
        env = dict(os.environ, PYTHONPATH=root)
        subprocess.run([sys.executable, __file__, "--worker", root, "--data-dir", data_dir, "--worker-out", str(out)],
                       check=True, env=env, cwd=root)
        if tmp:
            tmp.cleanup()
    return json.loads(out.read_text())


def score(recs: list[dict], probas: list[dict] | None, policy: str, tau: float, tau_override: float) -> tuple:
    """(n, intent right, entities right, out of scope refused, out of scope, answerable refused, answerable) of
    ``recs`` under the combination."""
    from analysis.ask.learned import combine

    n = ok_i = ok_e = oos_ok = oos = bad_refusal = answerable = 0
    for k, r in enumerate(recs):
        if probas is None or policy == "rules":
            intent, unsure, ent = r["rule"], r["unsure"], r["rule_entities"]
        else:
            chosen, unsure = combine(r["rule"], r["unsure"], probas[k], policy, tau, tau_override)
            if chosen == r["rule"] and unsure == r["unsure"]:
                intent, ent = r["rule"], r["rule_entities"]
            else:
                intent, ent = r["forced"][chosen]
        n += 1
        ok_i += intent == r["label"] and not unsure
        ok_e += ent
        refused = intent == "out_of_scope" and not unsure
        if r["label"] == "out_of_scope":
            oos, oos_ok = oos + 1, oos_ok + refused
        else:
            answerable, bad_refusal = answerable + 1, bad_refusal + refused
    return n, ok_i, ok_e, oos_ok, oos, bad_refusal, answerable


def fold_probas(model_kw: dict, recs: list[dict], split: str, exclude: set) -> list[dict]:
    """The classifier fitted on every split but ``split`` (and ``exclude``), its probabilities on ``split``."""
    from analysis.ask.learned import IntentModel

    train = [r for r in recs if r["split"] != split and r["split"] not in exclude]
    test = [r for r in recs if r["split"] == split]
    assert not {r["id"] for r in train} & {r["id"] for r in test}
    m = IntentModel(**model_kw).fit([r["text"] for r in train], [r["label"] for r in train])
    return m.proba([r["text"] for r in test])


MODELS = {f"C={c} char={ch}": {"C": c, "char_ngrams": ch} for c in (1.0, 10.0, 100.0) for ch in ((2, 5), None)}
POLICIES = [(f, t, o) for f in ("fallback", "fallback-ask") for t in (0.0, 0.3, 0.4, 0.5, 0.6)
            for o in (1.1, 0.9, 0.8, 0.7)] + \
           [("model", t, 1.1) for t in (0.0, 0.2, 0.3, 0.4)]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=os.environ.get("SVI_SHARED_DATA") or str(REPO.parent / "shared" / "data"))
    ap.add_argument("--final", action="store_true",
                    help="score every split, the honest one too, with learned.py's settings")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "svi_bench_ask_cv")
    ap.add_argument("--worker")
    ap.add_argument("--worker-out")
    a = ap.parse_args()
    if a.worker:
        worker(a.worker, a.data_dir, a.worker_out)
        return 0
    a.cache.mkdir(parents=True, exist_ok=True)
    exclude = set() if a.final else {HONEST}
    head = records(None, a.data_dir, a.cache)
    first = {s: records(c, a.data_dir, a.cache) for s, c in FIRST_WRITTEN.items() if s not in exclude}
    splits = list(dict.fromkeys(r["split"] for r in head))
    scored = [s for s in splits if s not in exclude]
    # (view, split) -> the records scored: the current rules on every split; the blind ones also as first written
    views = {("now", s): (head, s) for s in scored}
    views.update({("first", s): (first[s], s) for s in FIRST_WRITTEN if s in scored})
    from analysis.ask import learned

    models = {"chosen": {"C": learned.C, "char_ngrams": learned.CHAR_NGRAMS}} if a.final else MODELS
    policies = [(learned.POLICY, learned.TAU, learned.TAU_OVERRIDE)] if a.final else POLICIES
    results = {}
    for mname, kw in models.items():
        probas = {v: fold_probas(kw, recs, s, exclude) for v, (recs, s) in views.items()}
        for pol in [("rules", 0, 1.1), ("model", 0.0, 1.1)] + policies:
            results[(mname, pol)] = {v: score([r for r in recs if r["split"] == s], probas[v], *pol)
                                     for v, (recs, s) in views.items()}

    def pooled(res, view_of):
        tot = [0] * 7
        for s in scored:
            v = (view_of(s), s)
            for i, x in enumerate(res[v]):
                tot[i] += x
        return tot

    # selection: pooled intent over the scored splits, the blind ones as first written
    sel = lambda s: "first" if s in FIRST_WRITTEN else "now"  # noqa: E731
    ranked = sorted(results, key=lambda k: (-pooled(results[k], sel)[1], -pooled(results[k], sel)[2]))
    print("settings ranked by pooled intent accuracy (blind splits as first written)" +
          ("" if a.final else f", {HONEST} left out of every fit and score") + ":")
    for k in ranked[:15] + [k for k in ranked if k[1][0] == "rules"][:1]:
        n, i, e, *_ = pooled(results[k], sel)
        print(f"  {k[0]:20s} {k[1][0]:8s} tau={k[1][1]:.2f} override={k[1][2]:.2f}  intent {i / n:6.1%}  "
              f"entities {e / n:6.1%}  (n={n})")
    best = ranked[0] if not a.final else next(iter(results))
    if a.final:
        best = ("chosen", policies[0])
    rules = (best[0], ("rules", 0, 1.1))
    print(f"\nper split, rules alone vs hybrid {best[0]} {best[1]} (classifier fitted without the split scored):")
    print("| split | view | n | rules intent | hybrid intent | rules entities | hybrid entities |")
    print("|---|---|---|---|---|---|---|")
    for v in sorted(views, key=lambda v: (splits.index(v[1]), v[0] != "now")):
        n, i0, e0, *_ = results[rules][v]
        _, i1, e1, *_ = results[best][v]
        print(f"| {v[1]} | {'as first written' if v[0] == 'first' else 'current rules'} | {n} | {i0 / n:.1%} "
              f"({i0}) | {i1 / n:.1%} ({i1}) | {e0 / n:.1%} ({e0}) | {e1 / n:.1%} ({e1}) |")
    for label, view_of in (("pooled, current rules", lambda s: "now"), ("pooled, blind splits as first written", sel)):
        n, i0, e0, *_ = pooled(results[rules], view_of)
        _, i1, e1, *_ = pooled(results[best], view_of)
        print(f"| {label} | | {n} | {i0 / n:.1%} | {i1 / n:.1%} | {e0 / n:.1%} | {e1 / n:.1%} |")
    blind = [s for s in scored if s in FIRST_WRITTEN or s == HONEST]
    for label, key in (("rules alone", rules), ("hybrid", best)):
        tot = [sum(results[key][(sel(s), s)][i] for s in blind) for i in range(7)]
        print(f"blind splits as first written ({', '.join(blind)}), {label}: intent {tot[1] / tot[0]:.1%} "
              f"({tot[1]} of {tot[0]}), entities {tot[2] / tot[0]:.1%} ({tot[2]})")
    for label, key in (("rules alone", rules), ("hybrid", best)):
        tot = pooled(results[key], sel)
        print(f"'I can't answer that', pooled as first written, {label}: {tot[3]} of {tot[4]} out-of-scope questions "
              f"refused, {tot[5]} of {tot[6]} answerable questions refused")
    n, i, e, *_ = pooled(results[(best[0], ("model", 0.0, 1.1))], sel)
    print(f"\nthe classifier alone (no threshold), pooled as first written: intent {i / n:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

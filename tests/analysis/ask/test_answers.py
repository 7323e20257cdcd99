"""Answers from a constructed results directory: every number grounded in the tables, provenance that re-reads,
the example questions, questions back, refusals, the prompt loop and the command line."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest

from analysis.ask.answer import HANDLERS
from analysis.ask.evaluate import read_questions
from analysis.ask.learned import QUESTION_DIR
from analysis.ask.facts import fmt, numbers_in, ungrounded
from analysis.ask.method import TOPICS, passage, raw_passage
from analysis.ask.session import run_session
from analysis.ask.source import GateRefusal
from analysis.cli import main
from analysis.errors import SVIError

CFO_Q = "Where are we spending most per adjusted admission compared to peers?"
SPEC_Q = "Which specialties are driving our cost position?"


@pytest.fixture(scope="module")
def answers(asker):
    """Every evaluation question answered, as asked (with its asker's trust), with the time each took (without the
    shared data, the questions whose asker is a trust of the hand-made fixture)."""
    out = []
    known = set(asker.book.codes())
    for r in read_questions(QUESTION_DIR / "questions.csv"):
        if r["context"] and r["context"] not in known:
            continue
        t0 = time.perf_counter()
        a = asker.ask(r["question"], trust=r["context"])
        out.append((r, a, time.perf_counter() - t0))
    return out


def _found(number: str, facts, quoted: str) -> bool:
    return not ungrounded(number, facts, quoted)


def test_every_number_in_every_answer_is_a_fact(answers):
    n_numbers = 0
    for r, a, _ in answers:
        nums = numbers_in(a.text)
        n_numbers += len(nums)
        for x in nums:
            assert _found(x, a.facts, a.quoted), (r["id"], x, a.text)
    assert n_numbers > 500  # the answers do carry numbers


def test_an_injected_number_is_caught(asker):
    a = asker.ask(CFO_Q, trust="RFF")
    assert a.ungrounded() == []
    a.text += " Peer spending is 12.34% higher."
    assert a.ungrounded() == ["12.34%"]
    # a fact's value in another unit or rounding is not a match either
    f = next(f for f in a.facts if f.kind == "pct")
    assert ungrounded(f"{f.value:.3f}%", a.facts) != []


def test_facts_re_read_from_their_table_rows(asker, results, answers):
    """Each fact read straight from a table cell names a row and columns that give back the same text."""
    tables = {}
    checked = 0
    for _, a, _ in answers:
        for f in a.facts:
            if not f.table.startswith("tables/") or f.derivation:
                continue
            name = f.table.split("/", 1)[1]
            t = tables.setdefault(name, pd.read_parquet(results / "tables" / f"{name}.parquet"))
            sel = t
            for k, v in f.row:
                sel = sel[sel[k] == v]
            assert len(sel) == 1, (f.key, f.row)
            vals = [sel.iloc[0][c] for c in f.columns]
            assert fmt(vals[0], f.kind) == f.v, f.key
            if len(vals) == 3:
                assert (fmt(vals[1], f.kind), fmt(vals[2], f.kind)) == tuple(f.interval.split(" to ")), f.key
            checked += 1
    assert checked > 300


def test_one_answer_takes_under_a_second(answers):
    assert max(dt for _, _, dt in answers) < 1.0


def test_every_answer_has_text_and_where_to_read(answers):
    for r, a, _ in answers:
        assert a.text.strip(), r["id"]
        if a.kind == "answer" and a.intent != "out_of_scope":
            assert a.read_next, r["id"]


def test_the_cfo_question(asker):
    a = asker.ask(CFO_Q, trust="RFF")
    assert (a.intent, a.entities["setting"], a.entities["other"]) == ("cost", "apc", "peers")
    first = a.text.splitlines()[1]
    assert first.startswith("- Admitted patient care (cost per case-mix-adjusted admission):")
    assert "95% interval" in first and "peer median" in first
    f = next(f for f in a.facts if f.key == "RFF.cost.apc")
    assert f.row == (("org_code", "RFF"), ("measure", "cost_residual_apc")) and f.table == "tables/value_index"
    assert any(f.key == "RFF.cost.apc.peer" for f in a.facts)
    d = a.as_dict()
    n = next(x for x in d["numbers"] if x["key"] == "RFF.cost.apc")
    assert n["interval95"] and n["source"]["row"]["measure"] == "cost_residual_apc"


def test_the_specialty_question(asker):
    a = asker.ask(SPEC_Q, trust="RFF")
    assert a.intent == "not_measured"
    assert "cannot answer that" in a.text and "specialty" in a.text
    for setting in ("Admitted patient care", "Outpatients", "A&E"):
        assert f"- {setting}" in a.text
    assert a.facts


def test_questions_back_when_a_name_is_ambiguous(asker):
    a = asker.ask("How is Liverpool doing?")
    assert a.kind == "clarify" and a.candidates == ["RBQ", "REM", "REP"]
    assert "Which trust do you mean" in a.text
    b = asker.ask("How is Liverpool doing?", overrides={"trust": "REM"})
    assert b.kind == "answer" and b.entities["trust"] == "REM"
    c = asker.ask("How are we doing on value?")
    assert c.kind == "clarify" and "--trust" in c.text


def test_out_of_scope_offers_three_questions(asker):
    a = asker.ask("Who is our chief executive?", trust="RFF")
    assert a.kind == "cannot" and a.text.startswith("I can't answer that from the index.")
    assert sum(line.startswith("- ") for line in a.text.splitlines()) == 3


def test_trend_is_honest_until_a_trend_table_exists(asker, copy_results):
    a = asker.ask("How has our value index changed since last year?", trust="RFF")
    assert a.intent == "trend" and "one year so far" in a.text
    t = pd.DataFrame({"org_code": ["RFF", "RFF"], "period": ["2024/25", "2025/26"], "measure": "value_index",
                      "median": [0.1, 0.3], "lo95": [-0.2, 0.0], "hi95": [0.4, 0.6]})
    t.to_parquet(copy_results / "tables" / "trend.parquet")
    from analysis.ask import Asker

    b = Asker.open(copy_results).ask("Are we improving?", trust="RFF")
    assert "2024/25: +0.10 (95% interval -0.20 to +0.40)" in b.text and b.ungrounded() == []


def test_every_method_topic_is_found_in_the_paper():
    for topic, spots in TOPICS.items():
        for name, start, _ in spots:
            assert raw_passage(name, start)
        text, where = passage(topic)
        assert len(text) > 80 and where, topic
        assert "{{<" not in text and "$" not in text


def test_method_answer_quotes_the_paper(asker):
    a = asker.ask("How is trapped value calculated?", trust="RFF")
    assert a.intent == "method" and a.text.startswith("From the paper:")
    assert "peer-group median" in a.text and a.quoted


def test_handlers_cover_every_intent():
    from analysis.ask.parse import INTENTS

    assert set(HANDLERS) == set(INTENTS)


# ------------------------------------------------------------------------------------------ refusals


def test_failed_gate_is_refused(copy_results):
    from analysis.ask import Asker

    (copy_results / "tables" / "UNPUBLISHABLE").write_text("convergence gate FAILED: 3 divergences\n")
    with pytest.raises(GateRefusal, match="failed the convergence gate"):
        Asker.open(copy_results)


@pytest.mark.parametrize("gate", [{"passed": False, "failing": ["sd0[shmi]"]}, None, "not json"])
def test_gate_json_failed_or_missing_is_refused(copy_results, gate, capsys):
    g = copy_results / "fit" / "gate.json"
    if gate is None:
        g.unlink()
    else:
        g.write_text(json.dumps(gate) if isinstance(gate, dict) else gate)
    rc = main(["ask", "Is RFF good value?", "--out", str(copy_results)])
    err = capsys.readouterr().err
    assert rc == 2 and "gate" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1  # one paragraph


def test_unknown_trust_option_is_one_paragraph(results, capsys):
    rc = main(["ask", "How are we doing?", "--trust", "Atlantis General", "--out", str(results)])
    err = capsys.readouterr().err
    assert rc == 2 and "not a trust" in err and "Traceback" not in err


# ------------------------------------------------------------------------------------------ interfaces


def test_cli_answers_and_json(results, capsys):
    assert main(["ask", CFO_Q, "--trust", "barnsley", "--out", str(results)]) == 0
    out = capsys.readouterr().out
    assert "Admitted patient care" in out and "Read next:" in out
    assert main(["ask", SPEC_Q, "--trust", "RFF", "--out", str(results), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["intent"] == "not_measured" and d["numbers"] and all("source" in n for n in d["numbers"])


def test_prompt_loop_with_history_and_follow_up(asker):
    lines = iter(["How is Liverpool doing?", "the women's one", "history", "trust Rotherham",
                  "where do we rank?", "json", "quit"])
    shown: list[str] = []
    hist = run_session(asker, "RFF", read=lambda prompt: next(lines), echo=shown.append)
    text = "\n".join(shown)
    assert "Which trust do you mean" in text
    assert "Liverpool Women's (REP)" in text.split("Which trust do you mean")[1]
    assert "1. How is Liverpool doing?" in text
    assert "now answering about Rotherham (RFR)" in text and "Rotherham (RFR), rank" in text
    assert '"intent": "rank"' in text
    assert hist == ["How is Liverpool doing?", "the women's one", "where do we rank?"]


def test_prompt_loop_ends_at_end_of_input(asker):
    def eof(prompt):
        raise EOFError

    assert run_session(asker, None, read=eof, echo=lambda s: None) == []


def test_ungrounded_template_is_a_bug_not_an_answer(asker, monkeypatch):
    """If a template ever wrote a number of its own, the answer is refused with an error, never shown."""
    from analysis.ask import answer as ans

    def bad(book, p, s):
        s("We estimate 42 wards need attention.")

    monkeypatch.setitem(ans.HANDLERS, "rank", bad)
    with pytest.raises(SVIError, match="not found among its facts"):
        asker.ask("Where do we rank?", trust="RFF")


def test_an_unclear_kind_of_question_is_asked_back(asker):
    a = asker.ask("What caused the drop?", trust="RFF")
    assert a.kind == "clarify" and a.facts == [] and a.ungrounded() == []
    assert "movement over time" in a.text and "what drives the value position" in a.text


def test_a_fixed_trapped_value_is_given_without_an_interval(asker, copy_results):
    """A positive gap the same in every draw (a peer group without need adjustment) is not given a zero-width
    '95% interval', and the answer says why; an ordinary trust keeps its intervals."""
    q = "Where is our trapped value?"
    assert "95% interval" in asker.ask(q, trust="RFF").text
    path = copy_results / "tables" / "trapped_value.parquet"
    t = pd.read_parquet(path)
    mine = t.org_code == "RFF"
    t.loc[mine, "mean"] = t.loc[mine, "mean"].clip(lower=0) + 1.0
    for c in ("median", "lo95", "lo80", "hi80", "hi95"):
        t.loc[mine, c] = t.loc[mine, "mean"]
    t.to_parquet(path)
    from analysis.ask import Asker

    a = Asker.open(copy_results).ask(q, trust="RFF")
    assert a.intent == "trapped_value" and "95% interval" not in a.text
    assert any("same in every posterior draw" in c for c in a.caveats) and a.ungrounded() == []

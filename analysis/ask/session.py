"""The interactive prompt of `svi ask` (a person at a terminal): a loop with history and follow-up answers.

Type a question; ``history`` lists the questions asked, ``trust CODE`` changes the trust, ``json`` shows the last
answer's structured form, ``quit`` (or end of input) leaves.  After a question back ("Which trust do you mean?"),
a reply naming one of the trusts answers the original question.
"""

from __future__ import annotations

import json
from typing import Callable

from analysis.errors import SVIError

HELP = ("Ask about value, cost, trapped value, drivers, ranks, mortality, waiting times, A&E, patient experience, "
        "peers, or the method. Commands: history, trust CODE, json, help, quit.")


def run_session(asker, trust: str | None, read: Callable[[str], str] = input, echo: Callable[[str], None] = print,
                as_json: bool = False) -> list[str]:
    """Answer questions until ``quit`` or end of input; returns the history."""
    try:  # line editing and up-arrow history where the platform has it
        import readline  # noqa: F401
    except ImportError:  # pragma: no cover
        pass
    code = asker.resolve(trust)
    history: list[str] = []
    pending = None  # (question, the trusts offered) after a question back
    last = None
    who = f" about {asker.book.name(code)} ({code})" if code else ""
    echo(f"svi ask: results in {asker.run.out}, {asker.run.period}{who}. {HELP}")
    while True:
        try:
            line = read(f"ask{f' {code}' if code else ''}> ").strip()
        except (EOFError, KeyboardInterrupt):
            echo("")
            return history
        if not line:
            continue
        low = line.lower()
        if low in ("quit", "exit", "q", ":q", "bye"):
            return history
        if low == "help":
            echo(HELP)
            continue
        if low == "history":
            echo("\n".join(f"{i + 1}. {q}" for i, q in enumerate(history)) or "(no questions yet)")
            continue
        if low == "json":
            echo(json.dumps(last.as_dict(), indent=2, ensure_ascii=False) if last else "(no answer yet)")
            continue
        if low.startswith("trust "):
            try:
                code = asker.resolve(line[6:])
                echo(f"now answering about {asker.book.name(code)} ({code})")
            except SVIError as exc:
                echo(str(exc))
            continue
        overrides = None
        question = line
        if pending is not None:
            q0, offered = pending
            ms = asker.register.find(line)
            picked = [c for m in ms for c in m.codes if c in offered] or \
                     [c for c in offered if c.lower() == low.strip(" .")]
            if len(picked) == 1:
                question, overrides = q0, {"trust": picked[0], "other": picked[0]}
        pending = None
        history.append(line)
        try:
            ans = asker.ask(question, trust=code, overrides=overrides)
        except SVIError as exc:
            echo(f"svi ask: {exc}")
            continue
        last = ans
        if ans.kind == "clarify" and ans.candidates:
            pending = (question, ans.candidates)
        echo(json.dumps(ans.as_dict(), indent=2, ensure_ascii=False) if as_json else ans.render())

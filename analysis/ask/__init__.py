"""`svi ask`: grounded answers to a board's questions, from a run's result tables.

    from analysis.ask import Asker
    asker = Asker.open("results")                       # reads tables, panel, gate (refuses a failed gate)
    a = asker.ask("Where are we spending most per adjusted admission compared to peers?", trust="RFF")
    a.text, a.facts, a.caveats, a.read_next             # a.as_dict() for JSON

Modules: :mod:`.source` (the one reader of a results directory), :mod:`.facts` (tables -> numbers with provenance,
one formatting function, the grounding check), :mod:`.names` (trust names in any spelling), :mod:`.parse` (intent and
entities), :mod:`.learned` (the learned intent model beside the rules), :mod:`.answer` (templates), :mod:`.method`
(the paper's own text), :mod:`.llm` (optional phrasing by an OpenAI-compatible endpoint), :mod:`.session` (the
interactive prompt).
"""

from __future__ import annotations

from pathlib import Path

from analysis.errors import SVIError

__all__ = ["Asker", "ask"]


class Asker:
    """Answers questions about one results directory (tables read once; each answer is a few look-ups)."""

    def __init__(self, run):
        from analysis.ask.facts import FactBook
        from analysis.ask.names import Register
        from analysis.ask.parse import STOP

        self.run = run
        self.book = FactBook(run)
        self.register = Register.from_pairs(self.book.info.org_name.items(), stop=STOP)
        import analysis.report.text  # noqa: F401  (the name formatter; its package imports PyMC, seconds on a busy
        # machine: paid with the tables, not inside the first answer)
        from analysis.ask.lexicon import _english

        _english()  # the spelling dictionary loads with the tables (about 0.5 s), not inside the first answer
        from analysis.ask.learned import Hybrid

        # the learned intent model beside the rules, fitted on the labelled questions when the tables are read (no
        # pickle: reproducible from the question files); parse() uses it (benchmarks/RESULTS.md, issue 17)
        self.hybrid = Hybrid(self.register)

    @classmethod
    def open(cls, out: str | Path) -> "Asker":
        from analysis.ask.source import load

        return cls(load(out))

    def resolve(self, trust: str | None) -> str | None:
        """``--trust`` as a code or a name; an unknown or ambiguous one is an error that lists the choices."""
        if trust is None or not str(trust).strip():
            return None
        t = str(trust).strip()
        if t.upper() in self.book.info.index:
            return t.upper()
        ms = self.register.find(t)
        if len(ms) == 1 and not ms[0].ambiguous:
            return ms[0].codes[0]
        if ms and ms[0].ambiguous:
            opts = ", ".join(f"{self.book.name(c)} ({c})" for c in ms[0].codes)
            raise SVIError(f"--trust {t!r} fits more than one trust: {opts}. Give the ODS code.")
        raise SVIError(f"--trust {t!r} is not a trust in {self.run.out} (give an ODS code such as "
                       f"{self.book.codes()[0]}, or a name as published).")

    def ask(self, question: str, trust: str | None = None, overrides: dict | None = None, llm: bool = True):
        """A structured :class:`~analysis.ask.answer.Answer` to ``question``; ``trust`` is the asker's own trust."""
        from analysis.ask.answer import HANDLERS, NO_TRUST, Answer, Say, cannot
        from analysis.ask.parse import parse

        context = self.resolve(trust)
        p = parse(question, self.register, context=context, hybrid=self.hybrid)
        for k, v in (overrides or {}).items():
            if getattr(p, k) == "?":
                setattr(p, k, v)
        s = Say()
        kind, cands, quoted = "answer", [], ""
        if p.trust == "?" or p.other == "?":
            which = "trust" if p.trust == "?" else "other"
            cands = p.candidates.get(which, [])
            names = [f"{self.book.name(c)} ({c})" for c in cands]
            opts = ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names)
            s(f"Which trust do you mean: {opts}? Reply with the name or the code.")
            kind = "clarify"
        elif p.unsure:  # two kinds of question scored too close to choose: ask, rather than guess
            from analysis.ask.answer import KINDS

            (la, ea), (lb, eb) = KINDS[p.intent], KINDS[p.unsure]
            s(f"I'm not sure whether you're asking about {la} or about {lb}. Could you say which? For example: "
              f"\"{ea}\" or \"{eb}\"")
            kind = "clarify"
        elif p.trust is None and p.intent not in NO_TRUST:
            s("Which trust is this about? Name it in the question (\"How is Barnsley doing?\") or give your own trust "
              "with --trust and its ODS code.")
            kind = "clarify"
        else:
            quoted = HANDLERS[p.intent](self.book, p, s) or ""
            if p.intent == "out_of_scope":
                kind = "cannot"
        if self.run.kind == "synthetic" and kind == "answer":
            s.caveats.append("These results come from the synthetic panel (simulated trusts), not real NHS data.")
        a = Answer(question, p.intent, p.entities(), s.text(), kind, s.facts, list(dict.fromkeys(s.caveats)),
                   s.read, quoted=quoted, candidates=cands)
        if a.ungrounded():  # a template bug must not reach a board: refuse rather than show an unsourced number
            raise SVIError(f"internal check failed: the answer to {question!r} holds numbers not found among its "
                           f"facts ({', '.join(a.ungrounded())}). This is a bug in svi ask; please report it.")
        if llm and kind == "answer":
            from analysis.ask.llm import maybe_rephrase

            maybe_rephrase(a)
        return a


def ask(question: str, trust: str | None = None, out: str | Path = "results"):
    """One question against the results directory ``out``: the structured answer."""
    return Asker.open(out).ask(question, trust=trust)

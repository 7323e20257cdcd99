"""The "fixed gap" rule of trapped value, in a module of its own with no heavy imports: the documents
(:mod:`analysis.report.trapped`) and ``svi ask`` (:mod:`analysis.ask.answer`) both use it, and importing
:mod:`analysis.report` or :mod:`analysis.summaries` would add seconds to ``svi ask``'s start-up (pandas, PyMC)."""

from __future__ import annotations

from typing import Iterable


def fixed_gap(rows: Iterable[tuple]) -> bool:
    """Whether a trust's cost gaps, ``(estimate, lo95, hi95)`` per setting, are the same in every posterior draw:
    every 95% interval has zero width and some gap is above 0 (a peer group without need adjustment, costs taken as
    reported; every draw at zero is the ordinary case of a trust at or below its benchmark).  No rows: not fixed."""
    rows = list(rows)
    return (bool(rows) and all(lo is not None and lo == hi for _, lo, hi in rows)
            and any(v > 0 for v, _, _ in rows))

"""The one "fixed gap" rule (analysis/cost_gap.py) that the documents and ``svi ask`` share."""

from __future__ import annotations

import subprocess
import sys

from analysis.cost_gap import fixed_gap


def test_a_positive_gap_with_no_interval_is_fixed():
    assert fixed_gap([(1.5e6, 1.5e6, 1.5e6), (0.0, 0.0, 0.0)])


def test_an_interval_of_any_width_is_not_fixed():
    assert not fixed_gap([(1.5e6, 1.5e6, 1.5e6), (2e5, 1e5, 3e5)])
    assert not fixed_gap([(1.5e6, None, None)])


def test_every_draw_at_zero_is_the_ordinary_case_not_a_fixed_gap():
    assert not fixed_gap([(0.0, 0.0, 0.0), (0.0, 0.0, 0.0)])


def test_no_rows_is_not_fixed():
    assert not fixed_gap([])
    assert not fixed_gap(iter(()))


def test_the_documents_and_svi_ask_use_this_rule():
    import analysis.ask.answer as answer
    import analysis.report.trapped as trapped

    assert answer.fixed_gap is fixed_gap and trapped.fixed_gap is fixed_gap


def test_the_rule_module_is_light():
    """svi ask imports it: it must not pull in pandas, PyMC or the report package."""
    code = ("import sys, analysis.cost_gap; bad = [m for m in ('pandas', 'pymc', 'analysis.report', "
            "'analysis.summaries') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

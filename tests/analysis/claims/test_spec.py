"""The verdict rule."""

import pytest

from analysis import claims as C

# ----------------------------------------------------------------------------- verdict rule

@pytest.mark.parametrize("p, expected", [
    (1.0, (C.SUPPORTED, "strong evidence for")),
    (C.SUPPORT_P, (C.SUPPORTED, "strong evidence for")),
    (C.SUPPORT_P - 1e-9, (C.NOT_SUPPORTED, "inconclusive")),
    (0.5, (C.NOT_SUPPORTED, "inconclusive")),
    (C.AGAINST_P + 1e-9, (C.NOT_SUPPORTED, "inconclusive")),
    (C.AGAINST_P, (C.NOT_SUPPORTED, "strong evidence against")),
    (0.0, (C.NOT_SUPPORTED, "strong evidence against")),
    (None, (C.NOT_TESTABLE, "-")),
    (float("nan"), (C.NOT_TESTABLE, "-")),
])
def test_verdict_rule_edges(p, expected):
    assert C.verdict(p) == expected


def test_verdict_rule_text_states_the_thresholds():
    t = C.verdict_rule_text()
    assert f"{C.SUPPORT_P:g}" in t and f"{C.AGAINST_P:g}" in t and f"{C.ABOUT_FACTOR:g}" in t

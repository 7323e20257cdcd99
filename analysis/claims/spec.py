"""The claims, the verdict rule and the scenarios (the primary analysis and its sensitivity checks)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Claim:
    id: int
    short: str
    text: str
    k: int | None                 # number of largest trusts the claim names
    claimed: float | None         # the claimed number (claims 2, 3)
    unit: str


CLAIMS: dict[int, Claim] = {c.id: c for c in (
    Claim(1, "13 largest less productive", "The 13 largest acute trusts (each over £1.5bn annual operating expenditure) "
          "deliver lower productivity than the 104 smaller ones.", 13, None, "ratio"),
    Claim(2, "£8bn from the 13 largest", "Bringing those 13 to the smaller trusts' productivity would save about £8bn "
          "a year.", 13, 8000.0, "GBP m"),
    Claim(3, "1,800 lives at the 11 largest", "Improving outcome performance of the 11 largest trusts would save about "
          "1,800 lives a year.", 11, 1800.0, "deaths"),
    Claim(4, "lowest in region = largest", "In every region of England the lowest-performing trust is the largest or "
          "second-largest.", 2, None, "regions"),
    Claim(5, "Barnsley #1", "Barnsley ranks #1 on the index.", None, None, "rank"),
)}


#: the claim's size threshold (annual operating expenditure, GBP m) and its count of smaller trusts
CLAIM_THRESHOLD_GBP_M = 1500.0
CLAIM_N_SMALLER = 104
#: Barnsley Hospital NHS Foundation Trust
BARNSLEY_CODE = "RFF"
#: verdict thresholds on the posterior probability of the claim's event
SUPPORT_P = 0.95
AGAINST_P = 0.05
#: "about X" is tested as "at least ABOUT_FACTOR x X"
ABOUT_FACTOR = 0.8
SUPPORTED, NOT_SUPPORTED, NOT_TESTABLE = "supported", "not supported", "not testable with public data"
#: a check whose model was not fitted in this run (not a verdict on the claim)
NOT_RUN = "not run"
NO_VERDICT = (NOT_TESTABLE, NOT_RUN)


def verdict(p: float | None) -> tuple[str, str]:
    """(verdict, strength of evidence) of a claim whose event has posterior probability ``p``; None/NaN: not testable."""
    if p is None or not np.isfinite(p):
        return NOT_TESTABLE, "-"
    if p >= SUPPORT_P:
        return SUPPORTED, "strong evidence for"
    if p <= AGAINST_P:
        return NOT_SUPPORTED, "strong evidence against"
    return NOT_SUPPORTED, "inconclusive"


def verdict_rule_text() -> str:
    return (f"Each claim is an event with a posterior probability P. Claims 1, 4 and 5 are their literal events; the "
            f"numeric claims 2 and 3 (\"about X\") are the event \"at least {ABOUT_FACTOR:g} × X\" (a number of "
            f"roughly the claimed size, allowing {1 - ABOUT_FACTOR:.0%} for \"about\"). P ≥ {SUPPORT_P:g}: "
            f"**{SUPPORTED}**; otherwise **{NOT_SUPPORTED}**, qualified as *strong evidence against* when "
            f"P ≤ {AGAINST_P:g} and *inconclusive* in between. A check the public data cannot make is "
            f"**{NOT_TESTABLE}**. The rule is applied mechanically to every row, sensitivity checks included.")


@dataclass(frozen=True)
class Scenario:
    """One way of computing claims 1-3; ``primary`` is the headline, the rest are sensitivity checks."""

    name: str
    label: str
    variant: str = "base"
    size: str = "spend"            # "spend" (NCC actual), "activity" (NCC expected), "spend_unadjusted" (x MFF)
    threshold: bool = False         # the literal threshold (spend >= £1.5bn) instead of the claim's count
    adjust: str = "need"           # "need" (x.beta removed), "full" (size-class expectation removed)
    comparator: str = "rest"       # "rest" (other non-specialist trusts) or "teaching" (other teaching trusts)
    floor: bool = True
    bootstrap: bool = False
    mff: bool = False               # undo the NCC's MFF adjustment
    benchmark: str = "rest"        # "rest" or "peer_median" (the index's own trapped value / avoidable deaths)
    claims: tuple[int, ...] = (1, 2, 3)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("primary", "Primary: base model, size = NCC spend, need-adjusted"),
    Scenario("threshold", "Literal threshold: NCC spend >= £1.5bn", threshold=True, claims=(1, 2)),
    Scenario("activity", "Size = activity (NCC expected cost), not spend", size="activity"),
    Scenario("bootstrap", "Small numbers: Bayesian bootstrap over trusts", bootstrap=True),
    Scenario("size_class_removed", "Size-class effect removed (vs own size-class expectation)", adjust="full"),
    Scenario("national", "National model (no size-class peer groups)", variant="national"),
    Scenario("no_need", "Need adjustment off (no-need model)", variant="no_need"),
    Scenario("teaching", "Teaching status: compared with other teaching trusts only", comparator="teaching"),
    Scenario("mff", "MFF not adjusted (Peer Finder MFF; size = unadjusted spend)", size="spend_unadjusted", mff=True),
    Scenario("net", "Net: trusts better than the benchmark count negative", floor=False, claims=(2, 3)),
    Scenario("peer_median", "Index's own benchmark: size-class peer median", benchmark="peer_median", claims=(2, 3)),
)


#: scenarios of the index-based claims 4 and 5: (name, label, variant, size, eligible set)
INDEX_SCENARIOS: tuple[tuple[str, str, str, str, str], ...] = (
    ("primary", "Primary: base model (size-class peer benchmark)", "base", "spend", "non-specialist"),
    ("national", "National model (no size-class peer groups)", "national", "spend", "non-specialist"),
    ("no_need", "Need adjustment off (no-need model)", "no_need", "spend", "non-specialist"),
    ("activity", "Size = activity (NCC expected cost)", "base", "activity", "non-specialist"),
    ("all_trusts", "Specialist trusts included", "base", "spend", "all"),
)


#: every refit variant the claims use
VARIANTS_USED = ("base", "national", "no_need")


@dataclass
class Row:
    claim: int
    scenario: str
    label: str
    quantity: str
    unit: str
    median: float = np.nan
    lo95: float = np.nan
    hi95: float = np.nan
    event: str = ""
    probability: float = np.nan
    p_at_least_claimed: float = np.nan
    claimed: float = np.nan
    verdict: str = NOT_TESTABLE
    evidence: str = "-"
    primary: bool = False
    variant: str = ""
    gate_passed: bool | None = None
    n_large: int | None = None
    n_comparator: int | None = None
    note: str = ""

    def set_probability(self, p: float | None) -> "Row":
        self.probability = np.nan if p is None else float(p)
        self.verdict, self.evidence = verdict(p)
        return self

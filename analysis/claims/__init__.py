"""Re-test published claims about English acute trusts as posterior quantities (``svi claims``).

The claims (issue 6)::

    1. The 13 largest acute trusts (each over £1.5bn annual operating expenditure) deliver lower productivity
       than the 104 smaller ones.
    2. Bringing those 13 to the smaller trusts' productivity would save about £8bn a year.
    3. Improving outcome performance of the 11 largest trusts would save about 1,800 lives a year.
    4. In every region of England the lowest-performing trust is the largest or second-largest.
    5. Barnsley ranks #1 on the index.

Design decisions (the manifest text repeats them with the numbers of the run):

**Population.**  The claim's 13 + 104 = 117 trusts match the *non-specialist* acute trusts (specialist trusts
have no SHMI, no A&E and a different case mix), so claims 1-4 are tested among the panel's non-specialist acute
trusts (118 in the 2025/26 real panel; every size class except ``specialist``).  Claim 5 uses the value index's
own national ranking, which ranks every trust of the peer groups that report every indicator (not the specialist
group, which has no SHMI).

**Size** is annual spend: National Cost Collection (NCC) 2024/25 actual total cost (``ncc_actual_cost_total_gbp_m``),
the only recent per-trust spend in the public data.  Operating expenditure (trust accounts) is not in the panel:
NCC actual cost is MFF-adjusted and covers patient care only (no research, education or other non-patient
income-funded costs), so it is smaller than operating expenditure; the claim is therefore tested at its own
count (the 13 / 11 largest) and, as a sensitivity, at the literal threshold (NCC actual >= £1.5bn).  Ranking on
spend and then measuring spend per unit of activity builds in a correlation (a trust that is expensive this year
is both "larger" and "less productive"), so size by activity (NCC expected cost) is a sensitivity check.  With
the real data directory the Peer Finder MFF payment index (``thf_trust_reference/appendix_a_data.csv``, ~2017/18)
undoes the MFF adjustment for the "MFF not adjusted" check and Peer Finder operating expenses give the number of
trusts over £1.5bn in that (older) year.

**Productivity** is national-price activity per £ of actual cost: NCC expected cost (each trust's activity at
national average unit costs) divided by actual cost, i.e. the reciprocal of the National Cost Index, made
need-adjusted by the cost model: a trust's expected cost is multiplied by ``exp(x_i . beta_c)``, the cost the
model attributes to its catchment's deprivation, age and health (``x`` standardised need, ``beta_c`` the posterior
draws of the total-cost need coefficients).  Peer (size-class) means are *not* removed, because size is what the
claim is about; removing them is the "size-class effect removed" check.  A group's productivity is the
spend-weighted aggregate sum(need-adjusted expected) / sum(actual).  The quality-adjusted version is the value
index (quality and cost composite) averaged over the group.

**Counterfactuals.**  Claim 2: each of the 13 whose need-adjusted cost index is above the smaller trusts'
aggregate index is brought down to it (trusts already better are left alone); the saving is the sum.  Claim 3:
each of the 11 whose need-adjusted SHMI rate ratio exp(theta - x.beta) is above the smaller trusts' aggregate is
brought to it; deaths avoided is the sum of the differences in expected deaths.  The group-level (net) versions
and the index's own peer-median benchmark are sensitivity checks.

**Uncertainty.**  The primary numbers are about the named trusts in the latest year (finite population): their
uncertainty is the posterior uncertainty of the need adjustment and, for mortality, of each trust's true SHMI
rate.  The "small numbers" check adds a Bayesian bootstrap over trusts (Dirichlet(1) weights within each group,
one draw per posterior draw): the uncertainty about what trusts of that size deliver in general.

**Verdict rule** (:func:`verdict`, applied mechanically to every row): each claim is an event with a posterior
probability P.  Claims 1, 4, 5 are their literal events; the numeric claims 2 and 3 ("about X") are the event
"at least ``ABOUT_FACTOR`` x X" (a saving of roughly the claimed size, allowing 20 % for "about").  P >= 0.95:
**supported**; otherwise **not supported**, qualified as *strong evidence against* when P <= 0.05 and
*inconclusive* in between.  A check the public data cannot make is **not testable with public data**.

Modules, shaped like :mod:`analysis.validation`: :mod:`~analysis.claims.spec` (the claims, verdict rule and
scenarios), :mod:`~analysis.claims.draws` (pure functions of posterior draws; the value index is
:func:`analysis.summaries.composites`), :mod:`~analysis.claims.scenarios` (the rows of every scenario),
:mod:`~analysis.claims.text` and :mod:`~analysis.claims.figures` (the manifest's text and figures), and
:mod:`~analysis.claims.runner` (:func:`run_claims`).  The Peer Finder file is a registered source
(:mod:`analysis.sources.peer_finder`).
"""

from analysis.claims.draws import (  # noqa: F401
    Draws,
    bootstrap_weights,
    cost_saving,
    deaths_avoided,
    deaths_per_trust,
    draws_from_idata,
    group_productivity,
    interval,
    largest,
    lowest_among_largest,
    productivity_ratio,
    rank_of,
    saving_per_trust,
    trust_frame,
)
from analysis.claims.runner import ClaimsResult, find_data_dir, run_claims  # noqa: F401
from analysis.claims.scenarios import compute_claims, index_rows, rows_frame, scenario_rows  # noqa: F401
from analysis.claims.spec import (  # noqa: F401
    ABOUT_FACTOR,
    AGAINST_P,
    CLAIMS,
    INDEX_SCENARIOS,
    NO_VERDICT,
    NOT_RUN,
    NOT_SUPPORTED,
    NOT_TESTABLE,
    SCENARIOS,
    SUPPORT_P,
    SUPPORTED,
    VARIANTS_USED,
    Claim,
    Scenario,
    verdict,
    verdict_rule_text,
)
from analysis.claims.text import fmt, peq, plain_table  # noqa: F401

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
own national ranking, which ranks every trust in the index.

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

Everything but :func:`run_claims` is a pure function of posterior draws, model data and the panel, so it is
tested on constructed posteriors without sampling.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import io
from analysis.errors import DataError, SVIError
from analysis.manifest import Item, write_manifest
from analysis.results import ResultsDir
from analysis.summaries import dirichlet_weights, peer_quantile, rank_draws, stack_draws, trapped_value
from models.value_model import INDICATOR_SIGN, ModelData

# ============================================================================= the claims and the verdict rule


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


# ============================================================================= pure array functions

def interval(draws: np.ndarray) -> dict[str, float]:
    """Median and 95% interval of a vector of draws (NaN-aware)."""
    a = np.asarray(draws, float)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return {"median": np.nan, "lo95": np.nan, "hi95": np.nan}
    q = np.quantile(a, [0.5, 0.025, 0.975])
    return {"median": float(q[0]), "lo95": float(q[1]), "hi95": float(q[2])}


def largest(size: np.ndarray, eligible: np.ndarray, k: int) -> np.ndarray:
    """Mask of the ``k`` largest eligible trusts by ``size`` (ties broken by position; NaN sizes never chosen)."""
    size = np.asarray(size, float)
    ok = np.asarray(eligible, bool) & np.isfinite(size)
    if k > ok.sum():
        raise ValueError(f"asked for the {k} largest of only {int(ok.sum())} eligible trusts")
    order = np.argsort(-np.where(ok, size, -np.inf), kind="stable")
    mask = np.zeros(len(size), bool)
    mask[order[:k]] = True
    return mask


def bootstrap_weights(groups: list[np.ndarray], S: int, seed: int) -> np.ndarray:
    """(S, N) Bayesian-bootstrap weights: Dirichlet(1) within each group (boolean masks), scaled to the group's size.

    Trusts outside every group get weight 1.  With these weights a group sum is a draw of the sum over a
    population of trusts like the group's; with weight 1 everywhere it is the sum over the observed trusts.
    """
    N = len(groups[0])
    rng = np.random.default_rng(seed)
    w = np.ones((S, N))
    for g in groups:
        idx = np.nonzero(g)[0]
        if len(idx):
            w[:, idx] = rng.dirichlet(np.ones(len(idx)), size=S) * len(idx)
    return w


def _w(weights, S, N):
    return np.ones((S, N)) if weights is None else np.asarray(weights, float)


def group_productivity(actual: np.ndarray, expected_adj: np.ndarray, mask: np.ndarray,
                       weights: np.ndarray | None = None) -> np.ndarray:
    """(S,) aggregate productivity of a group: sum(w * adjusted expected cost) / sum(w * actual cost)."""
    expected_adj = np.atleast_2d(expected_adj)
    S, N = expected_adj.shape
    w = _w(weights, S, N)[:, mask]
    return (w * expected_adj[:, mask]).sum(1) / (w * np.asarray(actual, float)[None, mask]).sum(1)


def productivity_ratio(actual, expected_adj, large, rest, weights=None) -> np.ndarray:
    """(S,) productivity of the large group divided by that of the rest (< 1: the large trusts are less productive)."""
    return (group_productivity(actual, expected_adj, large, weights)
            / group_productivity(actual, expected_adj, rest, weights))


def saving_per_trust(actual, expected_adj, rest, weights=None, floor: bool = True) -> np.ndarray:
    """(S, N) GBP each trust would save at the rest's aggregate (need-adjusted) cost index.

    Trust i's cost at the benchmark is ``expected_adj_i x CI_rest`` with ``CI_rest = sum(w actual) / sum(w expected_adj)``
    over the rest; its saving is ``actual_i`` minus that, floored at 0 when ``floor`` (a trust already cheaper than
    the benchmark is not made dearer).
    """
    expected_adj = np.atleast_2d(expected_adj)
    S, N = expected_adj.shape
    actual = np.asarray(actual, float)
    w = _w(weights, S, N)
    ci_rest = (w[:, rest] * actual[None, rest]).sum(1) / (w[:, rest] * expected_adj[:, rest]).sum(1)
    per = actual[None] - expected_adj * ci_rest[:, None]
    return np.maximum(per, 0.0) if floor else per


def cost_saving(actual, expected_adj, large, rest, weights=None, floor: bool = True) -> np.ndarray:
    """(S,) GBP saved if the large trusts had the rest's aggregate cost index (:func:`saving_per_trust`, summed)."""
    per = saving_per_trust(actual, expected_adj, rest, weights, floor)
    return (_w(weights, *per.shape)[:, large] * per[:, large]).sum(1)


def deaths_per_trust(expected_deaths, theta, ref, rest, weights=None, floor: bool = True) -> np.ndarray:
    """(S, N) deaths a year each trust would avoid at the rest's aggregate adjusted SHMI rate ratio (NaN: no SHMI).

    ``theta`` (S, N): log rate of observed to SHMI-expected deaths; ``ref`` (S, N): the log rate the adjustment
    takes out (the need component x.beta, 0 for none, or the full model expectation).  Trust i's adjusted ratio
    is ``exp(theta_i - ref_i)``; the benchmark is the rest's ``sum(w E exp(theta)) / sum(w E exp(ref))``; trust i's
    deaths at the benchmark are ``E_i exp(ref_i) x benchmark``.  Trusts without SHMI are left out of the benchmark.
    ``floor``: a trust already better than the benchmark does not get worse.
    """
    E = np.asarray(expected_deaths, float)
    theta, ref = np.atleast_2d(theta), np.atleast_2d(ref)
    S, N = theta.shape
    ok = np.isfinite(E) & np.isfinite(theta).all(0)
    rest = rest & ok
    w = _w(weights, S, N)
    lam = E[None] * np.exp(np.where(ok[None], theta, 0.0))
    lam_ref = E[None] * np.exp(np.where(ok[None], ref, 0.0))
    bench = (w[:, rest] * lam[:, rest]).sum(1) / (w[:, rest] * lam_ref[:, rest]).sum(1)
    per = lam - lam_ref * bench[:, None]
    if floor:
        per = np.maximum(per, 0.0)
    per[:, ~ok] = np.nan
    return per


def deaths_avoided(expected_deaths, theta, ref, large, rest, weights=None, floor: bool = True) -> np.ndarray:
    """(S,) deaths a year avoided if the large trusts had the rest's adjusted SHMI (:func:`deaths_per_trust`, summed
    over the large trusts that have SHMI)."""
    per = deaths_per_trust(expected_deaths, theta, ref, rest, weights, floor)
    w = _w(weights, *per.shape)
    return np.nansum(w[:, large] * per[:, large], axis=1)


def lowest_among_largest(score: np.ndarray, size: np.ndarray, region: np.ndarray, eligible: np.ndarray,
                         top: int = 2) -> tuple[pd.DataFrame, np.ndarray]:
    """In every draw and region, is the trust with the lowest score among the region's ``top`` largest?

    Returns a per-region table (trusts, the largest ones, P(lowest is among them), the most likely lowest trust
    and its probability) and the (S, R) boolean draws; trusts with a NaN score or size are left out.
    """
    score = np.atleast_2d(score)
    S, N = score.shape
    size = np.asarray(size, float)
    region = np.asarray(region)
    ok = np.asarray(eligible, bool) & np.isfinite(size) & np.isfinite(score).all(0)
    rows, hits = [], []
    for r in sorted(pd.unique(region[ok])):
        idx = np.nonzero(ok & (region == r))[0]
        big = idx[np.argsort(-size[idx], kind="stable")[:top]]
        low = idx[np.argmin(score[:, idx], axis=1)]
        hit = np.isin(low, big)
        vals, counts = np.unique(low, return_counts=True)
        j = int(np.argmax(counts))
        rows.append({"region": r, "n_trusts": len(idx), "largest": list(big), "p_lowest_is_largest": float(hit.mean()),
                     "most_likely_lowest": int(vals[j]), "p_most_likely_lowest": float(counts[j] / S)})
        hits.append(hit)
    return pd.DataFrame(rows), (np.column_stack(hits) if hits else np.zeros((S, 0), bool))


def rank_of(score: np.ndarray, i: int, eligible: np.ndarray | None = None) -> np.ndarray:
    """(S,) rank of trust ``i`` (1 = highest score) among the eligible trusts with a score, in every draw."""
    score = np.atleast_2d(score).copy()
    if eligible is not None:
        score[:, ~np.asarray(eligible, bool)] = np.nan
    return rank_draws(score)[:, i]


def value_index_draws(post, d: ModelData, cfg: dict) -> np.ndarray:
    """(S, N) value index draws, computed exactly as :func:`analysis.summaries.summarise` does (tested to agree)."""
    u, sd0 = stack_draws(post, "u"), stack_draws(post, "sd0")
    S, N, K = u.shape
    obs = d.observed
    vcfg = cfg["value"]
    w = np.array([vcfg["quality_weights"][k] for k in d.indicators], float)
    base = np.concatenate([vcfg["quality_share"] * w / w.sum(), [1 - vcfg["quality_share"]]])
    W = dirichlet_weights(base, vcfg["dirichlet_concentration"], S, cfg["sampler"]["seed"])
    sign = np.array([INDICATOR_SIGN[k] for k in d.indicators])
    z = sign * u / sd0[:, None, :]
    wq = W[:, None, :K] * obs[None]
    with np.errstate(invalid="ignore"):
        Qi = (np.where(obs[None], z, 0) * wq).sum(-1) / wq.sum(-1)
    Qi[:, ~obs.any(axis=1)] = np.nan
    if "total" in d.cost_outcomes:
        jt = d.cost_outcomes.index("total")
        resid = d.cost_y[None, :, jt] - stack_draws(post, "cost_expectation")[:, :, jt]
        Ci = -resid / stack_draws(post, "sd0_c")[:, [jt]]
    else:
        Ci = np.full((S, N), np.nan)
    return (W[:, :K].sum(1, keepdims=True) * Qi + W[:, [K]] * Ci) / W.sum(1, keepdims=True)


# ============================================================================= posterior draws the claims need

@dataclass
class Draws:
    """The posterior quantities of one fit that the claims use, aligned with ``ModelData.trusts``."""

    variant: str
    need_cost: np.ndarray          # (S, N) x . beta_c[total]  (0 without need covariates)
    full_cost: np.ndarray          # (S, N) the cost model's expectation of log(actual/expected), total
    theta_shmi: np.ndarray         # (S, N) log(true observed / expected deaths); NaN without SHMI
    need_shmi: np.ndarray          # (S, N) x . beta[shmi]
    full_shmi: np.ndarray          # (S, N) theta - u: need-adjusted peer expectation
    value_index: np.ndarray        # (S, N)
    peer: np.ndarray               # (N,) peer-group index of the fit
    gate_passed: bool | None = None
    gate_text: str = ""

    @property
    def S(self) -> int:
        return self.need_cost.shape[0]


def draws_from_idata(idata, d: ModelData, cfg: dict, variant: str, gate=None, max_draws: int | None = None,
                     seed: int = 0) -> Draws:
    post = idata.posterior
    vi = value_index_draws(post, d, cfg)
    S, N = vi.shape
    jt = d.cost_outcomes.index("total")
    if d.x.shape[1] and "beta_c" in post:
        need_cost = stack_draws(post, "beta_c")[:, jt, :] @ d.x.T
    else:
        need_cost = np.zeros((S, N))
    full_cost = stack_draws(post, "cost_expectation")[:, :, jt]
    if "shmi" in d.indicators:
        k = d.indicators.index("shmi")
        theta = stack_draws(post, "theta")[:, :, k]
        full = theta - stack_draws(post, "u")[:, :, k]
        need = stack_draws(post, "beta")[:, k, :] @ d.x.T if d.x.shape[1] and "beta" in post else np.zeros((S, N))
    else:
        theta = full = np.full((S, N), np.nan)
        need = np.zeros((S, N))
    keep = slice(None)
    if max_draws is not None and S > max_draws:
        keep = np.sort(np.random.default_rng(seed).choice(S, max_draws, replace=False))
    return Draws(variant, need_cost[keep], full_cost[keep], theta[keep], need[keep], full[keep], vi[keep],
                 np.asarray(d.g), None if gate is None else bool(gate.passed),
                 "" if gate is None else gate.text().splitlines()[0])


# ============================================================================= trusts and public side data

def trust_frame(d: ModelData, mff: pd.Series | None = None) -> pd.DataFrame:
    """One row per trust in model order: identity, spend, activity, SHMI expected deaths, eligibility, MFF."""
    t = d.trusts[["org_code", "org_name", "region", "size_class"]].copy().reset_index(drop=True)
    jt = d.cost_outcomes.index("total")
    t["actual"] = d.cost_actual[:, jt]
    t["expected"] = d.cost_expected[:, jt]
    if "shmi" in d.indicators:
        k = d.indicators.index("shmi")
        t["shmi_expected_deaths"] = d.n[:, k]
        t["shmi_observed_deaths"] = d.y[:, k]
    else:
        t["shmi_expected_deaths"] = t["shmi_observed_deaths"] = np.nan
    t["eligible"] = t["size_class"] != "specialist"
    t["teaching"] = t["size_class"] == "teaching"
    t["mff"] = np.nan if mff is None else t["org_code"].map(mff).astype(float)
    return t


PEER_FINDER = Path("raw") / "thf_trust_reference" / "appendix_a_data.csv"


def load_peer_finder(data_dir: str | Path) -> pd.DataFrame:
    """Peer Finder (NHS Trust Peer Finder Tool, appendix A, ~2017/18): code, MFF payment index, operating expenses £m."""
    path = Path(data_dir) / PEER_FINDER
    if not path.exists():
        raise DataError(path, "Peer Finder appendix A file not found (needed for the MFF and operating-expenditure checks)")
    raw = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    need = ["Procode", "MFF payment index", "Operating Expenses"]
    missing = [c for c in need if c not in raw.columns]
    if missing:
        raise DataError(path, f"columns {missing} missing", row=1)
    out = pd.DataFrame({"org_code": raw["Procode"].str.strip(),
                        "mff": pd.to_numeric(raw["MFF payment index"].str.strip(), errors="coerce"),
                        # stored as negative GBP thousands
                        "opex_gbp_m": -pd.to_numeric(raw["Operating Expenses"].str.strip(), errors="coerce") / 1000})
    bad = out["mff"].notna() & ~out["mff"].between(0.8, 1.6)
    if bad.any():
        i = int(np.nonzero(bad.to_numpy())[0][0])
        raise DataError(path, f"MFF payment index {out['mff'].iloc[i]} outside 0.8-1.6", row=i + 2,
                        column="MFF payment index")
    return out.dropna(subset=["org_code"]).drop_duplicates("org_code")


def find_data_dir(panel: pd.DataFrame, out: Path) -> Path | None:
    """The real data directory recorded in ``<out>/panel/manifest.json`` when it describes this very panel."""
    from analysis.panel import panel_hash

    m = ResultsDir(out).panel_manifest
    if not m.exists():
        return None
    try:
        doc = json.loads(m.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None
    if doc.get("kind") != "real" or not doc.get("data_dir") or doc.get("panel_hash") != panel_hash(panel):
        return None
    return Path(doc["data_dir"])


# ============================================================================= scenarios (claims 1-3)

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


def size_vector(t: pd.DataFrame, kind: str) -> np.ndarray:
    if kind == "spend":
        return t["actual"].to_numpy(float)
    if kind == "activity":
        return t["expected"].to_numpy(float)
    if kind == "spend_unadjusted":
        return (t["actual"] * t["mff"]).to_numpy(float)
    raise ValueError(f"unknown size measure {kind!r}")


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


def about_event(claim: int) -> str:
    """The event a numeric claim ("about X") is tested as, in words."""
    c = CLAIMS[claim]
    return f"{'saving' if claim == 2 else 'deaths'} ≥ {_fmt(ABOUT_FACTOR * c.claimed, c.unit)}"


def _row(claim: int, sc_name: str, label: str, draws: np.ndarray | None, *, event_draws: np.ndarray | None,
         event: str, quantity: str, unit: str, primary: bool, variant: str, gate: bool | None,
         n_large=None, n_comp=None, note: str = "", not_run: bool = False) -> Row:
    c = CLAIMS[claim]
    if gate is False:
        note = (note + "; " if note else "") + f"the {variant} fit FAILED the convergence gate: for diagnosis only"
    r = Row(claim, sc_name, label, quantity, unit, event=event, primary=primary, variant=variant, gate_passed=gate,
            n_large=n_large, n_comparator=n_comp, note=note, claimed=np.nan if c.claimed is None else c.claimed)
    if draws is None:
        r.set_probability(None)
        if not_run:
            r.verdict = NOT_RUN
        return r
    r.median, r.lo95, r.hi95 = interval(draws).values()
    if c.claimed is not None:
        r.p_at_least_claimed = float(np.mean(draws >= c.claimed))
    return r.set_probability(float(np.mean(event_draws)))


def _adjusted(t: pd.DataFrame, dr: Draws, sc: Scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(actual, need-adjusted expected cost (S,N), SHMI reference log rate (S,N)) of a scenario."""
    actual = t["actual"].to_numpy(float)
    if sc.mff:
        actual = actual * t["mff"].to_numpy(float)
    cost_ref = dr.full_cost if sc.adjust == "full" else dr.need_cost
    shmi_ref = dr.full_shmi if sc.adjust == "full" else dr.need_shmi
    return actual, t["expected"].to_numpy(float)[None] * np.exp(cost_ref), shmi_ref


def scenario_rows(t: pd.DataFrame, draws: dict[str, Draws], seed: int = 0) -> tuple[list[Row], dict]:
    """Rows of claims 1-3 for every scenario; a scenario without its inputs gives a 'not testable' (no public data)
    or 'not run' (model not fitted) row with the reason."""
    rows: list[Row] = []
    detail: dict = {}
    eligible = t["eligible"].to_numpy(bool)
    has_mff = t["mff"].notna()[eligible].all()
    n_threshold = int(((t["actual"] >= CLAIM_THRESHOLD_GBP_M) & t["eligible"]).sum())
    for sc in SCENARIOS:
        primary = sc.name == "primary"
        dr = draws.get(sc.variant)
        reason, not_run = None, False
        if dr is None:
            reason, not_run = f"the {sc.variant} model was not fitted in this run", True
        elif sc.mff and not has_mff:
            reason = ("no MFF payment index for every trust: the panel's NCC costs are MFF-adjusted and the unadjusted "
                      "costs need the MFF of each trust (Peer Finder file of the real data directory)")
        elif sc.threshold and n_threshold == 0:
            reason = "no trust's NCC actual cost reaches the threshold"
        for claim in sc.claims:
            c = CLAIMS[claim]
            k = n_threshold if sc.threshold else c.k
            quantity = {1: f"productivity of the {k} largest / the rest", 2: f"saving a year at the {k} largest",
                        3: f"deaths a year avoided at the {k} largest"}[claim]
            unit = c.unit
            event = "ratio < 1" if claim == 1 else about_event(claim)
            if reason is not None:
                rows.append(_row(claim, sc.name, sc.label, None, event_draws=None, event=event, quantity=quantity,
                                 unit=unit, primary=primary, variant=sc.variant, gate=None, note=reason,
                                 not_run=not_run))
                continue
            size = size_vector(t, sc.size)
            large = largest(size, eligible, k)
            comp = eligible & ~large
            if sc.comparator == "teaching":
                comp &= t["teaching"].to_numpy(bool)
            actual, exp_adj, shmi_ref = _adjusted(t, dr, sc)
            w = (bootstrap_weights([large, comp], dr.S, seed + 7 * claim) if sc.bootstrap else None)
            n_comp = int(comp.sum())
            note = ""
            if claim == 1:
                x = productivity_ratio(actual, exp_adj, large, comp, w)
                ev = x < 1
            elif claim == 2:
                if sc.benchmark == "peer_median":
                    resid = np.log(actual)[None] - np.log(exp_adj)
                    bench = peer_quantile(resid, dr.peer, 0.5)
                    x = trapped_value(actual, resid, bench)[:, large].sum(1)
                    note = "each of the largest brought to its size-class peer median (the index's trapped value)"
                else:
                    x = cost_saving(actual, exp_adj, large, comp, w, floor=sc.floor)
                ev = x >= ABOUT_FACTOR * c.claimed
            else:
                E = t["shmi_expected_deaths"].to_numpy(float)
                has = np.isfinite(E) & np.isfinite(dr.theta_shmi).all(0)
                if sc.benchmark == "peer_median":
                    logr = np.where(has[None], dr.theta_shmi - shmi_ref, np.nan)
                    bench = peer_quantile(logr, dr.peer, 0.5)
                    lam = E[None] * np.exp(dr.theta_shmi)
                    lam_b = E[None] * np.exp(shmi_ref + bench)
                    x = np.maximum(lam - lam_b, 0.0)[:, large & has].sum(1)
                    note = "each of the largest brought to its size-class peer median (the index's avoidable deaths)"
                else:
                    x = deaths_avoided(E, dr.theta_shmi, shmi_ref, large, comp, w, floor=sc.floor)
                n_comp = int((comp & has).sum())
                if (large & ~has).any():
                    note = (note + "; " if note else "") + f"{int((large & ~has).sum())} of the largest have no SHMI"
                ev = x >= ABOUT_FACTOR * c.claimed
            if np.ptp(x) == 0:
                note = (note + "; " if note else "") + ("no posterior uncertainty: without need adjustment the "
                                                        "observed NCC cost indices of this year decide")
            rows.append(_row(claim, sc.name, sc.label, x, event_draws=ev, event=event, quantity=quantity, unit=unit,
                             primary=primary, variant=sc.variant, gate=dr.gate_passed, n_large=int(large.sum()),
                             n_comp=n_comp, note=note))
            detail[(claim, sc.name)] = {"draws": x, "large": large, "comparator": comp}
    return rows, detail


def index_rows(t: pd.DataFrame, draws: dict[str, Draws]) -> tuple[list[Row], dict]:
    """Rows of claims 4 and 5 (value index) for every index scenario."""
    rows: list[Row] = []
    detail: dict = {}
    codes = t["org_code"].tolist()
    barnsley = BARNSLEY_CODE if BARNSLEY_CODE in codes else next(
        (c for c, n in zip(codes, t["org_name"]) if "BARNSLEY" in str(n).upper()), None)
    for name, label, variant, size_kind, pop in INDEX_SCENARIOS:
        primary = name == "primary"
        dr = draws.get(variant)
        eligible = t["eligible"].to_numpy(bool) if pop == "non-specialist" else np.ones(len(t), bool)
        n_regions = int(t.loc[eligible, "region"].nunique())
        ev4 = f"true in all {n_regions} regions"
        if dr is None:
            rows.append(_row(4, name, label, None, event_draws=None, event=ev4, quantity="regions where the lowest is "
                             "among the 2 largest", unit="regions", primary=primary, variant=variant, gate=None,
                             note=f"the {variant} model was not fitted in this run", not_run=True))
        else:
            reg, hits = lowest_among_largest(dr.value_index, size_vector(t, size_kind), t["region"].to_numpy(), eligible,
                                             top=CLAIMS[4].k)
            count = hits.sum(1).astype(float)
            rows.append(_row(4, name, label, count, event_draws=hits.all(1), event=ev4,
                             quantity=f"regions (of {hits.shape[1]}) whose lowest trust is among its {CLAIMS[4].k} largest",
                             unit="regions", primary=primary, variant=variant, gate=dr.gate_passed,
                             n_large=CLAIMS[4].k * hits.shape[1], n_comp=int(eligible.sum()),
                             note="" if pop == "non-specialist" else "specialist trusts included"))
            detail[(4, name)] = reg
        if name in ("activity", "all_trusts"):
            continue  # neither size nor the claim-4 population enters claim 5, which ranks every trust in the index
        if barnsley is None:
            rows.append(_row(5, name, label, None, event_draws=None, event="rank = 1", quantity="national rank of "
                             "Barnsley on the value index", unit="rank", primary=primary, variant=variant, gate=None,
                             note="Barnsley Hospital NHS FT (RFF) is not in the panel"))
            continue
        if dr is None:
            rows.append(_row(5, name, label, None, event_draws=None, event="rank = 1", quantity="national rank of "
                             "Barnsley on the value index", unit="rank", primary=primary, variant=variant, gate=None,
                             note=f"the {variant} model was not fitted in this run", not_run=True))
            continue
        i = codes.index(barnsley)
        eligible = np.ones(len(t), bool)  # the index's own national ranking: every trust
        rk = rank_of(dr.value_index, i, eligible)
        n_ranked = int((eligible & np.isfinite(dr.value_index).all(0)).sum())
        rows.append(_row(5, name, label, rk, event_draws=rk == 1, event="rank = 1",
                         quantity=f"national rank of Barnsley ({barnsley}) on the value index, of {n_ranked}",
                         unit="rank",
                         primary=primary, variant=variant, gate=dr.gate_passed, n_comp=n_ranked))
        all_ranks = rank_draws(np.where(eligible[None], dr.value_index, np.nan))
        p1 = np.nanmean(all_ranks == 1, axis=0)
        detail[(5, name)] = {"code": barnsley, "ranks": rk, "p_rank1": p1, "p_top10": float(np.mean(rk <= 10)),
                             "best": int(np.nanargmax(p1)), "n_ranked": n_ranked}
    return rows, detail


def rows_frame(rows: list[Row]) -> pd.DataFrame:
    df = pd.DataFrame([r.__dict__ for r in rows])
    df.insert(1, "claim_short", df["claim"].map(lambda c: CLAIMS[c].short))
    return df


# ============================================================================= per-trust table and figures

def trust_productivity(t: pd.DataFrame, dr: Draws, large: np.ndarray) -> pd.DataFrame:
    """Each eligible trust's need-adjusted cost index (actual / need-adjusted expected; > 1 = less productive)."""
    ci = t["actual"].to_numpy(float)[None] / (t["expected"].to_numpy(float)[None] * np.exp(dr.need_cost))
    rows = []
    for i in np.nonzero(t["eligible"].to_numpy(bool))[0]:
        s = interval(ci[:, i])
        rows.append({"org_code": t.org_code[i], "org_name": t.org_name[i], "region": t.region[i],
                     "size_class": t.size_class[i], "ncc_actual_gbp_m": t.actual[i], "ncc_expected_gbp_m": t.expected[i],
                     "raw_cost_index": t.actual[i] / t.expected[i], "need_adjusted_cost_index_median": s["median"],
                     "need_adjusted_cost_index_lo95": s["lo95"], "need_adjusted_cost_index_hi95": s["hi95"],
                     "in_largest": bool(large[i])})
    return pd.DataFrame(rows).sort_values("ncc_actual_gbp_m", ascending=False).reset_index(drop=True)


def figure_productivity(tp: pd.DataFrame, agg: dict, path: Path) -> Path:
    """Need-adjusted cost index against spend, the largest trusts highlighted, group aggregates as lines."""
    from matplotlib.figure import Figure

    from analysis import figures as F

    with F._rc():
        fig = Figure(figsize=(F.WIDTH, 3.2))
        ax = fig.add_axes([0.09, 0.14, 0.62, 0.8])
        for flag, colour, lab in ((False, F.PEER, "smaller trusts"), (True, F.TRUST, "largest trusts")):
            s = tp[tp.in_largest == flag]
            ax.vlines(s.ncc_actual_gbp_m, s.need_adjusted_cost_index_lo95, s.need_adjusted_cost_index_hi95,
                      color=colour, lw=0.8, alpha=0.5)
            ax.plot(s.ncc_actual_gbp_m, s.need_adjusted_cost_index_median, "o", ms=3.2, color=colour, mec="white",
                    mew=0.3, label=lab)
        for key, colour in (("large", F.TRUST), ("rest", F.PEER)):
            ax.axhline(agg[key], color=colour, ls="--", lw=0.9)
        ax.set_xscale("log")
        F._plain_log(ax.xaxis)
        ax.set_xlabel("NCC actual cost 2024/25 (£ million, log scale)")
        ax.set_ylabel("Need-adjusted cost index\n(actual / need-adjusted expected)")
        ax.legend(loc="upper left")
        F._style(ax)
        fig.text(0.74, 0.9, "\n".join(textwrap.wrap(
            f"Dashed lines: aggregate need-adjusted cost index of the {agg['k']} largest ({agg['large']:.3f}) and of "
            f"the other {agg['n_rest']} non-specialist trusts ({agg['rest']:.3f}), posterior medians. Higher = "
            "more cost per unit of national-price activity (lower productivity). Bars: 95% intervals of the need "
            "adjustment.", 34)), va="top", ha="left", fontsize=7, color=F.MUTED)
    return F.save(fig, path)


def figure_sensitivity(df: pd.DataFrame, path: Path) -> Path:
    """Every claim's number (claims 1-3) or probability (claims 4-5) under each scenario."""
    from matplotlib.figure import Figure

    from analysis import figures as F

    panels = [(1, "Claim 1: productivity ratio, largest / rest", 1.0, "ratio (< 1: largest less productive)", 1.0),
              (2, "Claim 2: saving at the 13 largest", CLAIMS[2].claimed / 1000, "£ billion a year", 1 / 1000),
              (3, "Claim 3: deaths avoided at the 11 largest", CLAIMS[3].claimed, "deaths a year", 1.0)]
    with F._rc():
        fig = Figure(figsize=(F.WIDTH, 8.0))
        top, h, gap = 0.97, 0.17, 0.08
        for j, (claim, title, ref, xlabel, scale) in enumerate(panels):
            d = df[(df.claim == claim)].reset_index(drop=True)
            ax = fig.add_axes([0.43, top - (j + 1) * h - j * gap, 0.54, h])
            y = np.arange(len(d))[::-1]
            ok = d["median"].notna().to_numpy()
            cols = [F.TRUST if p else F.PEER for p in d.primary]
            ax.hlines(y[ok], d.lo95[ok] * scale, d.hi95[ok] * scale, color=[c for c, o in zip(cols, ok) if o], lw=1.4)
            ax.scatter(d["median"][ok] * scale, y[ok], s=14, color=[c for c, o in zip(cols, ok) if o], zorder=3)
            for yy, v in zip(y[~ok], d.verdict[~ok]):
                ax.text(0.5, yy, v, transform=ax.get_yaxis_transform(), fontsize=6.5, color=F.MUTED,
                        va="center", ha="center")
            ax.axvline(ref, color=F.INK, ls=":", lw=0.9)
            ax.set_yticks(y)
            ax.set_yticklabels([textwrap.shorten(s, 58) for s in d.label], fontsize=6.5)
            ax.set_title(title, loc="left")
            ax.set_xlabel(xlabel)
            F._style(ax)
        ax = fig.add_axes([0.43, 0.05, 0.54, 0.17])
        d = df[df.claim.isin([4, 5])].reset_index(drop=True)
        y = np.arange(len(d))[::-1]
        ok = d.probability.notna().to_numpy()
        ax.scatter(d.probability[ok], y[ok], s=14, color=[F.TRUST if p else F.PEER for p, o in zip(d.primary, ok) if o],
                   zorder=3)
        for yy, v in zip(y[~ok], d.verdict[~ok]):
            ax.text(0.5, yy, v, fontsize=6.5, color=F.MUTED, va="center", ha="center")
        for v in (AGAINST_P, SUPPORT_P):
            ax.axvline(v, color=F.INK, ls=":", lw=0.9)
        ax.set_xlim(-0.02, 1.02)
        ax.set_yticks(y)
        ax.set_yticklabels([f"{c}: " + textwrap.shorten(s, 52) for c, s in zip(d.claim, d.label)], fontsize=6.5)
        ax.set_title("Claims 4 and 5: posterior probability of the claim", loc="left")
        ax.set_xlabel("probability")
        F._style(ax)
    return F.save(fig, path)


# ============================================================================= text

def _fmt(x: float, unit: str) -> str:
    if x is None or not np.isfinite(x):
        return "-"
    if unit == "GBP m":
        sign = "−" if x < 0 else ""
        return f"{sign}£{abs(x) / 1000:,.2f}bn" if abs(x) >= 1000 else f"{sign}£{abs(x):,.0f}m"
    if unit == "ratio":
        return f"{x:.3f}"
    if unit in ("deaths", "rank", "regions"):
        return f"{x:,.0f}".replace("-", "−")
    return f"{x:.3g}"


def _interval_text(r) -> str:
    return f"{_fmt(r['median'], r['unit'])} [95% interval {_fmt(r['lo95'], r['unit'])} to {_fmt(r['hi95'], r['unit'])}]"


def _p(p: float) -> str:
    if not np.isfinite(p):
        return "-"
    return "< 0.001" if p < 0.001 else ("> 0.999" if p > 0.999 else f"{p:.3f}")


def _peq(p: float) -> str:
    """' = 0.712', ' < 0.001': a probability after 'P(...)'."""
    t = _p(p)
    return " " + t if t[0] in "<>" else " = " + t


def plain_table(df: pd.DataFrame, primary_only: bool = True) -> str:
    """The printed table: claim, quantity, median, 95% interval, probability, verdict."""
    d = df[df.primary] if primary_only else df
    out = []
    for _, r in d.iterrows():
        out.append({"claim": r.claim if primary_only else f"{r.claim} {r.scenario}",
                    "quantity": (r.quantity if primary_only else textwrap.shorten(r.label, 50))
                    + (" [fit failed gate]" if r.gate_passed is False else ""),
                    "median": _fmt(r["median"], r.unit),
                    "95% interval": ("-" if not np.isfinite(r.lo95) else
                                     f"{_fmt(r.lo95, r.unit)} to {_fmt(r.hi95, r.unit)}"),
                    "event": r.event, "P(event)": _p(r.probability),
                    "verdict": r.verdict + ("" if r.evidence in ("-", "strong evidence for") else f" ({r.evidence})")})
    return pd.DataFrame(out).to_string(index=False)


CAVEATS = {
    1: ("Single year (NCC 2024/25): a trust's cost index mixes persistent productivity with one-year noise (costing "
        "practice, coding, one-off costs), so an extreme year regresses toward the mean. Ranking on spend and then "
        "measuring spend per unit of activity selects expensive years into the 'largest' group; the activity-ranked "
        "check removes that. Only {k} trusts are in the group (small numbers: see the bootstrap row). Productivity "
        "here is cost-weighted activity per £ of patient-care cost, not ONS quality-adjusted productivity: public "
        "data do not measure capital, staff mix, research and teaching costs beyond what the NCC excludes, or the "
        "complexity within a tariff price."),
    2: ("The counterfactual assumes each trust can reach the smaller trusts' cost index for its own case mix and "
        "need, and that the NCC cost index is all productivity (part is teaching, research, specialised services and "
        "London costs not fully captured by MFF). NCC actual cost is patient-care cost, smaller than operating "
        "expenditure; a saving is gross and one-year."),
    3: ("SHMI counts deaths in hospital or within 30 days of discharge against a national risk model; NHS Digital "
        "states it is not a measure of avoidable deaths, so 'lives saved' is read here as the difference in "
        "expected SHMI deaths at a benchmark rate. Summing only the trusts above the benchmark is a one-sided sum, "
        "which is positive even when every trust is at the benchmark (noise); the net version avoids that. Observed "
        "and expected deaths are published rounded to the nearest 5."),
    4: ("'Lowest-performing' is read on this index (need-adjusted quality and cost composite); regions hold "
        "{regions} trusts, and the lowest of a region is decided among several trusts with overlapping intervals, "
        "so the probability that one named trust is last is small for any trust. Size within region uses the same "
        "NCC spend measure."),
    5: ("The published claim's index is not this index (its indicators, weights and need adjustment are not "
        "public), so this tests whether Barnsley ranks first on *this* index. With {n} trusts and overlapping "
        "intervals no trust is certain to rank first."),
}


def _claim_text(claim: int, df: pd.DataFrame, ctx: dict) -> tuple[str, dict]:
    d = df[df.claim == claim]
    p = d[d.primary].iloc[0]
    c = CLAIMS[claim]
    lines = [f"> {c.text}", ""]
    if p.verdict in NO_VERDICT:
        lines.append(f"**Verdict: {p.verdict}.** {p.note}")
    else:
        lines.append(f"**Verdict: {p.verdict}** ({p.evidence}). {p.quantity[:1].upper() + p.quantity[1:]}: "
                     f"{_interval_text(p)}; P({p.event}){_peq(p.probability)}"
                     + (f" (the verdict's event: at least {ABOUT_FACTOR:g} × the claimed {_fmt(c.claimed, c.unit)}); "
                        f"P(≥ {_fmt(c.claimed, c.unit)}){_peq(p.p_at_least_claimed)}" if c.claimed else "") + ".")
    for para in ctx.get("lines", []):
        lines += ["", para]
    sens = d[~d.primary]
    if len(sens):
        lines.append("")
        lines.append("Sensitivity checks (same verdict rule):")
        lines.append("")
        for _, r in sens.iterrows():
            if r.verdict in NO_VERDICT:
                lines.append(f"* {r.label}: {r.verdict} ({r.note}).")
            else:
                lines.append(f"* {r.label}: {_interval_text(r)}; P({r.event}){_peq(r.probability)}: {r.verdict}"
                             + (f" ({r.evidence})" if r.verdict != SUPPORTED else "")
                             + (f"; {r.note}" if r.note else "") + ".")
    changed = sorted(set(sens.verdict[~sens.verdict.isin(NO_VERDICT)]) - {p.verdict})
    n_test = int((~sens.verdict.isin(NO_VERDICT)).sum())
    agree = int((sens.verdict == p.verdict).sum())
    lines.append("")
    lines.append(f"The verdict is the same in {agree} of {n_test} testable sensitivity checks"
                 + (f" (others: {', '.join(changed)})." if changed else "."))
    lines.append("")
    lines.append("*Caveats.* " + CAVEATS[claim].format(**ctx.get("fmt", {})))
    extra = {"verdict": p.verdict, "evidence": p.evidence, "median": p["median"], "lo95": p.lo95, "hi95": p.hi95,
             "probability": p.probability, "event": p.event, "quantity": p.quantity, "unit": p.unit,
             "claimed": None if c.claimed is None else c.claimed,
             "p_at_least_claimed": None if c.claimed is None else p.p_at_least_claimed,
             "sensitivity": {r.scenario: {"verdict": r.verdict, "median": r["median"], "lo95": r.lo95, "hi95": r.hi95,
                                          "probability": r.probability} for _, r in sens.iterrows()}}
    extra.update(ctx.get("extra", {}))
    return "\n".join(lines), _jsonable(extra)


_LOWER = {"AND", "OF", "THE", "UPON", "ON"}
_UPPER = {"NHS", "FT", "UK"}


def nice_name(name: str) -> str:
    """'GUY'S AND ST THOMAS' NHS FOUNDATION TRUST' -> "Guy's and St Thomas' NHS Foundation Trust"."""
    out = []
    for j, w in enumerate(str(name).split()):
        u = w.upper()
        out.append(u if u in _UPPER else (w.lower() if u in _LOWER and j else w[:1].upper() + w[1:].lower()))
    return " ".join(out)


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, (np.floating, float)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, np.bool_):
        return bool(o)
    return o


# ============================================================================= the whole re-test

@dataclass
class ClaimsResult:
    table: pd.DataFrame
    regions: pd.DataFrame
    trusts: pd.DataFrame
    items: list[Item] = field(default_factory=list)
    directory: Path | None = None

    def headline(self) -> pd.DataFrame:
        return self.table[self.table.primary].reset_index(drop=True)


def compute_claims(t: pd.DataFrame, draws: dict[str, Draws], seed: int = 0, peer_finder: pd.DataFrame | None = None,
                   mff_note: str = "") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """All rows, the claim-4 region table, the per-trust productivity table and the context used by the text."""
    rows, detail = scenario_rows(t, draws, seed)
    irows, idetail = index_rows(t, draws)
    df = rows_frame(rows + irows).sort_values(["claim"], kind="stable").reset_index(drop=True)
    eligible = t["eligible"].to_numpy(bool)
    base = draws["base"]
    k1 = CLAIMS[1].k
    large13 = largest(t["actual"].to_numpy(float), eligible, k1)
    tp = trust_productivity(t, base, large13)

    reg = idetail.get((4, "primary"))
    if reg is not None:
        names = t["org_name"].to_numpy()
        codes = t["org_code"].to_numpy()
        reg = reg.assign(largest=reg["largest"].map(lambda ix: "; ".join(f"{codes[i]} {names[i]}" for i in ix)),
                         most_likely_lowest=reg["most_likely_lowest"].map(lambda i: f"{codes[i]} {names[i]}"))
    else:
        reg = pd.DataFrame(columns=["region", "n_trusts", "largest", "p_lowest_is_largest", "most_likely_lowest",
                                    "p_most_likely_lowest"])

    # context for the text
    actual = t["actual"].to_numpy(float)
    n_elig = int(eligible.sum())
    thr = (actual >= CLAIM_THRESHOLD_GBP_M) & eligible
    kth = float(np.sort(actual[eligible])[::-1][k1 - 1])
    a13 = float(actual[large13].sum())
    need_ratio = 1 / (1 - CLAIMS[2].claimed / a13) if CLAIMS[2].claimed < a13 else np.inf
    raw_ci = {g: float(actual[m].sum() / t["expected"].to_numpy(float)[m].sum())
              for g, m in (("large", large13), ("rest", eligible & ~large13))}
    adj = base.need_cost
    exp_adj = t["expected"].to_numpy(float)[None] * np.exp(adj)
    agg = {"k": k1, "n_rest": int((eligible & ~large13).sum()),
           "large": float(np.median(1 / group_productivity(actual, exp_adj, large13))),
           "rest": float(np.median(1 / group_productivity(actual, exp_adj, eligible & ~large13)))}
    ctx: dict = {"agg": agg}
    mff_line = ""
    if t["mff"].notna().any():
        un = (actual * t["mff"].to_numpy(float))
        mff_line = (f" Undoing the MFF adjustment (Peer Finder MFF payment index, ~2017/18) brings "
                    f"{int(((un >= CLAIM_THRESHOLD_GBP_M) & eligible).sum())} trusts over £1.5bn.")
    pf_line = ""
    if peer_finder is not None:
        pf = peer_finder.set_index("org_code")["opex_gbp_m"]
        opex = t["org_code"].map(pf)
        pf_line = (f" In the Peer Finder's operating expenses (~2017/18, before several mergers) "
                   f"{int(((opex >= CLAIM_THRESHOLD_GBP_M) & t['eligible']).sum())} of the panel's trusts spent over "
                   f"£1.5bn.")
    ctx["size_text"] = (
        f"The panel has {n_elig} non-specialist acute trusts (the claim's {k1} + {CLAIM_N_SMALLER} = "
        f"{k1 + CLAIM_N_SMALLER}); {int(thr.sum())} of them have NCC actual cost of £1.5bn or more. The "
        f"{k1}th largest spends £{kth:,.0f}m, so the claim's count corresponds to an NCC spend threshold of about "
        f"£{kth / 1000:.2f}bn (NCC patient-care cost, MFF-adjusted, is smaller than operating expenditure)."
        + mff_line + pf_line + (" " + mff_note if mff_note else ""))
    ctx[1] = {"lines": [
        f"The {k1} largest by NCC spend: " + ", ".join(f"{c} ({nice_name(n)})" for c, n in
                                                    zip(t.org_code[large13], t.org_name[large13])) + ".",
        f"Before need adjustment their aggregate NCC cost index (actual / expected) is {raw_ci['large']:.3f} against "
        f"{raw_ci['rest']:.3f} for the other {agg['n_rest']}; need-adjusted (posterior medians) {agg['large']:.3f} "
        f"against {agg['rest']:.3f}."],
        "fmt": {"k": k1}, "extra": {"largest": t.org_code[large13].tolist(), "n_eligible": n_elig,
                                    "n_threshold": int(thr.sum()), "kth_spend_gbp_m": kth,
                                    "raw_cost_index_large": raw_ci["large"], "raw_cost_index_rest": raw_ci["rest"]}}
    qa = {}
    for v in ("base", "national"):
        if v in draws:
            vi = draws[v].value_index
            diff = np.nanmean(vi[:, large13], 1) - np.nanmean(vi[:, eligible & ~large13], 1)
            qa[v] = (interval(diff), float(np.mean(diff < 0)))
    if qa:
        ctx[1]["lines"] += ["Quality-adjusted version (mean value index, SD units, of the largest minus the rest; "
                            "< 0: largest worse): " + "; ".join(
                                f"{'size-class peer benchmark (base)' if v == 'base' else 'national benchmark'}"
                                f"{' (fit failed the convergence gate)' if draws[v].gate_passed is False else ''} "
                                f"{s['median']:+.2f} [{s['lo95']:+.2f} to {s['hi95']:+.2f}], P(< 0){_peq(p)}"
                                for v, (s, p) in qa.items()) + "."]
        ctx[1]["extra"]["quality_adjusted"] = {v: {**s, "probability": p} for v, (s, p) in qa.items()}
    ctx[2] = {"lines": [
        f"The {k1} largest trusts' NCC actual cost totals £{a13 / 1000:,.1f}bn; £8bn would be {8000 / a13:.0%} of it, "
        f"which needs their cost index to be {need_ratio:.2f} times the smaller trusts' (need-adjusted medians: "
        f"{agg['large'] / agg['rest']:.3f} times)."],
        "extra": {"spend_largest_gbp_m": a13, "cost_index_ratio_needed": need_ratio,
                  "cost_index_ratio_observed": agg["large"] / agg["rest"]}}
    rest13 = eligible & ~large13
    per = saving_per_trust(actual, exp_adj, rest13)
    share_l = per[:, large13].sum(1) / actual[large13].sum()
    share_r = per[:, rest13].sum(1) / actual[rest13].sum()
    ctx[2]["lines"].append(
        f"For comparison, brought to the same benchmark, the trusts above it would release "
        f"{np.median(share_l):.1%} of the {k1} largest trusts' spend and {np.median(share_r):.1%} of the smaller "
        f"trusts' own spend (posterior medians; P(larger share at the largest){_peq(float(np.mean(share_l > share_r)))}).")
    ctx[2]["extra"].update({"saving_share_largest": float(np.median(share_l)),
                            "saving_share_rest": float(np.median(share_r))})
    k3 = CLAIMS[3].k
    large11 = largest(actual, eligible, k3)
    O, E = t["shmi_observed_deaths"].to_numpy(float), t["shmi_expected_deaths"].to_numpy(float)
    rest11 = eligible & ~large11 & np.isfinite(E)
    if np.isfinite(E[large11]).any():
        ctx[3] = {"lines": [
            f"The {k3} largest trusts recorded {np.nansum(O[large11]):,.0f} SHMI deaths against {np.nansum(E[large11]):,.0f} "
            f"expected (O/E {np.nansum(O[large11]) / np.nansum(E[large11]):.3f}); the other {int(rest11.sum())} "
            f"non-specialist trusts {np.nansum(O[rest11]) / np.nansum(E[rest11]):.3f}. 1,800 deaths would be "
            f"{1800 / np.nansum(O[large11]):.1%} of the {k3} largest trusts' SHMI deaths."],
            "extra": {"largest": t.org_code[large11].tolist(), "observed_deaths_largest": float(np.nansum(O[large11])),
                      "expected_deaths_largest": float(np.nansum(E[large11]))}}
        per = deaths_per_trust(E, base.theta_shmi, base.need_shmi, rest11)
        rate_l = np.nansum(per[:, large11], 1) / np.nansum(E[large11]) * 1000
        rate_r = np.nansum(per[:, rest11], 1) / np.nansum(E[rest11]) * 1000
        ctx[3]["lines"].append(
            f"For comparison, against the same benchmark the trusts above it account "
            f"for {np.median(rate_l):.0f} avoidable deaths per 1,000 expected deaths at the {k3} largest and "
            f"{np.median(rate_r):.0f} among the smaller trusts (P(higher at the largest){_peq(float(np.mean(rate_l > rate_r)))}).")
        ctx[3]["extra"].update({"per_1000_expected_largest": float(np.median(rate_l)),
                                "per_1000_expected_rest": float(np.median(rate_r))})
    if len(reg):
        ctx[4] = {"lines": ["By region (primary scenario): " + "; ".join(
            f"{r.region} ({r.n_trusts} trusts): P{_peq(r.p_lowest_is_largest)}" for r in reg.itertuples()) + "."],
            "fmt": {"regions": f"{reg.n_trusts.min()}-{reg.n_trusts.max()}"},
            "extra": {"regions": {r.region: r.p_lowest_is_largest for r in reg.itertuples()}}}
    else:
        ctx[4] = {"fmt": {"regions": "several"}}
    b = idetail.get((5, "primary"))
    if b is not None:
        codes = t["org_code"].to_numpy()
        best = b["best"]
        ctx[5] = {"lines": [
            f"P({b['code']} in the top 10){_peq(b['p_top10'])}. The trust most often ranked first is {codes[best]} "
            f"({nice_name(t.org_name[best])}), P(rank 1){_peq(b['p_rank1'][best])}."],
            "fmt": {"n": b["n_ranked"]},
            "extra": {"p_top10": b["p_top10"], "most_often_first": codes[best], "p_most_often_first": b["p_rank1"][best]}}
    else:
        ctx[5] = {"fmt": {"n": int(len(t))}}
    return df, reg, tp, ctx


def _fit_variants(panel, out: Path, quick: bool, seed: int, echo, fits: dict | None, fit_missing: bool) -> dict:
    from analysis.variants import QUICK_SAMPLER, fit_cached, variant_config

    got = dict(fits or {})
    overrides = {"sampler": {**(QUICK_SAMPLER if quick else {}), "seed": seed}}
    for name in VARIANTS_USED:
        if name in got or not fit_missing:
            continue
        cfg = variant_config(name, overrides)
        fd = ResultsDir(out).variant(name)
        echo(f"[claims] variant {name}: fitting or reusing {fd.path}")
        idata, data, gate = fit_cached(panel, cfg, fd.path, echo=echo)
        got[name] = (idata, data, gate, cfg)
    return got


def run_claims(panel: pd.DataFrame, out: str | Path = "results", quick: bool = False, seed: int = 20260401,
               echo=print, data_dir: str | Path | None = None, fits: dict | None = None,
               fit_missing: bool = True) -> ClaimsResult:
    """Fit (or reuse) the base, national and no-need models, re-test every claim, print the table and write
    ``<out>/claims/`` (claims.csv, claims_regions.csv, claims_trusts.csv, two SVG figures, manifest.json).

    ``fits``: optional precomputed fits, variant name -> (idata, data, gate, cfg) (tests, notebooks); with
    ``fit_missing=False`` a variant that is not given is not fitted and its checks are reported as not run.
    ``data_dir``: the real data directory, for the MFF and operating-expenditure checks; by default the one
    recorded in ``<out>/panel/manifest.json`` when that manifest describes this panel.
    """
    out = Path(out)
    fits = _fit_variants(panel, out, quick, seed, echo, fits, fit_missing)
    if "base" not in fits:
        raise SVIError("claims need the base model fit")
    draws = {}
    for name, (idata, data, gate, cfg) in fits.items():
        draws[name] = draws_from_idata(idata, data, cfg, name, gate)
        if gate is not None and not gate.passed:
            echo(f"!! {name} fit FAILED the convergence gate: its rows are for diagnosis only")
    d_base = fits["base"][1]

    data_dir = Path(data_dir) if data_dir is not None else find_data_dir(panel, out)
    peer_finder, mff, mff_note = None, None, ""
    if data_dir is None:
        mff_note = ("MFF check not testable: no real data directory (the synthetic panel has no MFF values and the "
                    "panel's NCC costs are already MFF-adjusted).")
    else:
        try:
            peer_finder = load_peer_finder(data_dir)
            mff = peer_finder.set_index("org_code")["mff"]
        except DataError as exc:
            mff_note = f"MFF check not testable: {exc}"
    t = trust_frame(d_base, mff)
    if mff is not None:
        miss = t["mff"].isna() & t["eligible"]
        if miss.any():
            fill = t.groupby("region")["mff"].transform("median")
            mff_note = (f"{int(miss.sum())} trusts without a Peer Finder MFF ({', '.join(t.org_code[miss])}; merged "
                        "after 2018) take their region's median MFF.")
            t.loc[miss, "mff"] = fill[miss]

    df, reg, tp, ctx = compute_claims(t, draws, seed=seed, peer_finder=peer_finder, mff_note=mff_note)
    gates = {n: (None if g is None else bool(g.passed)) for n, (_, _, g, _) in fits.items()}
    # the headline rests on the base fit: a failed base gate marks every item failed; a failed sensitivity fit is
    # flagged on its own rows (note) and in the method text
    base_passed = gates.get("base") is not False
    failed = [n for n, g in gates.items() if g is False]

    echo("")
    echo("Published claims re-tested (primary analysis; numbers are posterior medians and 95% intervals)")
    echo(plain_table(df))
    echo("")
    echo("Sensitivity checks")
    echo(plain_table(df[~df.primary], primary_only=False))
    if quick:
        echo("(--quick: short chains, a smoke test, not evidence)")

    items: list[Item] = []
    with io.atomic_dir(ResultsDir(out).claims_dir, owner="svi claims", legacy=lambda d: (d / "manifest.json").is_file()) as tmp:
        io.write_table(df, tmp / "claims", formats=("csv",))
        io.write_table(reg, tmp / "claims_regions", formats=("csv",))
        io.write_table(tp, tmp / "claims_trusts", formats=("csv",))
        figure_productivity(tp, ctx["agg"], tmp / "claims_productivity.svg")
        figure_sensitivity(df, tmp / "claims_sensitivity.svg")
        gate_text = "; ".join(f"{n}: {'passed' if g else ('FAILED' if g is False else 'not checked')}"
                              for n, g in gates.items())
        items.append(Item(
            "claims_method", "Re-testing published claims: measures and verdict rule",
            "\n".join([
                "Five published claims about English acute trusts are restated as posterior quantities of the value "
                "model fitted to the public panel.",
                "",
                "*Size* is NCC 2024/25 actual total cost (the only recent per-trust spend in the public data). "
                + ctx["size_text"],
                "",
                "*Productivity* is national-price activity per £ of actual cost (NCC expected / actual cost), "
                "need-adjusted by the cost model (each trust's expected cost multiplied by exp(x·β), the cost its "
                "catchment's deprivation, age and health predicts); a group's productivity is the spend-weighted "
                "aggregate. Size-class peer means are not removed, since size is what the claims are about "
                "(removing them is a sensitivity check). The quality-adjusted version is the value index.",
                "",
                "*Uncertainty*: the primary numbers concern the named trusts in the latest year, so their "
                "uncertainty is that of the need adjustment and of each trust's true SHMI rate; a Bayesian bootstrap "
                "over trusts adds the uncertainty about trusts of that size in general (small numbers).",
                "",
                "*Verdict rule.* " + verdict_rule_text(),
                "",
                f"Model fits (convergence gate): {gate_text}."
                + (f" Rows from a fit that failed the gate ({', '.join(failed)}) are shown for diagnosis only and "
                   "flagged in their notes." if failed else "")
                + (" Quick run: short chains, not evidence." if quick else "")]),
            table="claims.csv", figure="claims_sensitivity.svg",
            caption="Each claim under the primary analysis (red) and the sensitivity checks (blue): posterior "
                    "medians and 95% intervals (claims 1-3; dotted line: the claimed value) and posterior "
                    "probabilities (claims 4-5; dotted lines: the verdict thresholds).",
            passed=base_passed,
            extra=_jsonable({"verdict_rule": {"support_p": SUPPORT_P, "against_p": AGAINST_P,
                                              "about_factor": ABOUT_FACTOR},
                             "gates": gates, "quick": quick, "seed": seed, "data_dir": None if data_dir is None
                             else str(data_dir)})))
        for claim in sorted(CLAIMS):
            text, extra = _claim_text(claim, df, ctx.get(claim, {}))
            fig = cap = tab = None
            if claim == 1:
                fig, tab = "claims_productivity.svg", "claims_trusts.csv"
                cap = (f"Need-adjusted NCC cost index of each non-specialist acute trust against its spend; the "
                       f"{CLAIMS[1].k} largest in red.")
            if claim == 4 and len(reg):
                tab = "claims_regions.csv"
            items.append(Item(f"claim_{claim}", f"Claim {claim}: {CLAIMS[claim].short}", text, table=tab, figure=fig,
                              caption=cap, passed=None if base_passed else False, extra=extra))
        write_manifest(tmp, "svi claims", items, model_id=str(fits["base"][0].attrs.get("svi_model_id", "")))
    echo(f"claims written to {ResultsDir(out).claims_dir}")
    return ClaimsResult(df, reg, tp, items, ResultsDir(out).claims_dir)

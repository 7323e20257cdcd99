"""Every claim under every scenario: the rows of the claims table, and the context the text quotes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.claims.draws import (Draws, bootstrap_weights, cost_saving, deaths_avoided, deaths_per_trust,
                                   group_productivity, interval, largest, lowest_among_largest, productivity_ratio,
                                   rank_of, saving_per_trust)
from analysis.claims.spec import (ABOUT_FACTOR, BARNSLEY_CODE, CLAIM_N_SMALLER, CLAIM_THRESHOLD_GBP_M, CLAIMS,
                                  INDEX_SCENARIOS, NOT_RUN, SCENARIOS, Row, Scenario)
from analysis.claims.text import fmt, peq
from analysis.report.text import display_name
from analysis.summaries import avoidable_excess, peer_quantile, rank_draws, trapped_value


def size_vector(t: pd.DataFrame, kind: str) -> np.ndarray:
    if kind == "spend":
        return t["actual"].to_numpy(float)
    if kind == "activity":
        return t["expected"].to_numpy(float)
    if kind == "spend_unadjusted":
        return (t["actual"] * t["mff"]).to_numpy(float)
    raise ValueError(f"unknown size measure {kind!r}")


def about_event(claim: int) -> str:
    """The event a numeric claim ("about X") is tested as, in words."""
    c = CLAIMS[claim]
    return f"{'saving' if claim == 2 else 'deaths'} ≥ {fmt(ABOUT_FACTOR * c.claimed, c.unit)}"


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
                    x = avoidable_excess(E[None], dr.theta_shmi, shmi_ref, logr, dr.peer, 0.5)[:, large & has].sum(1)
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
            continue  # neither size nor the claim-4 population enters claim 5, which uses the index's national ranking
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
        # the index's own national ranking: the trusts it ranks nationally (not the groups without an indicator)
        eligible = (t["nationally_ranked"].to_numpy(bool) if "nationally_ranked" in t else np.ones(len(t), bool))
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
        f"The {k1} largest by NCC spend: " + ", ".join(f"{c} ({display_name(n)})" for c, n in
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
                                f"{s['median']:+.2f} [{s['lo95']:+.2f} to {s['hi95']:+.2f}], P(< 0){peq(p)}"
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
        f"trusts' own spend (posterior medians; P(larger share at the largest){peq(float(np.mean(share_l > share_r)))}).")
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
            f"{np.median(rate_r):.0f} among the smaller trusts (P(higher at the largest){peq(float(np.mean(rate_l > rate_r)))}).")
        ctx[3]["extra"].update({"per_1000_expected_largest": float(np.median(rate_l)),
                                "per_1000_expected_rest": float(np.median(rate_r))})
    if len(reg):
        ctx[4] = {"lines": ["By region (primary scenario): " + "; ".join(
            f"{r.region} ({r.n_trusts} trusts): P{peq(r.p_lowest_is_largest)}" for r in reg.itertuples()) + "."],
            "fmt": {"regions": f"{reg.n_trusts.min()}-{reg.n_trusts.max()}"},
            "extra": {"regions": {r.region: r.p_lowest_is_largest for r in reg.itertuples()}}}
    else:
        ctx[4] = {"fmt": {"regions": "several"}}
    b = idetail.get((5, "primary"))
    if b is not None:
        codes = t["org_code"].to_numpy()
        best = b["best"]
        ctx[5] = {"lines": [
            f"P({b['code']} in the top 10){peq(b['p_top10'])}. The trust most often ranked first is {codes[best]} "
            f"({display_name(t.org_name[best])}), P(rank 1){peq(b['p_rank1'][best])}."],
            "fmt": {"n": b["n_ranked"]},
            "extra": {"p_top10": b["p_top10"], "most_often_first": codes[best], "p_most_often_first": b["p_rank1"][best]}}
    else:
        ctx[5] = {"fmt": {"n": int(len(t))}}
    return df, reg, tp, ctx

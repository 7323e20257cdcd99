"""The values of the documents: each trust's board documents and the paper, as Markdown-ready strings nested under
``svi`` (the documents' ``{{< meta svi.KEY >}}`` shortcodes).  Nothing is computed here that the saved tables
(:mod:`analysis.summaries`) do not hold; this module chooses and formats."""

from __future__ import annotations

import math
import re

import pandas as pd

from analysis.errors import SVIError
from analysis.fitinfo import attempts_text, timing_text
from analysis.report import board
from analysis.report import need as need_text
from analysis.report.data import Results, config_value
from analysis.report.equity import paper_access, paper_equity, trust_access, trust_equity
from analysis.report.moves import trust_moves
from analysis.report.sections import MANIFESTS, SETTINGS, manifest_items, manifest_status
from analysis.report.trapped import TrappedIndex, bench_words, paper_trapped, trust_trapped
from analysis.report.text import (count, display_name, interval, known, md, money, num, pct, rank, short_name,
                                  signed)
from models import indicators as registry


def _and(items: list[str]) -> str:
    return ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + (items[-1] if items else "")


def indicator_rows(names) -> list[tuple]:
    """(record, measure, key, label, formatter) of each Health Alpha row of the board documents, from the records
    (models/indicators.py) of the indicators ``names``: the ratio or points against expected, and the excess events
    per 1,000 units of exposure where the record has an exposure.  ``key`` names the row in ``svi.ind``."""
    rows = []
    for rec in registry.records(names):
        f = (lambda x: num(x, 2)) if rec.alpha == "ratio" else (lambda x: signed(x, 1))
        # the table's header says "above 0 is better unless stated": state it only where it is not so
        label = f"{rec.label}: {'ratio to expected' if rec.alpha == 'ratio' else 'points vs expected'}"
        rows.append((rec, rec.alpha_measure, rec.name, label + ("" if rec.higher_is_better else
                                                                f" ({rec.better_phrase})"), f))
        if rec.exposure:
            rows.append((rec, rec.excess_measure, "excess",
                         f"{rec.events.capitalize()} above expected per 1,000 {rec.exposure_unit} "
                         + ("" if rec.higher_is_better else "(below 0 is better)"), lambda x: signed(x, 1)))
    return rows


#: the appendix's Health Alpha table is written with one row per indicator where this marker stands
INDICATOR_ROWS_MARKER = re.compile(r"(?m)^<!-- svi:indicator-rows[^\n]*-->\n")


def indicator_table_rows(names) -> str:
    """The appendix's Health Alpha rows for the indicators ``names``: labels from the records, values from the
    trust's ``svi.ind`` (each cell a meta shortcode, filled like every other value of the document)."""
    cells = ("median", "i80", "i95", "peer")
    return "".join(f"| {md(label)} | " + " | ".join(f"{{{{< meta svi.ind.{key}.{c} >}}}}" for c in cells) + " |\n"
                   for _rec, _measure, key, label, _f in indicator_rows(names))


SCOPES = [("national", "England"), ("peer group", "Peer group"), ("region", "Region")]


class TrustIndex:
    """The tables indexed once for fast per-trust look-ups."""

    def __init__(self, res: Results):
        t = res.tables
        self.info = (t["value_index"][t["value_index"].measure == "value_index"]
                     .set_index("org_code")[["org_name", "region", "size_class", "peer_group"]])
        self.value = {m: g.set_index("org_code") for m, g in t["value_index"].groupby("measure")}
        self.alpha = {m: g.set_index("org_code") for m, g in t["health_alpha"].groupby("measure")}
        # the board documents' indicator rows: every indicator of the default set (a default weight, not only
        # when present; n/a where the fit lacks one), then any other indicator the fit has
        fitted = [i for i in t["health_alpha"].indicator.unique() if i in registry.INDICATORS]
        self.indicators = list(dict.fromkeys([n for n, r in registry.INDICATORS.items()
                                              if r.weight is not None and not r.when_present] + fitted))
        self.ranks = {s: g.set_index("org_code") for s, g in t["ranks"].groupby("scope")}
        self.trapped_index = TrappedIndex(t)
        self.trapped, self.deaths = self.trapped_index.trapped, self.trapped_index.deaths
        self.panel = res.panel.drop_duplicates("org_code").set_index("org_code")
        self.funnel = t["shmi_funnel"].set_index("org_code")
        dv = t.get("value_drivers")
        self.drivers = {c: g.set_index("part") for c, g in dv.groupby("org_code")} if dv is not None else None
        self.findings = res.findings
        self.category = t["categories"].set_index("org_code")
        nc = t["need_context"]
        self.context = {c: g.set_index("org_code") for c, g in nc[nc.scope == "trust"].groupby("column")}
        self.peer_of = self.info.peer_group.to_dict()
        self.groups = {g: list(idx) for g, idx in self.info.groupby("peer_group").groups.items()}
        self.pos = {c: i for i, c in enumerate(self.info.index)}


def _row(frame: pd.DataFrame | None, code: str):
    if frame is None or code not in frame.index:
        return None
    r = frame.loc[code]
    return r.iloc[0] if isinstance(r, pd.DataFrame) else r


#: what the board documents say of each value category (analysis.summaries.derived.value_category)
VERDICTS = {
    "not ranked": "not ranked (no value index for this trust)",
    "best quarter (very likely)": "very likely among the best-value quarter of trusts in England",
    "best quarter (likely)": "more likely than not among the best-value quarter of trusts in England",
    "lowest quarter (very likely)": "very likely among the lowest-value quarter of trusts in England",
    "lowest quarter (likely)": "more likely than not among the lowest-value quarter of trusts in England",
    "uncertain": "cannot be placed with confidence in either the best or the lowest quarter nationally",
}


#: the verdict of a trust ranked within its peer group only, from its peer-group rank quartiles
WITHIN_GROUP = {
    "not ranked": "is not ranked within the {group} group either (no value index)",
    "best quarter (very likely)": "is very likely among the best-value quarter of the {group} group",
    "best quarter (likely)": "is more likely than not among the best-value quarter of the {group} group",
    "lowest quarter (very likely)": "is very likely among the lowest-value quarter of the {group} group",
    "lowest quarter (likely)": "is more likely than not among the lowest-value quarter of the {group} group",
    "uncertain": "cannot be placed with confidence in either the best or the lowest quarter of the {group} group",
}


def _peer_stats(ix: TrustIndex, code: str, col: str, scale: float = 1.0, f=None) -> list[str]:
    """The trust's value, its peers' median and range (the trust itself left out), and the England median."""
    r = _row(ix.context.get(col), code)
    if r is None:
        return ["not in the panel"] * 4
    g = lambda x, why: f(x * scale) if known(x) else why
    own = g(r.value, board.missing_reason(ix.findings, code, col, "not in the source data"))
    rng = interval(r.peer_min, r.peer_max, f=lambda x: f(x * scale)) if known(r.peer_min) else "no peer has it"
    return [own, g(r.peer_median, "no peer has it"), rng, g(r.england_median, "no trust has it")]


def trust_values(res: Results, code: str, ix: TrustIndex | None = None) -> dict:
    """All numbers and texts of one trust's appendix, formatted as Markdown-ready strings (nested under ``svi``).

    No value is a bare "n/a": a missing value says why it is missing (:mod:`analysis.report.board`)."""
    ix = ix or TrustIndex(res)
    if code not in ix.info.index:
        raise SVIError(f"trust {code!r} is not in the results")
    info = ix.info.loc[code]
    group = info.peer_group
    members = ix.groups[group]
    peers = [c for c in members if c != code]
    v: dict = {}
    name = display_name(info.org_name)
    overrides = (res.config.get("peer_groups", {}).get("overrides") or {})
    column = res.config.get("peer_groups", {}).get("column", "size_class")
    if code in overrides:
        rule = (f"a reviewed override in the model configuration places it in the {md(group)} group "
                f"(its {md(column.replace('_', ' '))} is {md(info.size_class)})")
    else:
        rule = (f"peer groups are the trusts' {md(column.replace('_', ' '))} (ERIC-style size class), and this trust's "
                f"is {md(info[column] if column in info.index else group)}")
    title = board.title_name(info.org_name)
    v["trust"] = {
        "code": md(code), "name": md(name), "name_published": md(info.org_name), "region": md(info.region),
        "title": md(title), "title_size": board.title_size(title),
        "appendix_title_size": board.heading_size(f"{title} ({code})", "appendix"),
        "handout_title_size": board.heading_size(f"{title} ({code})", "handout"),
        "header": " · ".join([f"SVI value index", md(code), md(info.region)] + ([md(name)] if title != name else [])),
        "size_class": md(info.size_class), "peer_group": md(group), "n_group": str(len(members)),
        "n_peers": str(len(peers)), "peer_rule": rule,
        "peers_list": "; ".join(f"{md(short_name(ix.info.org_name[p]))} ({md(p)})" for p in peers) or "none",
    }

    # -- composites
    comp = {}
    for key, measure in (("quality", "quality_composite"), ("cost", "cost_composite"), ("value", "value_index"),
                         ("quality_peer", "quality_composite_peer"), ("cost_peer", "cost_composite_peer")):
        r = _row(ix.value.get(measure), code)
        why = "not estimated: no indicator reported" if key != "cost" else "not estimated: no cost reported"
        ok = r is not None and known(r["median"])
        comp[key] = {"median": signed(r["median"]) if ok else why,
                     "i80": interval(r.lo80, r.hi80, signed) if ok else why,
                     "i95": interval(r.lo95, r.hi95, signed) if ok else why,
                     "p": pct(r.p_positive) if ok and "p_positive" in r.index else why}
    v["comp"] = comp

    # -- ranks: a trust whose group reports none of an indicator has a peer-group rank only
    rk = {}
    peer_r = _row(ix.ranks.get("peer group"), code)
    nat_r = _row(ix.ranks.get("national"), code)
    specialist = (nat_r is None or not known(nat_r.rank_median)) and peer_r is not None and known(peer_r.rank_median)
    for key, label in (("national", "national"), ("peer", "peer group"), ("region", "region")):
        r = _row(ix.ranks.get(label), code)
        if r is None or not known(r.rank_median):
            short = "not ranked" if specialist else "not ranked (no value index)"
            why = ("not ranked: a specialist trust, compared within its peer group only" if specialist else
                   "not ranked: no value index")
            rk[key] = {"median": short, "i95": "specialist" if specialist else "none", "n": "not ranked", "top": "not ranked",
                       "bottom": "not ranked", "group": md(r.group) if r is not None else "not ranked",
                       "text": why}
            continue
        rk[key] = {"median": rank(r.rank_median), "i95": interval(r.rank_lo95, r.rank_hi95, rank),
                   "n": count(r.n_ranked), "top": pct(r.p_top_quartile), "bottom": pct(r.p_bottom_quartile),
                   "group": md(r.group),
                   "text": f"{rank(r.rank_median)} of {count(r.n_ranked)} (95% interval {interval(r.rank_lo95, r.rank_hi95, rank)})"}
    v["rank"] = rk
    cat = _row(ix.category, code)
    if specialist:
        from analysis.summaries.derived import value_category

        within = str(value_category([peer_r.p_top_quartile], [peer_r.p_bottom_quartile])[0])
        v["verdict"] = ("not ranked nationally (a specialist trust, compared within its peer group only); it "
                        + WITHIN_GROUP[within].format(group=md(group)))
    else:
        v["verdict"] = VERDICTS[cat.value if cat is not None else "not ranked"]
    v["show"] = {"rank": "no" if specialist else "yes", "specialist": "yes" if specialist else "no"}

    # -- indicators
    ind = {}
    for rec, measure, key, _label, f in indicator_rows(ix.indicators):
        t = ix.alpha.get(measure)
        r = _row(t, code)
        pr = _row(ix.context.get(measure), code)
        peer_med = pr.peer_median if pr is not None else float("nan")
        peer = f(peer_med) if known(peer_med) else "no peer reports it"
        if r is None or not known(r["median"]):
            why = next(filter(None, (board.missing_reason(ix.findings, code, c, "") for c in rec.columns)),
                       rec.missing_note)
            ind[key] = {"median": why, "i80": "", "i95": "", "peer": peer, "note": why}
            continue
        ind[key] = {"median": f(r["median"]), "i80": interval(r.lo80, r.hi80, f=f),
                    "i95": interval(r.lo95, r.hi95, f=f), "peer": peer, "note": ""}
    v["ind"] = ind

    # -- SHMI funnel (published figures, NHS Digital method) and the one mortality message
    fr = _row(ix.funnel, code)
    mrec = registry.get(registry.mortality_name()) if registry.mortality_name() else None
    shmi_period = mrec.columns[0] if mrec is not None else ""
    per = res.dictionary.set_index("name")["period"].get(shmi_period, "") if res.dictionary is not None and \
        "name" in res.dictionary else ""
    mort = board.mortality(fr, _row(ix.alpha.get(mrec.alpha_measure) if mrec is not None else None, code),
                           _row(ix.deaths, code), board._period_text(per) if per else "period not recorded")
    v["mortality"] = mort
    if fr is not None and bool(fr.in_fit):
        v["funnel"] = {"shmi": num(fr.ratio, 2), "observed": count(fr.observed), "expected": count(fr.expected),
                       "band": md(str(fr.band_label)),
                       "text": (f"Published SHMI {num(fr.ratio, 2)} ({count(fr.observed)} observed against "
                                f"{count(fr.expected)} expected deaths): band {int(fr.band)}, "
                                f"\u201c{md(str(fr.band_label))}\u201d, on NHS Digital's funnel.")}
    else:
        nos = "not published for this trust"
        v["funnel"] = {"shmi": nos, "observed": nos, "expected": nos, "band": "not banded",
                       "text": "This trust has no published SHMI (SHMI covers non-specialist acute trusts), "
                               "so it is not on the funnel."}

    # -- trapped value and avoidable deaths (analysis.report.trapped)
    bench = res.config.get("benchmark", {})
    labels = dict(SETTINGS)

    def why(s):
        if s not in labels:  # the sum of the settings and the net figure: missing when every setting is
            return "no cost data by care setting"
        col = f"ncc_actual_cost_{s}_gbp_m"
        return board.missing_reason(ix.findings, code, col, f"no {labels[s]} cost data")
    # the cost gap the same in every draw (a peer group without need adjustment): no interval is printed
    fixed_gap = ix.trapped_index.fixed_gap(code)
    v.update(trust_trapped(res.tables, code, bench.get("cost", "peer_median"), bench.get("mortality", "peer_median"),
                           ix.trapped_index, why=why, fixed_gap=fixed_gap))

    # -- what to act on: the parts that move the value index most, the settings of the trapped value, questions
    drv = board.drivers(ix, code, band=str(fr.band_label) if fr is not None and bool(fr.in_fit) else None)
    sett = board.settings(ix, code, dict(SETTINGS), fixed_gap=fixed_gap)
    qs = board.questions(drv, sett, str(fr.band_label) if fr is not None and bool(fr.in_fit) else None,
                         num(fr.ratio, 2) if fr is not None else "")
    blank = {"text": "", "measure": "", "measure_i95": "", "contribution": "", "contribution_i95": "", "label": ""}
    v["act"] = {
        "driver1": drv[0] if drv else {**blank, "text": "no part of the value index is estimated for this trust"},
        "driver2": drv[1] if len(drv) > 1 else {**blank, "text": "no second part is estimated for this trust"},
        "settings": ("; ".join(x["text"] for x in sett) if sett else
                     "none: cost is at or below the peer benchmark in every care setting in 95% of draws"),
        "questions": ("\n".join(f"{i}. {q}" for i, q in enumerate(qs, 1)) if qs else
                      "No indicator, care setting or mortality band differs credibly from expectation, so these "
                      "numbers prompt no question."),
        "n_questions": str(len(qs)),
    }
    for k in ("driver1", "driver2"):
        v["act"][k] = {kk: str(vv) for kk, vv in v["act"][k].items() if kk in blank}

    # -- need and case-mix beside the peers
    sizes = ix.info.loc[peers, "size_class"].value_counts()
    need = {"size_class": md(info.size_class),
            "peer_sizes": ("none" if not peers else f"all {md(sizes.index[0])}" if len(sizes) == 1 else
                           md(", ".join(f"{k} {n}" for k, n in sizes.items())))}
    for key, col, scale, f in (("imd", "imd_score", 1.0, lambda x: num(x, 1)),
                               ("age75", "share_aged_75_plus", 100.0, lambda x: f"{num(x, 1)}%"),
                               ("hi", "health_index_score", 1.0, lambda x: num(x, 1)),
                               ("expcost", "ncc_expected_cost_total_gbp_m", 1.0, lambda x: money(x, 0)),
                               ("actcost", "ncc_actual_cost_total_gbp_m", 1.0, lambda x: money(x, 0)),
                               ("catchment", "catchment_population", 1.0, count)):
        vals = _peer_stats(ix, code, col, scale, f=f)
        need[key] = dict(zip(("trust", "peer_median", "peer_range", "england"), vals))
    nt = need_text.trust_text(res.config, group)
    need.update({"covariates": nt["covariates"], "applies": nt["applies"], "trust_sentence": nt["sentence"],
                 "against": nt["against"]})
    v["need"] = need

    # -- the specialist caveat (empty for other trusts)
    # -- the equity lens: what the population served changes in the rank (analysis.report.equity)
    v["equity"] = trust_equity(res.tables.get("equity_lens"), code, md(name), need_applies=nt["applies"] == "yes")
    # (b) equity of access: who waits longer by deprivation, from panel/equity_access.csv when the run has it
    acc = trust_access(res.equity_access, code, md(name))
    v["equity"].update(access=acc["text"], access_has=acc["has"])

    v["caveat"] = v["caveat_short"] = ""
    if specialist:
        dt = ix.drivers.get(code) if ix.drivers is not None else None
        qw = {p: float(w) for p, w in (dt.weight.items() if dt is not None else []) if p != "cost" and known(w)}
        tot = sum(qw.values()) or 1.0
        cfg_w = res.config.get("value", {}).get("quality_weights", {})
        mname = registry.mortality_name()
        shmi_w = (pct(float(cfg_w[mname]) / sum(map(float, cfg_w.values()))) if mname in cfg_w else
                  "the mortality share")
        args = (name, group, len(members), {p: w / tot for p, w in qw.items()}, need["age75"]["trust"],
                need["age75"]["england"], shmi_w)
        v["caveat"] = board.specialist_caveat(*args, need_applies=nt["applies"] == "yes")
        v["caveat_short"] = board.specialist_caveat(*args, need_applies=nt["applies"] == "yes", short=True)
    # -- movements over the years (the multi-year fit, when it passed its gate)
    v["moves"] = trust_moves(res.trend, code)
    v.update(_common_values(res))
    return {"svi": v}


def _common_values(res: Results) -> dict:
    gate = res.gate
    passed = bool(gate.get("passed")) and res.unpublishable is None
    kind = res.manifest.get("kind", "unknown")
    period = ", ".join(sorted(res.panel["period"].astype(str).unique())) if "period" in res.panel else "n/a"
    return {
        "period": md(period),
        "periods": board.periods(res.dictionary),
        "kind": md(kind),
        "kind_note": ("These results come from the **synthetic** panel (simulated trusts), not from real NHS data."
                      if kind == "synthetic" else
                      "These results come from the real public NHS data." if kind == "real" else
                      "The panel's origin is not recorded."),
        "model_id": md(res.attrs.get("svi_model_id") or gate.get("model_id") or "not recorded"),
        "code_version": md(res.attrs.get("svi_code_version", "not recorded")),
        "gate_status": "passed" if passed else "FAILED",
        "gate_line": md(res.attrs.get("svi_gate") or
                        f"max R-hat {num(gate.get('max_rhat'), 4)}, min bulk ESS {count(gate.get('min_ess_bulk'))}, "
                        f"min tail ESS {count(gate.get('min_ess_tail'))}, divergences {count(gate.get('divergences'))}"),
        "n_trusts": count(res.headlines["n_trusts"]),
        "validation_status": validation_short(res),
    }


def paper_values(res: Results) -> dict:
    h = res.headlines
    v = _common_values(res)
    gate = res.gate
    passed = v["gate_status"] == "passed"
    v["gate"] = {
        "max_rhat": num(gate.get("max_rhat"), 4), "min_ess_bulk": count(gate.get("min_ess_bulk")),
        "min_ess_tail": count(gate.get("min_ess_tail")), "divergences": count(gate.get("divergences")),
        "rhat_max": num(config_value(res, "gate", "rhat_max"), 2), "ess_bulk_min": count(config_value(res, "gate", "ess_bulk_min")),
        "ess_tail_min": count(config_value(res, "gate", "ess_tail_min")),
        "max_divergences": count(config_value(res, "gate", "max_divergences")),
        "banner": (status_text(res) if passed else
                   "WARNING: THESE RESULTS FAILED THE CONVERGENCE GATE AND ARE NOT PUBLISHABLE. "
                   "The sampler did not converge well enough for the numbers below to be trusted; they are shown "
                   "for diagnosis only, and no trust appendix is rendered from them."),
        "failing": md(", ".join(gate.get("failing", [])[:25])) or "none",
    }
    s = config_value(res, "sampler", default={})
    ss = res.sample_stats
    v["sampler"] = {"name": md(s.get("name", "n/a")), "chains": count(ss.get("chains", s.get("chains"))),
                    "draws": count(ss.get("draws", s.get("draws"))), "tune": count(s.get("tune")),
                    "target_accept": num(res.attrs.get("svi_target_accept", s.get("target_accept")), 2),
                    "seed": md(s.get("seed", "n/a")),
                    "timing": md(timing_text(res.attrs, s.get("name", ""))),
                    "attempts": md(attempts_text(res.attrs)),
                    "created": md(str(res.attrs.get("created_at", "n/a"))[:19].replace("T", " "))}
    qw = config_value(res, "value", "quality_weights", default={})
    qs = config_value(res, "value", "quality_share", default=float("nan"))
    label_of = lambda k: md(registry.INDICATORS[k].board_label or registry.INDICATORS[k].label) if (
        k in registry.INDICATORS) else md(k)
    tot_w = sum(map(float, qw.values())) or 1.0
    v["weights"] = {"text": "; ".join(f"{label_of(k)} {num(100 * float(w) / tot_w, 0)}%"
                                      for k, w in qw.items()) or "n/a"}
    v["weights"]["quality_share"] = num(100 * float(qs), 0) + "%" if known(qs) else "n/a"
    v["weights"]["cost_share"] = num(100 * (1 - float(qs)), 0) + "%" if known(qs) else "n/a"
    # the fitted indicators as their records describe them
    recs = [registry.get(k) for k in config_value(res, "quality", "indicators", default=[]) if k in registry.INDICATORS]
    low = [r.short for r in recs if not r.higher_is_better]
    v["indicators"] = {"labels": md(_and([r.board_label or r.label for r in recs])) or "none",
                       "lower_better": md(_and(low)) or "none", "n": str(len(recs))}
    conc = config_value(res, "value", "dirichlet_concentration", default=0)
    v["weights"]["uncertainty"] = ("fixed in every posterior draw" if not conc or float(conc) <= 0 else
                                   f"drawn in every posterior draw from a Dirichlet distribution with concentration "
                                   f"{num(conc, 0)}, so the intervals include uncertainty about the weights")
    bench = bench_words
    v["benchmark"] = {"cost": bench(config_value(res, "benchmark", "cost")),
                      "mortality": bench(config_value(res, "benchmark", "mortality"))}
    need = list(config_value(res, "need", "covariates", default=[]))
    groups = sorted(res.tables["value_index"].peer_group.dropna().unique())
    v["need"] = {"covariates": need_text.covariate_list(need), "n": str(len(need)),
                 "by_group": need_text.groups_text(res.config, groups)}
    pg = config_value(res, "peer_groups", default={})
    v["peer"] = {"column": md(str(pg.get("column", "size_class")).replace("_", " ")),
                 "n_groups": count(h["n_peer_groups"]),
                 "n_overrides": str(len(pg.get("overrides") or {}))}
    q = config_value(res, "quality", default={})
    v["quality"] = {"correlation": "LKJ-correlated (eta = " + num(q.get("lkj_eta"), 1) + ")" if q.get("correlation")
                    == "lkj" else "one latent quality factor", "shmi_likelihood": md(q.get("shmi_likelihood", "n/a")),
                    "param": md(param_text(q.get("trust_effects", "centred"), res.attrs.get("svi_noncentred"))),
                    "scale_param": md(scale_param_text(q.get("scale_multipliers", "non_centred"),
                                                       res.attrs.get("svi_centred_scales")))}
    v["panel"] = {"n": str(len(res.panel)), "excluded": count(res.quality.get("organisations_excluded")),
                  "findings": count(res.quality.get("findings")),
                  "notes": md(re.sub(r"Built from /\S+?;\s*", "", " ".join(res.quality.get("notes", [])))) or
                  "none recorded"}

    # national results (analysis.summaries.derived.headlines)
    v.update(paper_trapped(h, config_value(res, "benchmark", "cost"), config_value(res, "benchmark", "mortality")))
    v["ranks"] = {"n": count(h["ranks_n"]), "width_median": count(h["rank_width_median"]),
                  "width_min": count(h["rank_width_min"]), "width_max": count(h["rank_width_max"]),
                  "top90": count(h["ranks_top90"]), "bottom90": count(h["ranks_bottom90"])}
    v["value"] = {"above": count(h["value_above"]), "below": count(h["value_below"]), "n": count(h["value_n"])}
    v["shmi"] = {"n": count(h["shmi_n"]), "above": count(h["shmi_above"]), "below": count(h["shmi_below"])}
    v["funnel"] = {"n": count(h["funnel_n"]), "phi": num(h["funnel_phi"], 2), "tau2": num(h["funnel_tau2"], 5),
                   "kept": count(h["funnel_kept"]), "higher": count(h["funnel_higher"]),
                   "lower": count(h["funnel_lower"]), "as_expected": count(h["funnel_as_expected"])}
    v["checks"] = {kind: manifest_status(res, kind) for kind in MANIFESTS}
    v["checks"]["prior_ref"] = prior_check_text(res)
    # mortality: how the model's flags line up with NHS Digital's bands (analysis.summaries.derived.headlines)
    g = lambda k: count(h.get(f"mortality_{k}", float("nan")))
    tau2 = h.get("funnel_tau2", float("nan"))
    v["mortality"] = {"hh": g("higher_higher"), "he": g("higher_as_expected"), "hl": g("higher_lower"),
                      "ll": g("lower_lower"), "le": g("lower_as_expected"), "lh": g("lower_higher"),
                      "eh": g("as_expected_higher"), "el": g("as_expected_lower"),
                      "ee": g("as_expected_as_expected"),
                      "tau": num(math.sqrt(tau2), 3) if known(tau2) else "not estimated",
                      "tau_pct": (num(100 * (math.exp(1.96 * math.sqrt(tau2)) - 1), 0) + "%") if known(tau2) else
                      "not estimated"}
    ha = res.tables["health_alpha"]
    sh = ha[(ha.measure == "shmi_ratio_to_expected") & ha["median"].notna()]
    fu = res.tables["shmi_funnel"]
    fu = fu[fu.in_fit.astype(bool)] if len(fu) else fu
    if len(sh) and len(fu):  # typical 95% half-widths on the ratio scale: the model's interval, the funnel's limits
        half = ((sh.hi95 / sh.lo95) ** 0.5 - 1).median()
        lim = (fu.upper95 - 1).median()
        v["mortality"].update(model_half=num(100 * half, 1) + "%", funnel_half=num(100 * lim, 1) + "%")
    else:
        v["mortality"].update(model_half="not estimated", funnel_half="not estimated")
    n_all, n_nat = h.get("n_trusts", float("nan")), h.get("ranks_n", float("nan"))
    v["ranks"]["n_not_national"] = count(n_all - n_nat) if known(n_all) and known(n_nat) else "none"
    v["quality"]["period"] = period_noise_text(res)
    v["prior_centres"] = prior_centres_text(res)
    v["peer"]["source"] = _dictionary_text(res, "size_class")
    rk = res.tables["ranks"]
    nat = rk[rk.scope == "national"]
    out = nat[nat.rank_median.isna()].merge(rk[(rk.scope == "peer group") & rk.rank_median.notna()][["org_code"]])
    if len(out):
        gs = sorted(set(out.peer_group.astype(str)))
        names = "; ".join(md(short_name(n)) for n in out.org_name.astype(str))
        v["peer"]["unranked"] = f"the {md(', '.join(gs))} group, whose {len(out)} trusts are {names}"
    else:
        v["peer"]["unranked"] = "every group reports every indicator, so every trust is ranked nationally"
    v["need"]["imd_source"] = _dictionary_text(res, "imd_score")
    v["model_notes"] = md(res.model_notes.strip().replace("\n", "; ")) if res.model_notes else "none"
    v["equity"] = {**paper_equity(res.tables.get("equity_lens")),
                   "access": paper_access(res.equity_access)}
    return {"svi": v}


def status_text(res: Results) -> str:
    """The status of results that passed the convergence gate: converged is not validated.  Validated only when a
    validation manifest of this run exists and none of its checks failed."""
    directory, doc = res.manifests.get("validation", (None, None))
    gate = ("The convergence gate passed: the sampler converged on every parameter (R-hat, effective sample sizes "
            "and divergences within their thresholds).")
    if doc is None:
        return (gate + " **These results have not been validated**: `svi validate` was not run for them, so no "
                "calibration, predictive or agreement check supports them yet. Converged is not the same as "
                "correct; treat them as provisional until validation has been run.")
    items = manifest_items(doc)
    failed = [it for it in items if it.get("passed") is False]
    if failed:
        return (gate + f" **Validation found problems**: {len(failed)} of {len(items)} validation checks of this "
                "run failed (see the validation section); read the results with those failures in mind.")
    return gate + f" The validation of this run ({len(items)} checks) found no failure (see the validation section)."


def validation_short(res: Results) -> str:
    """A few words on validation for the board documents: converged is not validated."""
    directory, doc = res.manifests.get("validation", (None, None))
    if doc is None:
        return "not validated (validation was not run for these results)"
    items = manifest_items(doc)
    failed = sum(it.get("passed") is False for it in items)
    return (f"validation: {failed} of {len(items)} checks failed" if failed else
            f"validation: {len(items)} checks, none failed")


def prior_check_text(res: Results) -> str:
    """Where the priors were checked against the data: the validation item that did it, or that none did."""
    directory, doc = res.manifests.get("validation", (None, None))
    for it in manifest_items(doc or {}):
        if "prior" in f"{it.get('id', '')} {it.get('title', '')}".lower():
            return f"the validation item \u201c{md(it.get('title') or it.get('id'))}\u201d below tests them against the data"
    return ("no prior predictive or prior sensitivity check was run for these results (`svi validate` writes "
            "them)")


def prior_centres_text(res: Results) -> str:
    """The numeric centres of the peer means' priors (the national centres computed from the panel)."""
    try:
        from models.value_model import prepare, prior_centres

        c = prior_centres(prepare(res.panel, res.config))
    except Exception as exc:  # noqa: BLE001 - a panel the model cannot prepare has no centres to state
        return f"not computable from this panel ({md(type(exc).__name__)})"
    inv = lambda x: 1 / (1 + math.exp(-x))
    settings = {k: v[0].lower() + v[1:] if v[1:2].islower() else v for k, v in SETTINGS}  # "A&E" keeps its case
    parts = []
    for k, x in c["quality"].items():
        r = registry.INDICATORS.get(k)
        name = md(r.short) if r is not None else md(k)
        if r is not None and r.alpha == "ratio":
            parts.append(f"{name} {num(x, 3)} on the log scale (a ratio of {num(math.exp(x), 3)})")
        else:
            parts.append(f"{name} {num(x, 2)} logits ({num(100 * inv(x), 1)}%)")
    for j, x in c["cost"].items():
        parts.append(f"cost, {settings.get(j, md(j))}, {num(x, 3)} (actual {signed(100 * (math.exp(x) - 1), 1)}% "
                     "against expected)")
    return "; ".join(parts)


def period_noise_text(res: Results) -> str:
    """The period-noise paragraph of the paper (issue 19, item 6): each fitted indicator's period as the panel
    dictionary labels it, the period-noise SDs (the fit's own where the option was on, else the estimates in
    models/period_noise.toml), and whether this run's model used them, read from the fit's config."""
    import tomllib

    from models.config import PERIOD_NOISE

    q = config_value(res, "quality", default={})
    recs = [registry.get(k) for k in q.get("indicators", []) if k in registry.INDICATORS]
    d = res.dictionary
    lab = d.set_index("name")["period"] if d is not None and {"name", "period"} <= set(d.columns) else pd.Series(
        dtype=str)
    periods = "; ".join(f"{md(r.short)}: {md(str(lab.get(r.denominator, 'not recorded')))}" for r in recs)
    binom = [r for r in recs if r.family == "binomial"]
    on = q.get("period_noise", "off") != "off"
    sds = q.get("period_noise_sd") if on else tomllib.loads(PERIOD_NOISE.read_text())["sd"]
    months = q.get("period_months", {}) if on else {}
    sd_text = _and([f"{md(r.short)} {num(float(sds[r.name]), 3)}" for r in binom if r.name in sds]) or "none"
    text = (f"Each indicator's period, as the panel dictionary labels it: {periods}. A trust's figure for one month "
            f"varies around its long-run rate by more than binomial sampling error: the standard deviation of a "
            f"trust's monthly logit around its own financial-year level, after the month's national movement and the "
            f"sampling variance are removed, is estimated from the monthly series of the shared data at {sd_text} "
            f"({md('RTT, A&E and the cancer standards')} from their provider-level monthly series; FFT, which has no "
            f"monthly series, from "
            f"the change between two three-month windows scaled as {md('A&E')}'s; benchmarks/bench_period_noise.py). "
            f"The model option "
            f"`quality.period_noise` adds a per-trust shock of that SD, divided by the square root of the months "
            f"the figure averages, to each of these indicators' observed logit and integrates it out (a "
            f"beta-binomial with the same logit mean and variance), so that the trust effect and Health Alpha refer "
            f"to the long-run rate, and a trust's unusual month is shrunk toward its peer expectation by the share of "
            f"its deviation the period shock explains: regression to the mean.")
    if on:
        return text + (f" This run's model uses it (months averaged: "
                       f"{_and([f'{md(r.short)} {count(months.get(r.name, 1))}' for r in binom])}).")
    return text + (" This run's model does not: its configuration turns the option off (the default has it on), "
                   "so the intervals of the one-month indicators cover one month's rate and understate the "
                   "uncertainty about the long-run rate (on a synthetic panel with such shocks, benchmarks/RESULTS.md "
                   "reports the coverage with the option off and on).")


def _dictionary_text(res: Results, column: str) -> str:
    """A panel column's meaning, source and period as the panel dictionary records them."""
    d = res.dictionary
    if d is None or "name" not in d or column not in set(d.name):
        return "not recorded in the panel dictionary"
    r = d.set_index("name").loc[column]
    return md(f"{r.meaning} (source: {r.source}; period: {r.period})")


def scale_param_text(mode, centred: str | None) -> str:
    """The log peer-scale multipliers' parameterisation in words (config ``scale_multipliers``; a fit made before the
    choice existed records none and had them non-centred)."""
    if centred is None:
        return "non-centred"
    outs = [c for c in centred.split(";") if c]
    how = "chosen per outcome from the strength of the data: " if mode == "auto" else ""
    return how + (f"centred for {', '.join(outs)}, non-centred elsewhere" if outs else "non-centred everywhere")


def param_text(mode: str, noncentred: str | None) -> str:
    """The trust effects' parameterisation in words: the config's mode and, for "auto", the cells non-centred."""
    if mode != "auto":
        return mode.replace("_", "-") + " in every peer group"
    cells = [c for c in (noncentred or "").split(";") if c]
    return ("chosen per peer group and indicator from the strength of the data: "
            + (f"non-centred for {', '.join(cells)}, centred elsewhere" if cells else "centred everywhere"))

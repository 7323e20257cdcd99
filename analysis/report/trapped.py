"""The documents' trapped value and avoidable deaths: formatted from the saved tables, nothing computed here.

The definitions (headline = the sum of the care settings, gross; the net figure over all costs beside it; point
estimates are posterior means, so the breakdown adds up to the headline) and the null references are
:mod:`analysis.summaries.trapped`'s; this module only chooses the rows and words."""

from __future__ import annotations

import pandas as pd

from analysis.cost_gap import fixed_gap  # noqa: F401  (the one rule; re-exported for the documents' callers)
from analysis.report.text import count, interval, known, md_table, money, num, pct

#: rows of the trust's trapped value, in the order the documents list them: the settings, then their sum, then net
ROWS = [("apc", "Admitted patient care"), ("op", "Outpatients"), ("ae", "A&E"),
        ("gross", "Sum of the care settings (headline)"), ("total", "All costs, net of settings below benchmark")]
BENCH_WORDS = {"peer_median": "the peer-group median", "peer_mean": "the peer-group mean",
               "peer_best_quartile": "the peer group's best quarter (25th percentile)"}
SHORT = {"peer_median": "peer median", "peer_mean": "peer mean", "peer_best_quartile": "best quarter"}


def bench_words(kind) -> str:
    return BENCH_WORDS.get(str(kind), str(kind).replace("_", " "))


def _row(frame: pd.DataFrame | None, code: str):
    if frame is None or code not in frame.index:
        return None
    r = frame.loc[code]
    return r.iloc[0] if isinstance(r, pd.DataFrame) else r


class TrappedIndex:
    """The trapped value, avoidable deaths and benchmark tables indexed once for per-trust look-ups."""

    def __init__(self, tables: dict):
        tv = tables["trapped_value"]
        self.trapped = {s: g.set_index("org_code") for s, g in tv.groupby("setting")}
        ad = tables.get("avoidable_deaths")
        self.deaths = ad.set_index("org_code") if ad is not None else None
        bs = tables.get("benchmark_sensitivity")
        self.bench = ({(m, s, b): g.set_index("org_code") for (m, s, b), g in
                       bs.fillna({"setting": ""}).groupby(["measure", "setting", "benchmark"])}
                      if bs is not None else {})

    def fixed_gap(self, code: str) -> bool:
        """Whether the trust's cost gaps are the same in every posterior draw: every setting's 95% interval has zero
        width and some gap is above 0 (a peer group without need adjustment, costs taken as reported; every draw at
        zero is the ordinary case of a trust below its benchmark)."""
        rows = [t.loc[code] for t in self.trapped.values() if code in t.index]
        return fixed_gap([(r["mean"], r.lo95, r.hi95) for r in rows if known(r["mean"])])

    def by_benchmark(self, measure: str, setting: str, code: str) -> dict[str, float]:
        out = {}
        for (m, s, b), t in self.bench.items():
            if m == measure and s == setting:
                r = _row(t, code)
                out[b] = float(r["mean"]) if r is not None else float("nan")
        return out


def _bench_text(values: dict[str, float], chosen: str, f) -> str:
    order = [b for b in BENCH_WORDS if b != chosen and known(values.get(b))]
    return ", ".join(f"{f(values[b])} ({SHORT[b]})" for b in order) or "not estimated"


#: what the documents print in place of an interval and a chance that the model does not have (a trust whose peer
#: group has no need adjustment: its cost gap from the peers' median is fixed by the reported costs)
NO_INTERVAL = "none"
FIXED_GAP_NOTE = ("These cost figures have no interval ('none' below): the trust's peer group has no need "
                  "adjustment and costs are taken as reported, so its gap from the peers' median is fixed by the data, and the model adds no "
                  "uncertainty to it. That is not certainty: costing differences between trusts could be as large "
                  "as the gap (the paper's null reference).")


def trust_trapped(tables: dict, code: str, cost_bench: str, mort_bench: str, tx: TrappedIndex | None = None,
                  why=None, fixed_gap: bool | None = None) -> dict:
    """The trust's trapped value (``tv``, ``tv_*``) and avoidable deaths (``ad``, ``ad_*``) values of the documents.
    ``why(setting)`` says in words why a setting has no estimate (the data-quality finding or the missing source);
    the documents print that in the estimate's cell and leave its interval cells blank, never "n/a".
    ``fixed_gap`` (default: read from the table, :meth:`TrappedIndex.fixed_gap`): every draw gives the same cost
    gap (a peer group without need covariates, config need.by_group); the documents then print :data:`NO_INTERVAL` instead of a zero-width interval and a chance of
    0% or 100%, and say why (:data:`FIXED_GAP_NOTE`)."""
    tx = tx or TrappedIndex(tables)
    why = why or (lambda s: "not estimated")
    if fixed_gap is None:
        fixed_gap = tx.fixed_gap(code)
    v: dict = {}
    tv = {}
    for s, _ in ROWS:
        t = tx.trapped.get(s)
        r, e = _row(t, code), _row(t, "ENGLAND")
        england = money(e["mean"], 0) if e is not None and known(e["mean"]) else "no trust has it"
        if r is None or not known(r["mean"]):
            reason = why(s)
            act = r.actual_gbp_m if r is not None else float("nan")
            tv[s] = {"est": reason, "i80": "", "i95": "", "p": "", "share": "", "missing": True,
                     "actual": money(act) if known(act) else reason, "england": england}
            continue
        tv[s] = {"est": money(r["mean"]), "i80": interval(r.lo80, r.hi80, money), "i95": interval(r.lo95, r.hi95, money),
                 "p": pct(r.p_above),
                 **({"i80": NO_INTERVAL, "i95": NO_INTERVAL, "p": "not estimated"} if fixed_gap else {}),
                 "actual": money(r.actual_gbp_m) if known(r.actual_gbp_m) else why(s),
                 "share": f"{num(100 * r.share_of_total_cost, 0)}%" if known(r.share_of_total_cost) else "",
                 "england": england, "missing": False}
    v["tv"] = tv
    v["tv_benchmark"] = bench_words(cost_bench)
    g, n = tv["gross"], tv["total"]
    if not g["missing"]:
        # the slide's line is short (its column is narrow); the appendix gives the breakdown and the chances
        v["tv_slide"] = (f"{g['est']} a year over the care settings, from reported costs (no interval: see the "
                         f"appendix); net {n['est']}" if fixed_gap else
                         f"{g['est']} a year (95% interval {g['i95']}) over the care settings; net {n['est']}")
    elif not n["missing"]:
        v["tv_slide"] = (f"no care-setting breakdown; over all costs {n['est']} a year, from reported costs (no "
                         "interval: see the appendix)" if fixed_gap else
                         f"no care-setting breakdown; over all costs {n['est']} a year (95% interval {n['i95']})")
    else:
        v["tv_slide"] = n["est"]
    v["tv_coverage"] = (f"The three care settings are {g['share']} of the trust's {n['actual']} reported cost; the "
                        "rest (critical care, community and other activity) is in the net figure only."
                        if g["share"] else "") + ((" " if g["share"] else "") + FIXED_GAP_NOTE if fixed_gap else "")
    for row in tv.values():
        row.pop("missing")
    v["tv_bench_text"] = _bench_text(tx.by_benchmark("trapped_value", "gross", code), cost_bench, money)
    v["tv_net_bench_text"] = _bench_text(tx.by_benchmark("trapped_value", "total", code), cost_bench, money)

    r = _row(tx.deaths, code)
    e = _row(tx.deaths, "ENGLAND")
    v["ad_benchmark"] = bench_words(mort_bench)
    england = count(e["mean"]) if e is not None and known(e["mean"]) else "no trust has it"
    if r is None or not known(r["mean"]):
        v["ad"] = {"est": "no estimate: no published SHMI", "i80": "", "i95": "", "p": "",
                   "slide": "no estimate (no published SHMI)", "england": england,
                   "text": "No estimate: this trust has no published SHMI.", "bench_text": "",
                   "sentence": "no estimate, as this trust has no published SHMI"}
    else:
        i95 = interval(r.lo95, r.hi95, count)
        bt = _bench_text(tx.by_benchmark("avoidable_deaths", "", code), mort_bench, count)
        v["ad"] = {"est": count(r["mean"]), "i80": interval(r.lo80, r.hi80, count), "i95": i95, "p": pct(r.p_above),
                   "slide": f"{count(r['mean'])} a year (95% interval {i95}; chance above the benchmark {pct(r.p_above)})",
                   "england": england,
                   "text": f"{count(r['mean'])} deaths a year above the peer benchmark (95% interval {i95})",
                   "bench_text": bt if bt != "not estimated" else ""}
        v["ad"]["sentence"] = v["ad"]["text"] + (f"; {v['ad']['bench_text']} against other benchmarks"
                                                 if v["ad"]["bench_text"] else "")
    return v


def paper_trapped(h: dict, cost_bench: str, mort_bench: str) -> dict:
    """The paper's national trapped value (``tv``) and avoidable deaths (``ad``) from the headlines table."""
    m0 = lambda x: money(x, 0)
    tv = {"total": m0(h["trapped_value_mean"]), "total_i95": interval(h["trapped_value_lo95"], h["trapped_value_hi95"],
                                                                       m0),
          "null": m0(h["trapped_value_null_mean"]),
          "null_i95": interval(h["trapped_value_null_lo95"], h["trapped_value_null_hi95"], m0),
          "net": m0(h["trapped_value_net_mean"]),
          "net_i95": interval(h["trapped_value_net_lo95"], h["trapped_value_net_hi95"], m0),
          "net_null": m0(h["trapped_value_net_null_mean"]),
          "coverage": f"{num(100 * h['trapped_value_coverage'], 0)}%",
          "actual": m0(h["trapped_value_net_actual"]),
          "breakeven": f"{num(100 * h['trapped_value_breakeven_sd'], 1)}%",
          "spread": f"{num(100 * h['trapped_value_spread_sd'], 1)}%",
          "net_breakeven": f"{num(100 * h['trapped_value_net_breakeven_sd'], 1)}%",
          "net_spread": f"{num(100 * h['trapped_value_net_spread_sd'], 1)}%",
          "n_positive": count(h["trapped_value_n_positive"]), "n_trusts": count(h["trapped_value_n_trusts"]),
          "net_above": count(h["trapped_value_net_n_above"]), "net_below": count(h["trapped_value_net_n_below"]),
          "benchmark": bench_words(cost_bench)}
    for b in ("peer_median", "peer_mean", "peer_best_quartile"):
        tv[b] = m0(h.get(f"trapped_value_{b}"))
        tv[f"net_{b}"] = m0(h.get(f"trapped_value_net_{b}"))
    obs = h.get("avoidable_deaths_observed_deaths")
    ad = {"total": count(h["avoidable_deaths_mean"]),
          "i95": interval(h["avoidable_deaths_lo95"], h["avoidable_deaths_hi95"], count),
          "null": count(h["avoidable_deaths_null_mean"]),
          "null_i95": interval(h["avoidable_deaths_null_lo95"], h["avoidable_deaths_null_hi95"], count),
          "excess": count(h["avoidable_deaths_mean"] - h["avoidable_deaths_null_mean"]),
          "approx": count(h["avoidable_deaths_approximation_mean"]),
          "observed": count(obs),
          "share": f"{num(100 * h['avoidable_deaths_mean'] / obs, 1)}%" if known(obs) and obs else "n/a",
          "n_above": count(h["avoidable_deaths_n_above"]), "benchmark": bench_words(mort_bench)}
    for b in ("peer_median", "peer_mean", "peer_best_quartile"):
        ad[b] = count(h.get(f"avoidable_deaths_{b}"))
    return {"tv": tv, "ad": ad}


def national_table(tables: dict) -> str:
    """The paper's two tables of national totals (care settings, their sum, net; avoidable deaths): estimate and
    null reference with the break-even costing noise, then the value at each benchmark."""
    tv, nr, bs = tables["trapped_value"], tables.get("null_reference"), tables.get("benchmark_sensitivity")
    nr = nr.set_index("measure") if nr is not None and len(nr) else pd.DataFrame()
    bs = bs[bs.org_code == "ENGLAND"].fillna({"setting": ""}) if bs is not None else pd.DataFrame()
    eng = tv[tv.org_code == "ENGLAND"].set_index("setting")
    m0 = lambda x: money(x, 0)

    def bench(measure, setting, b, f):
        r = bs[(bs.measure == measure) & (bs.setting == setting) & (bs.benchmark == b)] if len(bs) else ()
        return f(r["mean"].iloc[0]) if len(r) else "n/a"

    nulls, benches = [], []
    for s, label in ROWS:
        if s not in eng.index:
            continue
        r = eng.loc[s]
        n = nr.loc[f"trapped_value_{s}"] if f"trapped_value_{s}" in nr.index else None
        nulls.append([label, f"{m0(r['mean'])} ({interval(r.lo95, r.hi95, m0)})",
                      f"{m0(n.null_mean)} ({interval(n.null_lo95, n.null_hi95, m0)})" if n is not None else "n/a",
                      f"{num(100 * n.breakeven_noise_sd, 1)}%" if n is not None else "n/a",
                      f"{num(100 * n.observed_spread_sd, 1)}%" if n is not None else "n/a"])
        benches.append([label] + [bench("trapped_value", s, b, m0) for b in BENCH_WORDS])
    ad = tables.get("avoidable_deaths")
    if ad is not None and (ad.org_code == "ENGLAND").any():
        r = ad[ad.org_code == "ENGLAND"].iloc[0]
        n = nr.loc["avoidable_deaths"] if "avoidable_deaths" in nr.index else None
        nulls.append(["Avoidable deaths", f"{count(r['mean'])} ({interval(r.lo95, r.hi95, count)})",
                      f"{count(n.null_mean)} ({interval(n.null_lo95, n.null_hi95, count)})" if n is not None
                      else "n/a", "not applicable", "not applicable"])
        benches.append(["Avoidable deaths"] + [bench("avoidable_deaths", "", b, count) for b in BENCH_WORDS])
    a = md_table(["England, a year", "Estimate (95% interval)", "Null reference (95% interval)",
                  "Break-even costing noise", "Observed spread"], nulls, [30, 24, 24, 11, 11])
    b = md_table(["England, a year", "Peer median", "Peer mean", "Peer best quarter"], benches, [40, 20, 20, 20])
    return a + "\n" + b

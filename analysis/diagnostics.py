"""Where a fit's divergences sit: divergent draws against the scale parameters, per indicator and peer group.

A divergent transition marks a region of the posterior whose curvature the sampler's step size cannot follow;
in a hierarchical model that is usually a funnel, where a group's scale is small and the effects or the mean it
governs are squeezed.  For each divergent draw this module takes the *posterior percentile* of every location and
scale parameter of each (peer group, indicator) cell, for quality and cost, so a divergence sitting at the edge of
one cell's distribution shows up as a percentile near 0 or 1 there and not elsewhere.

* :func:`divergence_percentiles`  one row per divergent draw x parameter element: value and percentile
* :func:`cell_summary`            per (block, peer group, outcome): divergent draws in the outer 5 % of the
  cell's scale or mean, and the most extreme percentile; sorted so the first row is the likeliest culprit
* :func:`verdict`                 one sentence naming the cell(s) the divergences sit in, or saying they are spread
* :func:`funnel_figure`           per cell, log scale against the peer mean, every draw grey, divergent ones red
* :func:`diagnose`                all of the above for a saved fit, written under ``<out>/fit/diagnostics/``

Pure functions of an ArviZ ``InferenceData`` (no sampling), so they work on any saved fit and in the benchmark.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

#: (block, scale parameter, location parameter, outcome dimension): the cells a divergence is located in
CELLS = (("quality", "sigma", "mu", "indicator"), ("cost", "sigma_c", "mu_c", "cost_outcome"))
#: parameters without a peer dimension whose percentiles are also reported
GLOBAL = ("sd0", "s_scale", "sd0_c", "s_scale_c", "nu_c")
#: a divergent draw is "in the tail" of a parameter when its percentile is below TAIL or above 1 - TAIL
TAIL = 0.05


def _divergent(idata) -> tuple[np.ndarray, np.ndarray]:
    stats = getattr(idata, "sample_stats", None)
    if stats is None or "diverging" not in stats:
        return np.zeros(0, int), np.zeros(0, int)
    return np.nonzero(np.asarray(stats["diverging"].values, bool))


def divergence_percentiles(idata) -> pd.DataFrame:
    """One row per divergent draw and element of every cell and global scale parameter present in the fit:
    ``draw_id`` (chain:draw), ``parameter``, ``peer_group``, ``outcome``, ``value``, ``percentile`` (share of all
    draws below the divergent draw's value)."""
    post = idata.posterior
    ci, di = _divergent(idata)
    rows = []
    names = [n for _, s, m, _ in CELLS for n in (s, m)] + list(GLOBAL)
    for name in names:
        if name not in post:
            continue
        a = np.asarray(post[name].values, float)
        flat = a.reshape(-1, *a.shape[2:])
        dims = [d for d in post[name].dims if d not in ("chain", "draw")]
        labels = [list(map(str, post[name].coords[d].values)) for d in dims]
        for c, dr in zip(ci, di):
            x = a[c, dr]
            pct = (flat < x).mean(axis=0)
            for idx in np.ndindex(*x.shape):
                lab = dict(zip(dims, (labels[j][i] for j, i in enumerate(idx))))
                rows.append({"draw_id": f"{c}:{dr}", "parameter": name, "peer_group": lab.get("peer", ""),
                             "outcome": next((v for k, v in lab.items() if k != "peer"), ""),
                             "value": float(x[idx]), "percentile": float(pct[idx])})
    return pd.DataFrame(rows, columns=["draw_id", "parameter", "peer_group", "outcome", "value", "percentile"])


def cell_summary(pct: pd.DataFrame, n_divergent: int) -> pd.DataFrame:
    """Per (block, peer group, outcome) cell: how many divergent draws lie in the outer ``TAIL`` of its scale, of
    its mean, the most extreme percentile of either, sorted with the likeliest culprit first."""
    rows = []
    for block, s, m, _ in CELLS:
        sub = pct[pct.parameter.isin([s, m])]
        for (g, k), grp in sub.groupby(["peer_group", "outcome"], sort=False):
            def tail(name):
                p = grp[grp.parameter == name].percentile
                return int(((p < TAIL) | (p > 1 - TAIL)).sum())

            ext = np.minimum(grp.percentile, 1 - grp.percentile)
            worst = grp.loc[ext.idxmin()]
            rows.append({"block": block, "peer_group": g, "outcome": k, "divergent_draws": n_divergent,
                         "in_scale_tail": tail(s), "in_mean_tail": tail(m),
                         "most_extreme": f"{worst.parameter} at {100 * worst.percentile:.1f}th percentile",
                         "extremeness": float(ext.min())})
    cols = ["block", "peer_group", "outcome", "divergent_draws", "in_scale_tail", "in_mean_tail", "most_extreme",
            "extremeness"]
    out = pd.DataFrame(rows, columns=cols)
    if len(out):
        out["_tails"] = out.in_scale_tail + out.in_mean_tail
        out = out.sort_values(["_tails", "extremeness"], ascending=[False, True]).drop(columns="_tails")
    return out.reset_index(drop=True)


def verdict(summary: pd.DataFrame, n_divergent: int, n_draws: int) -> str:
    """One sentence: where the divergences sit (the cells holding most of them in a tail), or that there are none."""
    if n_divergent == 0:
        return f"no divergent transitions in {n_draws:,} draws."
    top = summary[(summary.in_scale_tail + summary.in_mean_tail) > 0]
    if top.empty:
        return (f"{n_divergent} divergent draw(s) of {n_draws:,}, not in the outer {100 * TAIL:.0f}% of any peer "
                "group's scale or mean: no single cell explains them.")
    best = top.iloc[0]
    share = max(best.in_scale_tail, best.in_mean_tail)
    also = [f"{r.block} {r.peer_group} x {r.outcome}" for r in top.iloc[1:3].itertuples()]
    return (f"{n_divergent} divergent draw(s) of {n_draws:,}; {share} of them in the outer {100 * TAIL:.0f}% of "
            f"{best.block} {best.peer_group} x {best.outcome} ({best.most_extreme})"
            + (f"; also in the tails: {', '.join(also)}" if also else "") + ".")


def where(idata) -> str:
    """The verdict for a fit's divergences, in one sentence (:func:`verdict` of :func:`cell_summary`)."""
    ci, _ = _divergent(idata)
    post = idata.posterior
    return verdict(cell_summary(divergence_percentiles(idata), len(ci)), len(ci),
                   int(post.sizes["chain"] * post.sizes["draw"]))


def funnel_figure(idata, block: str = "quality", max_points: int = 2000, seed: int = 0):
    """Per (peer group, outcome) cell: log scale against mean, a thinned sample of draws in grey, every divergent
    draw in red.  A funnel shows as draws narrowing toward small scales, divergences at its neck."""
    from matplotlib.figure import Figure

    _, s, m, dim = next(c for c in CELLS if c[0] == block)
    post = idata.posterior
    if s not in post or m not in post:
        return None
    peers = list(map(str, post[s].coords["peer"].values))
    outs = list(map(str, post[s].coords[dim].values))
    sv = np.asarray(post[s].transpose("chain", "draw", "peer", dim).values, float)
    mv = np.asarray(post[m].transpose("chain", "draw", "peer", dim).values, float)
    C, D = sv.shape[:2]
    keep = np.random.default_rng(seed).permutation(C * D)[:max_points]
    ci, di = _divergent(idata)
    fig = Figure(figsize=(2.2 * len(outs), 1.8 * len(peers)), constrained_layout=True)
    axes = fig.subplots(len(peers), len(outs), squeeze=False)
    for g, peer in enumerate(peers):
        for k, out in enumerate(outs):
            ax = axes[g, k]
            ls = np.log(sv[..., g, k]).reshape(-1)
            mu = mv[..., g, k].reshape(-1)
            ax.scatter(mu[keep], ls[keep], s=2, c="#9aa5ad", alpha=0.5, linewidths=0)
            if len(ci):
                ax.scatter(mv[ci, di, g, k], np.log(sv[ci, di, g, k]), s=14, c="#D5281B", linewidths=0)
            ax.tick_params(labelsize=6)
            if g == 0:
                ax.set_title(out, fontsize=8)
            if k == 0:
                ax.set_ylabel(f"{peer}\nlog {s}", fontsize=7)
            if g == len(peers) - 1:
                ax.set_xlabel(m, fontsize=7)
    fig.suptitle(f"{block}: peer-group scale against mean; divergent draws in red ({len(ci)})", fontsize=9)
    return fig


def percentile_figure(pct: pd.DataFrame):
    """Percentile of each divergent draw in every scale and mean parameter: dots near 0 or 1 locate the funnel."""
    from matplotlib.figure import Figure

    if pct.empty:
        return None
    lab = (pct.parameter + "[" + pct.peer_group.where(pct.peer_group == "", pct.peer_group + ",") + pct.outcome
           + "]").str.replace(",]", "]").str.replace("[]", "", regex=False)
    order = list(dict.fromkeys(lab))
    y = np.array([order.index(v) for v in lab])
    fig = Figure(figsize=(6.5, max(3.0, 0.13 * len(order))), constrained_layout=True)
    ax = fig.subplots()
    ax.axvspan(0, TAIL, color="#f2d7d5")
    ax.axvspan(1 - TAIL, 1, color="#f2d7d5")
    for j, (_, grp) in enumerate(pct.groupby("draw_id", sort=False)):
        ax.scatter(grp.percentile, y[grp.index], s=10, label=f"draw {grp.draw_id.iloc[0]}")
    ax.set_yticks(range(len(order)), order, fontsize=5)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("posterior percentile of the divergent draw", fontsize=8)
    ax.legend(fontsize=6, loc="lower right")
    return fig


def diagnose(idata, out_dir: str | Path, parameterisation: pd.DataFrame | None = None) -> dict:
    """Write ``divergences.csv`` (percentiles), ``divergence_cells.csv`` (per cell), ``parameterisation.csv``
    (centred or not, with the data-strength figures behind the choice), ``funnel_quality.png``,
    ``funnel_cost.png``, ``divergence_percentiles.png`` and ``summary.txt`` into ``out_dir``; return the verdict
    and the tables."""
    from analysis import io

    out_dir = Path(out_dir)
    ci, _ = _divergent(idata)
    post = idata.posterior
    n_draws = int(post.sizes["chain"] * post.sizes["draw"])
    pct = divergence_percentiles(idata)
    cells = cell_summary(pct, len(ci))
    text = verdict(cells, len(ci), n_draws)
    io.write_table(pct, out_dir / "divergences", formats=("csv",))
    io.write_table(cells, out_dir / "divergence_cells", formats=("csv",))
    if parameterisation is not None:
        io.write_table(parameterisation, out_dir / "parameterisation", formats=("csv",))
    figures = {"funnel_quality.png": funnel_figure(idata, "quality"), "funnel_cost.png": funnel_figure(idata, "cost"),
               "divergence_percentiles.png": percentile_figure(pct)}
    written = []
    for name, fig in figures.items():
        if fig is None:
            continue
        with io.atomic_path(out_dir / name) as tmp:
            fig.savefig(tmp, dpi=130, format="png")
        written.append(out_dir / name)
    lines = [text]
    if parameterisation is not None:
        nc = parameterisation[parameterisation.parameterisation == "non-centred"]
        nc = nc[nc.n_trusts > 0]
        lines.append("non-centred trust effects: " + (", ".join(f"{r.peer_group} x {r.indicator}"
                                                                for r in nc.itertuples()) or "none"))
    io.write_text(out_dir / "summary.txt", "\n".join(lines) + "\n")
    return {"verdict": text, "percentiles": pct, "cells": cells, "figures": written, "n_divergent": len(ci)}


def diagnose_results(out: str | Path, echo=print) -> dict:
    """``svi diagnose``: read ``<out>/fit/posterior.nc`` (and ``<out>/panel`` for the data-strength figures behind
    the parameterisation), write the diagnosis to ``<out>/fit/diagnostics/`` and echo its verdict."""
    import json

    from analysis import io
    from analysis.fitting import load_fit
    from analysis.panel import panel_hash, read_panel
    from analysis.results import ResultsDir
    from models.config import load_config, merge
    from models.value_model import parameterisation, prepare

    rdir = ResultsDir(out)
    idata = load_fit(rdir.posterior)
    param = scale_table = None
    try:
        panel = read_panel(rdir.panel_dir)
    except Exception:  # the divergence diagnosis needs only the fit
        panel = None
    if panel is not None and idata.attrs.get("svi_panel_hash") == panel_hash(panel):
        cfg = merge(load_config(), json.loads(idata.attrs.get("svi_config") or "{}"))
        full = parameterisation(prepare(panel, cfg), cfg)
        param = full["table"]
        scale_table = full["scale_table"]
    else:
        echo(f"note: {rdir.panel_dir} is missing or is not the panel this fit was made from; the parameterisation "
             "table is left out")
    with io.atomic_dir(rdir.fit.diagnostics, owner="svi diagnose") as tmp:
        res = diagnose(idata, tmp, param)
        if scale_table is not None:
            scale_table.to_csv(tmp / "scale_parameterisation.csv", index=False)
    echo(res["verdict"])
    if len(res["cells"]) and res["n_divergent"]:
        echo(res["cells"].head(5).drop(columns=["extremeness"]).to_string(index=False))
    echo(f"diagnosis written to {rdir.fit.diagnostics}")
    return res

"""Figures of the paper and the trust appendices, drawn from the result tables (never from the posterior).

Every figure is a function of a :class:`FigureData` (the result tables and the panel, indexed once) and, for
the appendix, one trust code; with ``code=None`` the same function draws the national version for the
methodology paper.  Figures are drawn with matplotlib's object-oriented API (no pyplot state, no GUI backend)
and saved as SVG with text kept as text (font DejaVu Sans, which matplotlib ships and the report renderer hands
to Typst), so the PDF stays sharp and searchable.

* :func:`value_position`   quality composite against cost composite, with 80 % and 95 % intervals, peers highlighted
* :func:`indicators`       the trust's Health Alpha on each quality indicator, in board units, with intervals
* :func:`rank_interval`    the trust's national rank with its 95 % interval among every trust's
* :func:`trapped_value`    trapped value by care setting with 80 % and 95 % intervals
* :func:`shmi_funnel`      the NHS Digital SHMI funnel (:mod:`analysis.shmi_funnel`) with the trust ringed
* :func:`peer_need`        need and case-mix of the trust beside its peers and every other trust

Each figure is a *background* (axes, every other trust, the peer group highlighted; the same for every trust of
a peer group, with axis limits that do not depend on the trust) and an *overlay* (the trust's own marks).  The
functions above draw both into one figure.  :class:`AppendixFigures`, used to render many appendices, draws each
background once per peer group, then for each trust draws only the overlay on the same (hidden) axes and splices
its SVG into the background's: the same picture, at a fraction of the cost.
"""

from __future__ import annotations

import io as _stdio
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from analysis import io

# NHS identity colours: the trust, its peers, everyone else
TRUST = "#D5281B"      # NHS red: the trust of the appendix
PEER = "#005EB8"       # NHS blue: its peer group
OTHER = "#AEB7BD"      # NHS mid grey: the other trusts
INK = "#212B32"
MUTED = "#4C6272"
GOOD_BG = "#E6F4EA"
BAD_BG = "#FBE9E7"
PEER_COLOURS = ["#005EB8", "#ED8B00", "#009639", "#7C2855", "#00A499", "#330072", "#AE2573", "#768692"]

RC = {
    "font.family": "DejaVu Sans",
    "font.size": 8.0,
    "axes.titlesize": 9.0,
    "axes.labelsize": 8.0,
    "axes.edgecolor": "#768692",
    "axes.labelcolor": INK,
    "xtick.color": INK,
    "ytick.color": INK,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 7.0,
    "legend.frameon": False,
    "svg.fonttype": "none",      # text stays text: sharp, searchable, and set in the document's font
    "svg.hashsalt": "svi",       # deterministic ids: the same tables give byte-identical figures
    "axes.unicode_minus": True,
}

WIDTH = 6.7  # inches: the text width of an A4 page with 2 cm margins

INDICATORS = [  # (health_alpha measure, label, reference value, higher is better)
    ("shmi_ratio_to_expected", "SHMI mortality\n(ratio to expected)", 1.0, False),
    ("rtt_pp_vs_expected", "RTT within 18 weeks\n(points vs expected)", 0.0, True),
    ("ae_pp_vs_expected", "A&E within 4 hours\n(points vs expected)", 0.0, True),
    ("fft_pp_vs_expected", "FFT positive\n(points vs expected)", 0.0, True),
]
SETTINGS = [("total", "All settings"), ("apc", "Admitted care"), ("op", "Outpatients"), ("ae", "A&E")]
NEED = [  # (panel column, label, scale factor, log axis)
    ("imd_score", "Deprivation\n(IMD 2019 score)", 1.0, False),
    ("share_aged_75_plus", "Residents aged 75+\n(% of catchment)", 100.0, False),
    ("health_index_score", "ONS Health Index\n(higher = healthier)", 1.0, False),
    ("ncc_expected_cost_total_gbp_m", "Expected cost\n(£ million, log scale)", 1.0, True),
]


@dataclass
class FigureData:
    """The result tables indexed for drawing (``org_code`` index; ENGLAND rows kept where the table has them)."""

    trusts: pd.DataFrame                 # org_code -> org_name, region, size_class, peer_group
    value: pd.DataFrame                  # wide: <measure>_<stat> for quality/cost composites and value index
    alpha: dict[str, pd.DataFrame]       # health_alpha measure -> frame indexed by org_code
    ranks: pd.DataFrame                  # national ranks indexed by org_code
    trapped: dict[str, pd.DataFrame]     # setting -> frame indexed by org_code (ENGLAND row included)
    panel: pd.DataFrame                  # panel indexed by org_code
    funnel: pd.DataFrame | None = None   # the saved SHMI funnel table (analysis.summaries.derived), or None
    _peer_of: dict = field(default_factory=dict)

    @classmethod
    def from_tables(cls, tables: dict[str, pd.DataFrame], panel: pd.DataFrame) -> "FigureData":
        info = ["org_name", "region", "size_class", "peer_group"]
        vi = tables["value_index"]
        trusts = vi[vi.measure == "value_index"].set_index("org_code")[info].sort_index()
        wide = {}
        for m in ("quality_composite", "cost_composite", "value_index"):
            t = vi[vi.measure == m].set_index("org_code")
            for s in ("median", "lo95", "lo80", "hi80", "hi95"):
                wide[f"{m}_{s}"] = t[s]
        value = pd.DataFrame(wide).reindex(trusts.index)
        alpha = {m: g.set_index("org_code") for m, g in tables["health_alpha"].groupby("measure")}
        rk = tables["ranks"]
        ranks = rk[rk.scope == "national"].set_index("org_code").reindex(trusts.index)
        trapped = {s: g.set_index("org_code") for s, g in tables["trapped_value"].groupby("setting")}
        pan = panel.drop_duplicates("org_code").set_index("org_code")
        funnel = tables.get("shmi_funnel")  # analysis.summaries.derived.shmi_funnel: empty when there is no funnel
        funnel = funnel if funnel is not None and len(funnel) else None
        fd = cls(trusts, value, alpha, ranks, trapped, pan, funnel)
        fd._peer_of = trusts.peer_group.to_dict()
        return fd

    def group_of(self, code: str | None) -> str | None:
        return None if code is None else self._peer_of[code]

    def members(self, group: str | None) -> pd.Index:
        if group is None:
            return pd.Index([])
        return self.trusts.index[self.trusts.peer_group == group]


# ----------------------------------------------------------------------------- helpers

def rc_context():
    """The figures' matplotlib settings, as a context manager (also for the claims' figures)."""
    import matplotlib as mpl

    return mpl.rc_context(RC)


def _fig(height: float, width: float = WIDTH) -> Figure:
    return Figure(figsize=(width, height))


def style_axes(ax) -> None:
    """Short ticks, no top or right spine."""
    ax.tick_params(length=3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)



def _peer_colours(fd) -> dict:
    """One colour per peer group, in sorted group order."""
    groups = sorted(fd.trusts.peer_group.unique())
    return {g: PEER_COLOURS[j % len(PEER_COLOURS)] for j, g in enumerate(groups)}


def _strip_axis(fig, i: int, top: float, h: float, gap: float, left: float, width: float, label: str):
    """Row ``i`` of a stack of one-dimensional strip plots, labelled on the left; returns (axis, bottom)."""
    y0 = top - (i + 1) * h - i * gap
    ax = fig.add_axes([left, y0, width, h])
    style_axes(ax)
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    ax.set_ylim(-0.6, 0.6)
    fig.text(0.01, y0 + h / 2, label, va="center", ha="left", fontsize=7.5, color=INK)
    return ax, y0


def _interval_cross(ax, s, colour, *, lw, alpha, ms, zorder, label):
    """Trusts' medians on the quality-vs-cost plane with their 80% intervals as a cross (lines under the point)."""
    ax.hlines(s.quality_composite_median, s.cost_composite_lo80, s.cost_composite_hi80, color=colour, lw=lw,
              alpha=alpha, zorder=zorder)
    ax.vlines(s.cost_composite_median, s.quality_composite_lo80, s.quality_composite_hi80, color=colour, lw=lw,
              alpha=alpha, zorder=zorder)
    ax.plot(s.cost_composite_median, s.quality_composite_median, "o", ms=ms, color=colour, mec="white", mew=0.3,
            zorder=zorder + 1, label=label)

def plain_log_axis(axis) -> None:
    """Log axis with plain-number labels and unlabelled minor ticks (mathtext labels cost 10x the drawing)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _group_legend(fig: Figure, colour_of: dict, title: str) -> None:
    handles = [Line2D([], [], ls="", marker="o", ms=4, color=c, mew=0) for c in colour_of.values()]
    fig.legend(handles, list(colour_of), loc="lower left", bbox_to_anchor=(0.24, 0.0), ncol=len(handles),
               title=title, title_fontsize=7, alignment="left", handletextpad=0.2, columnspacing=1.0,
               borderaxespad=0.1)


def _fmt_money(x: float) -> str:
    return f"£{x:,.1f}m" if abs(x) < 99.95 else f"£{x:,.0f}m"


def _padded(values, frac: float = 0.06, min_span: float = 0.0, include=()) -> tuple[float, float]:
    a = np.concatenate([np.asarray(values, float).ravel(), np.asarray(include, float)])
    a = a[np.isfinite(a)]
    if a.size == 0:
        return (-1.0, 1.0)
    lo, hi = float(a.min()), float(a.max())
    pad = frac * max(hi - lo, min_span, 1e-9)
    return lo - pad, hi + pad


def _jitter(n: int, seed: int, width: float = 0.32) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-width, width, n)


def svg_text(fig: Figure) -> str:
    buf = _stdio.StringIO()
    with rc_context():
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def save(fig: Figure, path: str | Path) -> Path:
    """Save ``fig`` atomically (SVG unless the suffix says otherwise); SVG text is kept as text."""
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "svg"
    if fmt == "svg":
        return io.write_text(path, svg_text(fig))
    with rc_context(), io.atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=200)
    return path


# ============================================================================= value position

def _value_frame(fd: FigureData, group: str | None, height: float, width: float):
    fig = _fig(height, width)
    ax = fig.add_axes([0.095, 0.125, 0.885, 0.75])
    style_axes(ax)
    v = fd.value
    x, y = v["cost_composite_median"], v["quality_composite_median"]
    ok = (x.notna() & y.notna()).to_numpy(bool)
    # limits from every trust's median (a trust's interval may run off the edge; the caption says so)
    ax.set_xlim(*_padded(x, 0.10, 1.0, include=[0.0]))
    ax.set_ylim(*_padded(y, 0.10, 1.0, include=[0.0]))
    ax.axhline(0, color="#768692", lw=0.6, zorder=1)
    ax.axvline(0, color="#768692", lw=0.6, zorder=1)
    kw = dict(fontsize=7, color=MUTED, transform=ax.transAxes)
    ax.text(0.99, 0.98, "higher quality, lower cost", ha="right", va="top", **kw)
    ax.text(0.01, 0.98, "higher quality, higher cost", ha="left", va="top", **kw)
    ax.text(0.99, 0.02, "lower quality, lower cost", ha="right", va="bottom", **kw)
    ax.text(0.01, 0.02, "lower quality, higher cost", ha="left", va="bottom", **kw)
    if group is None:  # national view: every trust coloured by peer group, 80% intervals
        groups = sorted(fd.trusts.peer_group.unique())
        for i, g in enumerate(groups):
            sel = (fd.trusts.peer_group == g).to_numpy() & ok
            s = v[sel]
            c = PEER_COLOURS[i % len(PEER_COLOURS)]
            _interval_cross(ax, s, c, lw=0.6, alpha=0.35, ms=3.6, zorder=2, label=f"{g} ({int(sel.sum())})")
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.01), ncol=len(groups), borderaxespad=0,
                  handletextpad=0.2, columnspacing=1.0, title="peer group (trusts); lines: 80% intervals",
                  title_fontsize=7, alignment="left")
    else:
        peer = (fd.trusts.peer_group == group).to_numpy()
        s = v[~peer & ok]
        ax.plot(s.cost_composite_median, s.quality_composite_median, "o", ms=2.8, color=OTHER, mew=0, zorder=2,
                label="other trusts")
        s = v[peer & ok]
        _interval_cross(ax, s, PEER, lw=0.7, alpha=0.3, ms=3.8, zorder=3, label=f"{group} peers (80% intervals)")
        proxy = Line2D([], [], color=TRUST, marker="o", ms=6, lw=3, mec="white", mew=0.8)
        h, lab = ax.get_legend_handles_labels()
        ax.legend(h + [proxy], lab + ["this trust (thick: 80%, thin: 95% interval)"], loc="lower left",
                  bbox_to_anchor=(0.0, 1.01), ncol=3, borderaxespad=0, handletextpad=0.3, columnspacing=1.2)
    ax.set_xlabel("Cost composite (SD units; right = cheaper than need-adjusted expectation)")
    ax.set_ylabel("Quality composite (SD units; up = better)")
    return fig, [ax]


def _value_overlay(fd: FigureData, code: str, axes) -> None:
    ax = axes[0]
    v = fd.value
    if code not in v.index or not (pd.notna(v.at[code, "cost_composite_median"])
                                   and pd.notna(v.at[code, "quality_composite_median"])):
        ax.text(0.5, 0.5, f"{code}: no composite (missing data)", transform=ax.transAxes, ha="center",
                color=TRUST)
        return
    r = v.loc[code]
    xm, ym = r.cost_composite_median, r.quality_composite_median
    ax.plot([r.cost_composite_lo95, r.cost_composite_hi95], [ym, ym], color=TRUST, lw=1.0, zorder=5)
    ax.plot([xm, xm], [r.quality_composite_lo95, r.quality_composite_hi95], color=TRUST, lw=1.0, zorder=5)
    ax.plot([r.cost_composite_lo80, r.cost_composite_hi80], [ym, ym], color=TRUST, lw=3.2, zorder=5,
            solid_capstyle="butt")
    ax.plot([xm, xm], [r.quality_composite_lo80, r.quality_composite_hi80], color=TRUST, lw=3.2, zorder=5,
            solid_capstyle="butt")
    ax.plot([xm], [ym], "o", ms=7.5, color=TRUST, mec="white", mew=1.0, zorder=6)
    ax.annotate(code, (xm, ym), xytext=(6, 6), textcoords="offset points", fontsize=8.5, fontweight="bold",
                color=TRUST, zorder=7, bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))


# ============================================================================= indicators (Health Alpha)

_IND_TOP, _IND_BOTTOM, _IND_GAP = 0.97, 0.12, 0.06


def _indicator_frame(fd: FigureData, group: str | None, height: float):
    fig = _fig(height)
    n = len(INDICATORS)
    bottom = _IND_BOTTOM if group is not None else 0.22  # national: room for the peer-group legend
    h = (_IND_TOP - bottom - _IND_GAP * (n - 1)) / n
    axes = []
    colour_of = _peer_colours(fd)
    for i, (measure, label, ref, higher_better) in enumerate(INDICATORS):
        ax, y0 = _strip_axis(fig, i, _IND_TOP, h, _IND_GAP, 0.25, 0.63, label)
        axes.append(ax)
        fig.text(0.995, y0 + h / 2, "better →" if higher_better else "← better", va="center", ha="right",
                 fontsize=7, color=MUTED)
        t = fd.alpha.get(measure)
        if t is None or t["median"].notna().sum() == 0:
            ax.text(0.5, 0.5, "not modelled", transform=ax.transAxes, ha="center", va="center")
            ax.set_xticks([])
            continue
        t = t.reindex(fd.trusts.index)
        med = t["median"]
        ax.set_xlim(*_padded(np.r_[t.lo95.to_numpy(), t.hi95.to_numpy()], 0.04, include=[ref]))
        ax.axvline(ref, color="#768692", lw=0.7, zorder=1)
        okm = med.notna().to_numpy()
        jit = _jitter(len(med), i)
        if group is None:
            cols = fd.trusts.peer_group.map(colour_of).to_numpy()
            ax.scatter(med[okm], jit[okm], s=8, c=list(cols[okm]), zorder=2, linewidth=0)
        else:
            peer = (fd.trusts.peer_group == group).to_numpy()
            ax.plot(med[okm & ~peer], jit[okm & ~peer], "o", ms=2.4, color=OTHER, mew=0, zorder=2)
            ax.plot(med[okm & peer], jit[okm & peer], "o", ms=3.2, color=PEER, mew=0, alpha=0.8, zorder=3)
    if group is None:
        _group_legend(fig, colour_of, "Each dot is one trust's posterior median; colour: peer group")
    else:
        fig.text(0.25, 0.012, "Red: this trust (thick bar 80%, thin bar 95% interval).  Blue: peer medians.  "
                              "Grey: other trusts.", fontsize=7, color=MUTED)
    return fig, axes


def _indicator_overlay(fd: FigureData, code: str, axes) -> None:
    for ax, (measure, *_rest) in zip(axes, INDICATORS):
        t = fd.alpha.get(measure)
        if t is None:
            continue
        if code in t.index and pd.notna(t.at[code, "median"]):
            r = t.loc[code]
            ax.plot([r.lo95, r.hi95], [0, 0], color=TRUST, lw=1.1, zorder=4)
            ax.plot([r.lo80, r.hi80], [0, 0], color=TRUST, lw=4.0, zorder=4, solid_capstyle="butt")
            ax.plot([r["median"]], [0], "o", ms=6.5, color=TRUST, mec="white", mew=0.9, zorder=5)
        else:
            ax.text(0.5, 0.5, "not reported for this trust", transform=ax.transAxes, ha="center", va="center",
                    fontsize=7.5, color=TRUST, bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.85))


# ============================================================================= ranks

def _rank_frame(fd: FigureData, group: str | None, height: float):
    fig = _fig(height)
    ax = fig.add_axes([0.08, 0.17, 0.90, 0.76])
    style_axes(ax)
    rk = fd.ranks.dropna(subset=["rank_median"]).sort_values(["rank_median", "sucra"], ascending=[True, False])
    n = int(rk.n_ranked.max()) if len(rk) else 1
    pos = np.arange(1, len(rk) + 1)
    q = math.ceil(n / 4)
    ax.axhspan(0.5, q + 0.5, color=GOOD_BG, zorder=0, lw=0)
    ax.axhspan(n - q + 0.5, n + 0.5, color=BAD_BG, zorder=0, lw=0)
    ax.text(len(rk) + 0.5, q / 2 + 0.5, "top quarter", ha="right", va="center", fontsize=7, color="#00703C")
    ax.text(0.5, n - q / 2 + 0.5, "bottom quarter", ha="left", va="center", fontsize=7, color="#A4281E")
    peer = (rk.peer_group == group).to_numpy() if group is not None else np.zeros(len(rk), bool)
    for sel, colour, z in ((~peer, OTHER, 2), (peer, PEER, 3)):
        ax.vlines(pos[sel], rk.rank_lo95[sel], rk.rank_hi95[sel], color=colour, lw=1.0, zorder=z)
        ax.plot(pos[sel], rk.rank_median[sel], "o", ms=2.0, color=colour, mew=0, zorder=z)
    ax.set_ylim(n + 0.5, 0.5)
    ax.set_xlim(0, len(rk) + 1)
    ax.set_xlabel("Trusts, ordered by median rank" + (" (blue: peer group)" if group is not None else ""))
    ax.set_ylabel("National rank (1 = best)")
    ax._svi_order = {c: p for c, p in zip(rk.index, pos)}  # where each trust sits on the x axis
    return fig, [ax]


def _rank_overlay(fd: FigureData, code: str, axes) -> None:
    ax = axes[0]
    order = ax._svi_order
    if code not in order:
        ax.text(0.5, 0.5, f"{code}: not ranked", transform=ax.transAxes, ha="center", color=TRUST)
        return
    r = fd.ranks.loc[code]
    x = order[code]
    ax.vlines([x], r.rank_lo95, r.rank_hi95, color=TRUST, lw=3.0, zorder=4)
    ax.plot([x], [r.rank_median], "o", ms=6.5, color=TRUST, mec="white", mew=0.9, zorder=5)
    left = x <= 0.5 * len(order)  # the label goes on the side with more room
    ax.annotate(f"{code}: rank {r.rank_median:.0f} ({r.rank_lo95:.0f} to {r.rank_hi95:.0f})",
                (x, r.rank_hi95), xytext=(8 if left else -8, -2), textcoords="offset points", fontsize=8,
                fontweight="bold", color=TRUST, ha="left" if left else "right", va="top", zorder=6,
                bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.85))


# ============================================================================= SHMI funnel

def _funnel_frame(fd: FigureData, group: str | None, height: float):
    from analysis.shmi_funnel import funnel_plot

    fig = _fig(height)
    ax = fig.add_axes([0.09, 0.30, 0.89, 0.67])
    style_axes(ax)
    res = fd.funnel
    if res is None:
        ax.text(0.5, 0.5, "SHMI funnel not available: fewer than three trusts with published SHMI counts.",
                transform=ax.transAxes, ha="center", va="center")
        ax.set_axis_off()
        return fig, [ax]
    funnel_plot(res, ax=ax)
    ax.set_title("")
    ax.set_xscale("log")
    plain_log_axis(ax.xaxis)
    ax.set_xlabel("Expected deaths (log scale)")
    ax.set_ylabel("Published SHMI (observed / expected)")
    handles, labels = ax.get_legend_handles_labels()
    labels = [lab.replace("tau^2", "\u03c4\u00b2") for lab in labels]
    ax.legend(handles, labels, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3,
              borderaxespad=0, handletextpad=0.3, columnspacing=1.0)
    return fig, [ax]


def _funnel_overlay(fd: FigureData, code: str, axes) -> None:
    ax = axes[0]
    res = fd.funnel
    if res is None:
        return
    rows = res[res.in_fit & (res.org_code == code)]
    if rows.empty:
        ax.text(0.5, 0.92, f"{code} has no published SHMI (SHMI covers non-specialist acute trusts).",
                transform=ax.transAxes, ha="center", fontsize=8, color=TRUST,
                bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.85))
        return
    # the ring and label of analysis.shmi_funnel.funnel_plot(highlight=code), in the trust's colour
    x, y = float(rows["expected"].iloc[0]), float(rows["ratio"].iloc[0])
    ax.scatter([x], [y], s=110, facecolor="none", edgecolor="black", linewidth=1.5, zorder=4)
    ax.annotate(code, (x, y), xytext=(6, 6), textcoords="offset points", fontsize=9, fontweight="bold", zorder=5,
                color=TRUST)


# ============================================================================= need and case-mix

_NEED_TOP, _NEED_BOTTOM, _NEED_GAP = 0.97, 0.17, 0.10


def _need_frame(fd: FigureData, group: str | None, height: float):
    fig = _fig(height)
    cols = [c for c in NEED if c[0] in fd.panel.columns]
    n = max(len(cols), 1)
    bottom = _NEED_BOTTOM if group is not None else 0.26
    h = (_NEED_TOP - bottom - _NEED_GAP * (n - 1)) / n
    colour_of = _peer_colours(fd)
    axes = []
    for i, (col, label, scale, log) in enumerate(cols):
        ax, y0 = _strip_axis(fig, i, _NEED_TOP, h, _NEED_GAP, 0.24, 0.72, label)
        axes.append(ax)
        vals = pd.to_numeric(fd.panel[col], errors="coerce").reindex(fd.trusts.index) * scale
        ok = vals.notna().to_numpy() & ((vals > 0).to_numpy() if log else True)
        if not ok.any():
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center")
            ax.set_xticks([])
            continue
        if log:
            ax.set_xscale("log")
            plain_log_axis(ax.xaxis)
            lo, hi = vals[ok].min(), vals[ok].max()
            ax.set_xlim(lo / 1.15, hi * 1.15)
        else:
            ax.set_xlim(*_padded(vals[ok], 0.05))
        jit = _jitter(len(vals), 10 + i)
        if group is None:
            ax.scatter(vals[ok], jit[ok], s=8, linewidth=0, c=list(fd.trusts.peer_group.map(colour_of)[ok]))
            continue
        peer = (fd.trusts.peer_group == group).to_numpy()
        ax.plot(vals[ok & ~peer], jit[ok & ~peer], "o", ms=2.4, color=OTHER, mew=0)
        ax.plot(vals[ok & peer], jit[ok & peer], "o", ms=3.4, color=PEER, mew=0, alpha=0.85)
        if (ok & peer).any():
            m = float(np.median(vals[ok & peer]))
            ax.plot([m, m], [-0.45, 0.45], color=PEER, lw=1.2)
    if group is not None:
        fig.text(0.24, 0.005, "Red: this trust.  Blue: peers (line: peer median).  Grey: other trusts.", fontsize=7,
                 color=MUTED, va="bottom")
    else:
        _group_legend(fig, colour_of, "Each dot is one trust; colour: peer group")
    fig._svi_need_cols = cols
    return fig, axes


def _need_overlay(fd: FigureData, code: str, axes) -> None:
    cols = axes[0].figure._svi_need_cols if axes else []
    for ax, (col, label, scale, log) in zip(axes, cols):
        v = pd.to_numeric(pd.Series([fd.panel[col].get(code)]), errors="coerce").iloc[0] * scale
        if pd.notna(v) and (v > 0 or not log):
            ax.plot([v], [0], "o", ms=7.5, color=TRUST, mec="white", mew=0.9, zorder=5)
        else:
            ax.text(0.5, 0.5, "not available for this trust", transform=ax.transAxes, ha="center", va="center",
                    fontsize=7.5, color=TRUST, bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.85))


# ============================================================================= trapped value (per trust)

def _trapped(fd: FigureData, code: str | None, height: float) -> Figure:
    fig = _fig(height)
    ax = fig.add_axes([0.16, 0.24, 0.52, 0.72])
    style_axes(ax)
    key = "ENGLAND" if code is None else code
    rows = []
    for s, label in SETTINGS:
        t = fd.trapped.get(s)
        rows.append((label, t.loc[key] if t is not None and key in t.index else None))
    ys = np.arange(len(rows))[::-1]
    hi = max([r[1].hi95 for r in rows if r[1] is not None and pd.notna(r[1].hi95)] + [1.0])
    colour = TRUST if code else PEER
    fig.text(0.70, 0.97, "median (95% interval)", fontsize=7, color=MUTED, va="top")
    for y, (label, r) in zip(ys, rows):
        if r is None or pd.isna(r["median"]):
            ax.text(0, y, "  not available", va="center", fontsize=7.5, color=MUTED)
            continue
        ax.plot([r.lo95, r.hi95], [y, y], color=colour, lw=1.1)
        ax.plot([r.lo80, r.hi80], [y, y], color=colour, lw=4.5, solid_capstyle="butt")
        ax.plot([r["median"]], [y], "o", ms=6, color=colour, mec="white", mew=0.9, zorder=3)
        ax.annotate(f"{_fmt_money(r['median'])}  ({_fmt_money(r.lo95)} to {_fmt_money(r.hi95)})",
                    xy=(1.0, y), xycoords=("axes fraction", "data"), xytext=(10, 0), textcoords="offset points",
                    va="center", fontsize=7.5, color=INK, annotation_clip=False)
    ax.set_yticks(ys)
    ax.set_yticklabels([r[0] for r in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlim(-0.02 * hi, hi * 1.04)
    ax.axvline(0, color="#768692", lw=0.6)
    ax.set_xlabel("£ million a year released if cost fell to the peer benchmark")
    return fig


# ============================================================================= public figure functions

def _full(frame, overlay, fd: FigureData, code: str | None, *args) -> Figure:
    with rc_context():
        fig, axes = frame(fd, fd.group_of(code), *args)
        if code is not None:
            for ax in axes:
                ax.set_autoscale_on(False)
            overlay(fd, code, axes)
    return fig


def value_position(fd: FigureData, code: str | None = None, height: float = 3.0, width: float = WIDTH) -> Figure:
    """Quality composite (up = better) against cost composite (right = cheaper than need-adjusted expectation)."""
    return _full(_value_frame, _value_overlay, fd, code, height, width)


def indicators(fd: FigureData, code: str | None = None, height: float = 3.0) -> Figure:
    """One row per quality indicator: the trust's need-adjusted effect (80/95 % intervals) over its peers' medians."""
    return _full(_indicator_frame, _indicator_overlay, fd, code, height)


def rank_interval(fd: FigureData, code: str | None = None, height: float = 2.4) -> Figure:
    """Every trust's national rank (1 = best value) with its 95 % interval, ordered by median rank."""
    return _full(_rank_frame, _rank_overlay, fd, code, height)


def shmi_funnel(fd: FigureData, code: str | None = None, height: float = 3.0) -> Figure:
    """NHS Digital's SHMI funnel (published SHMI against expected deaths) with the trust ringed."""
    return _full(_funnel_frame, _funnel_overlay, fd, code, height)


def peer_need(fd: FigureData, code: str | None = None, height: float = 2.7) -> Figure:
    """Need and case-mix: the trust (red) against its peers (blue) and every other trust (grey)."""
    return _full(_need_frame, _need_overlay, fd, code, height)


def trapped_value(fd: FigureData, code: str | None = None, height: float = 1.8) -> Figure:
    """Trapped value by care setting: posterior median, 80 % (thick) and 95 % (thin) intervals, £ million."""
    with rc_context():
        return _trapped(fd, code, height)


#: name -> (frame, overlay, frame arguments) of the layered appendix figures
LAYERED = {
    "value_position": (_value_frame, _value_overlay, (3.0, WIDTH)),
    "slide_position": (_value_frame, _value_overlay, (3.8, 5.6)),
    "indicators": (_indicator_frame, _indicator_overlay, (3.0,)),
    "rank": (_rank_frame, _rank_overlay, (2.4,)),
    "shmi_funnel": (_funnel_frame, _funnel_overlay, (3.0,)),
    "peer_need": (_need_frame, _need_overlay, (2.7,)),
}
APPENDIX_FIGURES = (*LAYERED, "trapped_value")
_SHARED = {"shmi_funnel"}  # backgrounds that do not depend on the peer group


# ============================================================================= batches

_ID = re.compile(r'(\bid="|url\(#|href="#)([^")]+)')


def splice_svg(background: str, overlay: str, prefix: str = "ov-") -> str:
    """The overlay's drawing (its ``figure_1`` group and definitions) on top of the background, ids kept apart."""
    start = overlay.find('<g id="figure_1">')
    end = overlay.rfind("</svg>")
    if start < 0 or end < 0:
        raise ValueError("overlay is not a matplotlib SVG")
    body = _ID.sub(lambda m: m.group(1) + prefix + m.group(2), overlay[start:end])
    cut = background.rfind("</svg>")
    return background[:cut] + body + background[cut:]


class _Layer:
    """One background figure: its SVG, and the same figure with everything hidden, ready for overlays."""

    def __init__(self, fig: Figure, axes: list):
        self.fig, self.axes = fig, axes
        self.svg = svg_text(fig)
        fig.patch.set_visible(False)
        for t in list(fig.texts) + list(fig.legends):
            t.set_visible(False)
        for ax in axes:
            ax.set_autoscale_on(False)
            for child in ax.get_children():
                child.set_visible(False)

    def with_overlay(self, overlay, fd: FigureData, code: str) -> str:
        before = {ax: (set(ax.get_children())) for ax in self.axes}
        try:
            with rc_context():
                overlay(fd, code, self.axes)
            return splice_svg(self.svg, svg_text(self.fig))
        finally:
            for ax in self.axes:
                for child in set(ax.get_children()) - before[ax]:
                    child.remove()


class AppendixFigures:
    """Draws the appendix figures of many trusts: each background once per peer group, then one overlay per trust.

    Build it (and call :meth:`prepare`) before forking worker processes: the backgrounds are then shared.
    """

    def __init__(self, fd: FigureData):
        self.fd = fd
        self._layers: dict[tuple[str, str | None], _Layer] = {}

    def layer(self, name: str, group: str | None) -> _Layer:
        key = (name, None if name in _SHARED else group)
        if key not in self._layers:
            frame, _, args = LAYERED[name]
            with rc_context():
                fig, axes = frame(self.fd, group, *args)
            self._layers[key] = _Layer(fig, axes)
        return self._layers[key]

    def prepare(self, codes) -> None:
        for g in sorted({self.fd.group_of(c) for c in codes}):
            for name in LAYERED:
                self.layer(name, g)

    def write(self, code: str, outdir: str | Path) -> dict[str, Path]:
        outdir = Path(outdir)
        out = {}
        group = self.fd.group_of(code)
        for name, (_, overlay, _) in LAYERED.items():
            out[name] = io.write_text(outdir / f"{name}.svg", self.layer(name, group).with_overlay(overlay, self.fd,
                                                                                                   code))
        out["trapped_value"] = save(trapped_value(self.fd, code), outdir / "trapped_value.svg")
        return out


def appendix_figures(fd: FigureData, code: str, outdir: str | Path) -> dict[str, Path]:
    """Draw every appendix figure of one trust into ``outdir`` as whole figures (``<name>.svg``)."""
    outdir = Path(outdir)
    funcs = {"value_position": value_position, "indicators": indicators, "rank": rank_interval,
             "shmi_funnel": shmi_funnel, "peer_need": peer_need, "trapped_value": trapped_value}
    out = {name: save(fn(fd, code), outdir / f"{name}.svg") for name, fn in funcs.items()}
    out["slide_position"] = save(value_position(fd, code, height=3.8, width=5.6), outdir / "slide_position.svg")
    return out


def paper_figures(fd: FigureData, outdir: str | Path) -> dict[str, Path]:
    """Draw the national figures of the methodology paper into ``outdir``."""
    outdir = Path(outdir)
    funcs = {"value_position": value_position, "indicators": indicators, "rank": rank_interval,
             "shmi_funnel": shmi_funnel, "peer_need": peer_need, "trapped_value": trapped_value}
    return {name: save(fn(fd, None), outdir / f"{name}.svg") for name, fn in funcs.items()}

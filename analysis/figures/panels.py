"""The figures of the paper and the appendices, each a *background* (axes, every other trust, the peer group
highlighted; the same for every trust of a peer group) and an *overlay* (the trust's own marks); the public functions
draw both into one figure (``code=None``: the national version for the paper)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from analysis.figures.style import (BAD_BG, GOOD_BG, INK, MUTED, NEED, OTHER, PEER, PEER_COLOURS, SETTINGS,
                                    TRUST, WIDTH, FigureData, _fig, _fmt_money, _group_legend, _interval_cross,
                                    indicator_strips,
                                    _jitter, _padded, _peer_colours, _strip_axis, plain_log_axis, rc_context,
                                    style_axes, fs)

# ============================================================================= value position

def _value_frame(fd: FigureData, group: str | None, height: float, width: float):
    fig = _fig(height, width)
    board = fs(1.0) > 1.0  # the slide's and the handout's version: larger text, shorter labels
    legend_rows = 1 if width >= ONE_ROW_LEGEND_WIDTH else 2
    ax = fig.add_axes(_board_axes(fig, legend_rows) if board else [0.095, 0.125, 0.885, 0.75])
    style_axes(ax)
    v = fd.value
    x, y = v["cost_composite_median"], v["quality_composite_median"]
    ok = (x.notna() & y.notna()).to_numpy(bool)
    # the composites are in SD units of each trust's own peer group (FigureData.value_units), so a group with a wide
    # spread (specialist trusts) is on the same scale as the others and stretches no chart: the limits cover every
    # trust's median and the peer group's 80% intervals, and nothing is clipped but the tails of long intervals
    xlim, ylim = _limits(v, "cost_composite", group, fd), _limits(v, "quality_composite", group, fd)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.axhline(0, color="#768692", lw=0.6, zorder=1)
    ax.axvline(0, color="#768692", lw=0.6, zorder=1)
    kw = dict(fontsize=fs(7), color=MUTED, transform=ax.transAxes)
    ax.text(0.99, 0.98, "higher quality, lower cost", ha="right", va="top", **kw)
    ax.text(0.01, 0.98, "higher quality, higher cost", ha="left", va="top", **kw)
    ax.text(0.99, 0.02, "lower quality, lower cost", ha="right", va="bottom", **kw)
    ax.text(0.01, 0.02, "lower quality, higher cost", ha="left", va="bottom", **kw)
    kw["fontsize"] = fs(7)
    if group is None:  # national view: every trust coloured by peer group, 80% intervals
        groups = sorted(fd.trusts.peer_group.unique())
        for i, g in enumerate(groups):
            sel = (fd.trusts.peer_group == g).to_numpy() & ok
            s = v[sel]
            c = PEER_COLOURS[i % len(PEER_COLOURS)]
            _interval_cross(ax, s, c, lw=0.6, alpha=0.35, ms=3.6, zorder=2, label=f"{g} ({int(sel.sum())})")
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.01), ncol=len(groups), borderaxespad=0,
                  handletextpad=0.2, columnspacing=1.0, title="peer group (trusts); lines: 80% intervals",
                  title_fontsize=fs(7), alignment="left")
    else:
        peer = (fd.trusts.peer_group == group).to_numpy()
        s = v[~peer & ok]
        ax.plot(s.cost_composite_median, s.quality_composite_median, "o", ms=2.8, color=OTHER, mew=0, zorder=2,
                label="other trusts")
        s = v[peer & ok]
        _interval_cross(ax, s, PEER, lw=0.7, alpha=0.3, ms=3.8, zorder=3,
                        label=f"{group} peers" if board else f"{group} peers (80% intervals)")
        proxy = Line2D([], [], color=TRUST, marker="o", ms=6, lw=3, mec="white", mew=0.8)
        h, lab = ax.get_legend_handles_labels()
        ax.legend(h + [proxy], lab + ["this trust (80%, 95% intervals)" if board else
                                      "this trust (thick: 80%, thin: 95% interval)"], loc="lower left",
                  bbox_to_anchor=(0.0, 1.01), ncol=2 if board and legend_rows == 2 else 3,
                  borderaxespad=0, handletextpad=0.5,
                  columnspacing=1.2)
    units = "peer SDs" if fd.value_units == "peer" else "SD units"  # the captions say which SDs
    if board:  # short: the slide's chart is narrow
        if fd.value_units == "peer":  # the quadrant labels say which way is better
            ax.set_xlabel("Cost (peer SDs; right = cheaper than expected)")
            ax.set_ylabel("Quality (peer SDs)")
        else:
            ax.set_xlabel("Cost (right = cheaper than expected)")
            ax.set_ylabel("Quality (up = better)")
    else:
        ax.set_xlabel(f"Cost composite ({units}; right = cheaper than need-adjusted expectation)")
        ax.set_ylabel(f"Quality composite ({units}; up = better)")
    return fig, [ax]


#: a board figure at least this wide (inches) sets its three legend entries in one row above the plot (the handout's,
#: 7 in: the row is about 5.6 in long at 10 pt), so the plot gets 0.3 in more height; a narrower one (the slide's,
#: 5 in) in two rows
ONE_ROW_LEGEND_WIDTH = 6.0


def _board_axes(fig, legend_rows: int = 2) -> list[float]:
    """The axes of a board figure: room in inches for its larger labels (left 0.75, bottom 0.6; 0.52 under a one-row
    legend, the handout's, which has no room to spare) and a legend above (0.7 for two rows, 0.36 for one), whatever
    the figure's size."""
    w, h = fig.get_size_inches()
    bottom, top = (0.6, 0.7) if legend_rows == 2 else (0.52, 0.36)
    return [0.75 / w, bottom / h, 1 - 0.85 / w, 1 - (bottom + top) / h]


def _limits(v: pd.DataFrame, measure: str, group: str | None, fd: FigureData) -> tuple[float, float]:
    """Axis limits of one composite: every trust's median, the peer group's 80% intervals (every trust's in the
    paper's national view, ``group`` None), and 0, padded."""
    members = list(v.index) if group is None else fd.members(group)
    own = v.reindex(members)
    vals = pd.concat([v[f"{measure}_median"], own[f"{measure}_lo80"], own[f"{measure}_hi80"]]).dropna()
    return _padded(vals, 0.06, 1.0, include=[0.0])


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
    ax.annotate(code, (xm, ym), xytext=(6, 6), textcoords="offset points", fontsize=fs(8.5), fontweight="bold",
                color=TRUST, zorder=7, bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))


# ============================================================================= indicators (Health Alpha)

_IND_TOP, _IND_BOTTOM, _IND_GAP = 0.97, 0.12, 0.06


def _indicator_frame(fd: FigureData, group: str | None, height: float):
    fig = _fig(height)
    strips = indicator_strips(fd.alpha)
    n = len(strips)
    bottom = _IND_BOTTOM if group is not None else 0.22  # national: room for the peer-group legend
    h = (_IND_TOP - bottom - _IND_GAP * (n - 1)) / n
    axes = []
    colour_of = _peer_colours(fd)
    for i, (measure, label, ref, higher_better) in enumerate(strips):
        ax, y0 = _strip_axis(fig, i, _IND_TOP, h, _IND_GAP, 0.25, 0.63, label)
        axes.append(ax)
        fig.text(0.995, y0 + h / 2, "better →" if higher_better else "← better", va="center", ha="right",
                 fontsize=fs(7), color=MUTED)
        t = fd.alpha.get(measure)
        if t is None or t["median"].notna().sum() == 0:
            ax.text(0.5, 0.5, "not modelled", transform=ax.transAxes, ha="center", va="center")
            ax.set_xticks([])
            continue
        t = t.reindex(fd.trusts.index)
        med = t["median"]
        if group is None:
            ax.set_xlim(*_padded(np.r_[t.lo95.to_numpy(), t.hi95.to_numpy()], 0.04, include=[ref]))
        else:  # the bulk of England's intervals and every interval of the peer group: another group's outlier
            # does not stretch the axis (its dot falls off the edge)
            own = t.reindex(fd.members(group))
            ax.set_xlim(*_padded(np.r_[t.lo95.quantile(0.025), t.hi95.quantile(0.975), own.lo95.to_numpy(),
                                       own.hi95.to_numpy()], 0.04, include=[ref]))
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
                              "Grey: other trusts.", fontsize=fs(7), color=MUTED)
    return fig, axes


def _indicator_overlay(fd: FigureData, code: str, axes) -> None:
    for ax, (measure, *_rest) in zip(axes, indicator_strips(fd.alpha)):
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
                    fontsize=fs(7.5), color=TRUST, bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.85))


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
    ax.text(len(rk) + 0.5, q / 2 + 0.5, "top quarter", ha="right", va="center", fontsize=fs(7), color="#00703C")
    ax.text(0.5, n - q / 2 + 0.5, "bottom quarter", ha="left", va="center", fontsize=fs(7), color="#A4281E")
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
                (x, r.rank_hi95), xytext=(8 if left else -8, -2), textcoords="offset points", fontsize=fs(8),
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
    ax.legend(handles, labels, fontsize=fs(7), loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3,
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
                transform=ax.transAxes, ha="center", fontsize=fs(8), color=TRUST,
                bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.85))
        return
    # the ring and label of analysis.shmi_funnel.funnel_plot(highlight=code), in the trust's colour
    x, y = float(rows["expected"].iloc[0]), float(rows["ratio"].iloc[0])
    ax.scatter([x], [y], s=110, facecolor="none", edgecolor="black", linewidth=1.5, zorder=4)
    ax.annotate(code, (x, y), xytext=(6, 6), textcoords="offset points", fontsize=fs(9), fontweight="bold", zorder=5,
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
        fig.text(0.24, 0.005, "Red: this trust.  Blue: peers (line: peer median).  Grey: other trusts.", fontsize=fs(7),
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
                    fontsize=fs(7.5), color=TRUST, bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.85))


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
    fig.text(0.70, 0.97, "mean (95% interval)", fontsize=fs(7), color=MUTED, va="top")
    for y, (label, r) in zip(ys, rows):
        if r is None or pd.isna(r["mean"]):
            ax.text(0, y, "  not available", va="center", fontsize=fs(7.5), color=MUTED)
            continue
        ax.plot([r.lo95, r.hi95], [y, y], color=colour, lw=1.1)
        ax.plot([r.lo80, r.hi80], [y, y], color=colour, lw=4.5, solid_capstyle="butt")
        ax.plot([r["mean"]], [y], "o", ms=6, color=colour, mec="white", mew=0.9, zorder=3)
        ax.annotate(f"{_fmt_money(r['mean'])}  ({_fmt_money(r.lo95)} to {_fmt_money(r.hi95)})",
                    xy=(1.0, y), xycoords=("axes fraction", "data"), xytext=(10, 0), textcoords="offset points",
                    va="center", fontsize=fs(7.5), color=INK, annotation_clip=False)
    ax.set_yticks(ys)
    ax.set_yticklabels([r[0] for r in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlim(-0.02 * hi, hi * 1.04)
    ax.axvline(0, color="#768692", lw=0.6)
    ax.set_xlabel("£ million a year released if cost fell to the peer benchmark")
    return fig


# ============================================================================= public figure functions

def _full(frame, overlay, fd: FigureData, code: str | None, *args, scale: float = 1.0) -> Figure:
    with rc_context(scale):
        fig, axes = frame(fd, fd.group_of(code), *args)
        if code is not None:
            for ax in axes:
                ax.set_autoscale_on(False)
            overlay(fd, code, axes)
    return fig


def value_position(fd: FigureData, code: str | None = None, height: float = 3.0, width: float = WIDTH,
                   scale: float = 1.0) -> Figure:
    """Quality composite (up = better) against cost composite (right = cheaper than need-adjusted expectation)."""
    return _full(_value_frame, _value_overlay, fd, code, height, width, scale=scale)


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


def trapped_value(fd: FigureData, code: str | None = None, height: float = 1.85) -> Figure:
    """Trapped value by care setting, their sum and the net figure: posterior mean (the settings' means add up to
    their sum's), 80 % (thick) and 95 % (thin) intervals, £ million."""
    with rc_context():
        return _trapped(fd, code, height)

"""The movements figure of the board appendix: one panel per indicator with movement (two or more years of data
in the multi-year fit, ``svi trend fit``), each with two tracks sharing the years:

* top: the level of the trust's peer group (mean path at average need, 95% interval band) and of England, in the
  indicator's natural units (% within the standard, SHMI ratio), from the ``trends`` table;
* bottom: the trust's Health Alpha by year (posterior median, 80% and 95% bands), measured against its peer
  group's need-adjusted expectation *of the same year* (0 = on its peers' path), from ``health_alpha``.

The two tracks are in different units on purpose: Health Alpha is a difference from the peer path, so drawing it on
the level axis would need the trust's need-adjusted expectation, which the tables do not hold.  Drawn at the
board scale (:data:`~analysis.figures.style.BOARD_SCALE`): no text below 10 pt."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from analysis.figures.style import BOARD_SCALE, INK, MUTED, OTHER, PEER, TRUST, WIDTH, FigureData, fs, rc_context
from analysis.figures.style import style_axes
from models import indicators as registry


def moving_indicators(movements: pd.DataFrame) -> list[str]:
    """The indicators of the trend fit with a movement over the window (two or more years of data), in the
    registry's order; indicators the registry does not know are left out (their labels and direction are unknown)."""
    have = set(movements.loc[movements["span"] == "window", "indicator"]) if len(movements) else set()
    return [n for n in registry.INDICATORS if n in have]


def year_label(period: str) -> str:
    """``2023/24`` -> ``23/24``: the financial years of the small panels, short enough at 10 pt."""
    s = str(period)
    return s[2:] if len(s) == 7 and s[4] == "/" else s


def _year(period, fallback: int) -> int:
    """The x position of a financial year: its first calendar year (``2023/24`` -> 2023); ``fallback`` for a
    label that is not a financial year."""
    s = str(period)
    return int(s[:4]) if s[:4].isdigit() else fallback


def _gapped(xs: list[int], *ys) -> tuple[np.ndarray, list[np.ndarray]]:
    """``xs`` and the series ``ys`` with a NaN point inserted wherever consecutive years are more than one apart,
    so that lines and bands break over years without data instead of joining across them."""
    xs = np.asarray(xs, float)
    ys = [np.asarray(y, float) for y in ys]
    cut = np.nonzero(np.diff(xs) > 1)[0] + 1
    return np.insert(xs, cut, xs[cut] - 0.5), [np.insert(y, cut, np.nan) for y in ys]


def units(name: str) -> tuple[str, str]:
    """(level unit, Health Alpha unit) of an indicator in the trend tables."""
    ratio = registry.get(name).alpha == "ratio"
    return ("ratio" if ratio else "%", "% vs expected" if ratio else "points vs expected")


def movements(fd: FigureData, code: str, scale: float = BOARD_SCALE) -> Figure:
    """The trust's paths (bottom tracks) beside its peer group's and England's (top tracks), one panel per
    indicator; raises ValueError when the figure data hold no trend fit."""
    if fd.trend is None:
        raise ValueError("no trend tables: the movements figure needs a multi-year fit that passed its gate")
    with rc_context(scale):
        return _movements(fd, code)


def _movements(fd: FigureData, code: str) -> Figure:
    tr = fd.trend
    ha, tn = tr["health_alpha"], tr["trends"]
    inds = moving_indicators(tr["movements"])
    group = fd.group_of(code)
    ncols = 2 if len(inds) > 1 else 1
    nrows = max(1, math.ceil(len(inds) / ncols))
    height = 0.35 + 2.2 * nrows
    fig = Figure(figsize=(WIDTH, height))
    outer = fig.add_gridspec(nrows, ncols, left=0.12, right=0.985, bottom=0.3 / height, top=1 - 0.45 / height,
                             hspace=0.3, wspace=0.36)
    mine = ha[ha.org_code == code]
    scopes = set(tn.scope)
    peer_scope = group if group in scopes else None
    for j, ind in enumerate(inds):
        r, c = divmod(j, ncols)
        cell = outer[r, c].subgridspec(2, 1, height_ratios=[1.0, 1.25], hspace=0.12)
        top = fig.add_subplot(cell[0])
        bot = fig.add_subplot(cell[1], sharex=top)
        for ax in (top, bot):
            style_axes(ax)
        rec = registry.get(ind)
        lunit, aunit = units(ind)
        t = tn[tn.indicator == ind]
        periods = sorted(set(t.period) | set(mine.loc[mine.indicator == ind, "period"]))
        x = {p: _year(p, i) for i, p in enumerate(periods)}  # by year, so that years without data show as a gap
        # top: levels of England and of the peer group
        for scope, colour, ls, lab in (("national", OTHER, "--", "England"), (peer_scope, PEER, "-", "peer group")):
            s = t[t.scope == scope].sort_values("period") if scope is not None else t.iloc[:0]
            if not len(s):
                continue
            xs, (lo, hi, med) = _gapped([x[p] for p in s.period], s.level_lo95, s.level_hi95, s.level_median)
            if scope != "national":
                top.fill_between(xs, lo, hi, color=colour, alpha=0.18, lw=0)
            top.plot(xs, med, ls=ls, color=colour if scope != "national" else MUTED, lw=1.4, marker="o", ms=3)
        top.set_title(rec.label, loc="left", fontsize=fs(8), color=INK, pad=3)
        top.set_title(f"{chr(0x2191) if rec.higher_is_better else chr(0x2193)} better", loc="right",
                      fontsize=fs(7), color=MUTED, pad=3)
        top.set_ylabel(lunit, fontsize=fs(7))
        top.tick_params(labelbottom=False)
        top.margins(y=0.15)
        for ax in (top, bot):  # short tick labels ("-2", not "-2.0") and the tracks' labels aligned
            ax.yaxis.set_major_locator(MaxNLocator(nbins=3))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}".replace("-", "\u2212")))
            ax.yaxis.set_label_coords(-0.2, 0.5)
        # bottom: the trust's Health Alpha against its peers' path
        m = mine[mine.indicator == ind].sort_values("period")
        bot.axhline(0, color=PEER, lw=0.9, zorder=1)
        if len(m):
            xs = [x[p] for p in m.period]
            gx, (lo95, hi95, lo80, hi80, med) = _gapped(xs, m.lo95, m.hi95, m.lo80, m.hi80, m["median"])
            bot.fill_between(gx, lo95, hi95, color=TRUST, alpha=0.14, lw=0, zorder=2)
            bot.fill_between(gx, lo80, hi80, color=TRUST, alpha=0.28, lw=0, zorder=2)
            bot.plot(gx, med, color=TRUST, lw=1.6, marker="o", ms=3.2, zorder=3)
            if "observed" in m:  # a year the trust did not report: an open marker (a model estimate)
                miss = ~m["observed"].astype(bool).to_numpy()
                if miss.any():
                    bot.plot(np.asarray(xs)[miss], m["median"].to_numpy()[miss], "o", ms=4, mfc="white",
                             mec=TRUST, zorder=4)
        else:
            bot.text(0.5, 0.5, "this trust is not in the\nmulti-year panel", transform=bot.transAxes,
                     ha="center", va="center", fontsize=fs(7), color=MUTED)
        lo, hi = bot.get_ylim()
        span = max(hi - lo, 1e-6)
        lo, hi = min(lo, -0.1 * span), max(hi, 0.1 * span)
        bot.set_ylim(lo - 0.08 * (hi - lo), hi + 0.08 * (hi - lo))
        bot.set_ylabel(aunit.replace(" vs ", "\nvs "), fontsize=fs(7))
        # every year labelled up to six; beyond, every other one counted back from the latest, so labels at 10 pt
        # do not run into each other in a half-width panel
        step = 1 if x[periods[-1]] - x[periods[0]] < 6 else 2
        shown = [p for p in periods if (x[periods[-1]] - x[p]) % step == 0]
        bot.set_xticks([x[p] for p in shown])
        bot.set_xticklabels([year_label(p) for p in shown])
        bot.set_xlim(x[periods[0]] - 0.3, x[periods[-1]] + 0.3)
    handles = [Line2D([], [], color=TRUST, lw=1.6, marker="o", ms=3.2),
               Patch(color=TRUST, alpha=0.35, lw=0),
               Line2D([], [], color=PEER, lw=1.4, marker="o", ms=3), Line2D([], [], color=MUTED, lw=1.4, ls="--")]
    labels = ["this trust against its peers", "80% and 95% intervals",
              "peer group" if peer_scope else "peer group (not in the trend fit)", "England"]
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.0, 1.0), ncol=4, handlelength=1.6,
               handletextpad=0.4, columnspacing=1.0, borderaxespad=0.1, fontsize=fs(7))
    return fig

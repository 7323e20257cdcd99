"""The claims' two figures, in the style of :mod:`analysis.figures`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.claims.spec import AGAINST_P, CLAIMS, SUPPORT_P


def figure_productivity(tp: pd.DataFrame, agg: dict, path: Path) -> Path:
    """Need-adjusted cost index against spend, the largest trusts highlighted, group aggregates as lines."""
    from matplotlib.figure import Figure

    from analysis import figures as F

    with F.rc_context():
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
        F.plain_log_axis(ax.xaxis)
        ax.set_xlabel("NCC actual cost 2024/25 (£ million, log scale)")
        ax.set_ylabel("Need-adjusted cost index\n(actual / need-adjusted expected)")
        ax.legend(loc="upper left")
        F.style_axes(ax)
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
    with F.rc_context():
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
            F.style_axes(ax)
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
        F.style_axes(ax)
    return F.save(fig, path)

"""The figures' style and data: NHS identity colours, matplotlib settings, :class:`FigureData` (the saved tables and the
panel, indexed once) and the drawing helpers the figures share (also :mod:`analysis.claims.figures`)."""

from __future__ import annotations

import contextlib
import io as _stdio
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from analysis import io
from models import indicators as registry

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

def indicator_strips(measures=()) -> list[tuple[str, str, float, bool]]:
    """(health_alpha measure, label, reference value, higher is better) of each Health Alpha strip, from the records
    (models/indicators.py): every indicator with a default weight ("not modelled" where a fit lacks it), then any
    other indicator whose measure is in ``measures``."""
    recs = [r for r in registry.INDICATORS.values()
            if (r.weight is not None and not r.when_present) or r.alpha_measure in measures]
    return [(r.alpha_measure, r.figure_label or f"{r.label}\n({'ratio' if r.alpha == 'ratio' else 'points'} vs "
             f"expected)", r.alpha_reference, r.higher_is_better) for r in recs]
#: trapped value rows: the care settings, their sum (the headline) and the net figure over all costs
SETTINGS = [("apc", "Admitted care"), ("op", "Outpatients"), ("ae", "A&E"), ("gross", "Sum of settings"),
            ("total", "All costs, net")]
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
    value: pd.DataFrame                  # wide: <measure>_<stat> for quality/cost composites (peer SD units, the
    #                                      chart's) and value index
    alpha: dict[str, pd.DataFrame]       # health_alpha measure -> frame indexed by org_code
    ranks: pd.DataFrame                  # national ranks indexed by org_code
    trapped: dict[str, pd.DataFrame]     # setting -> frame indexed by org_code (ENGLAND row included)
    panel: pd.DataFrame                  # panel indexed by org_code
    funnel: pd.DataFrame | None = None   # the saved SHMI funnel table (analysis.summaries.derived), or None
    #: the multi-year fit's tables (health_alpha, movements, trends...) when it passed its gate, else None
    trend: dict[str, pd.DataFrame] | None = None
    _peer_of: dict = field(default_factory=dict)
    #: units of the value position chart's composites: "peer" (SD of each trust's peer group) or "england"
    value_units: str = "peer"

    @classmethod
    def from_tables(cls, tables: dict[str, pd.DataFrame], panel: pd.DataFrame,
                    trend: dict[str, pd.DataFrame] | None = None) -> "FigureData":
        info = ["org_name", "region", "size_class", "peer_group"]
        vi = tables["value_index"]
        trusts = vi[vi.measure == "value_index"].set_index("org_code")[info].sort_index()
        wide = {}
        # the value position chart's axes are the composites in SD units of each trust's own peer group
        # (analysis.summaries.posterior.composites); tables written before those existed give England's SD units
        have = set(vi.measure)
        source = {m: f"{m}_peer" if f"{m}_peer" in have else m for m in ("quality_composite", "cost_composite")}
        source["value_index"] = "value_index"
        for m, src in source.items():
            t = vi[vi.measure == src].set_index("org_code")
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
        fd = cls(trusts, value, alpha, ranks, trapped, pan, funnel, trend)
        fd._peer_of = trusts.peer_group.to_dict()
        fd.value_units = "peer" if source["quality_composite"].endswith("_peer") else "england"
        return fd

    def group_of(self, code: str | None) -> str | None:
        return None if code is None else self._peer_of[code]

    def members(self, group: str | None) -> pd.Index:
        if group is None:
            return pd.Index([])
        return self.trusts.index[self.trusts.peer_group == group]


# ----------------------------------------------------------------------------- helpers

#: text scale of the figure being drawn (1 for the appendix and the paper; board figures set it with rc_context)
_SCALE = [1.0]
#: smallest text in the figures: the appendix's and the paper's size, scaled up for the slide and the handout
BASE_MIN_PT = 7.0
#: the scale of the board figures (slide and handout), drawn at the size they are shown: no text below 10 pt
BOARD_SCALE = 10.0 / BASE_MIN_PT


def fs(size: float) -> float:
    """A text size of the figure being drawn (``size`` at scale 1)."""
    return size * _SCALE[0]


@contextlib.contextmanager
def rc_context(scale: float = 1.0):
    """The figures' matplotlib settings, as a context manager (also for the claims' figures); ``scale`` enlarges
    every text size (:data:`BOARD_SCALE` for figures shown on the slide and the handout)."""
    import matplotlib as mpl

    rc = {k: (v * scale if k.endswith("size") and isinstance(v, float) else v) for k, v in RC.items()}
    old = _SCALE[0]
    _SCALE[0] = scale
    try:
        with mpl.rc_context(rc):
            yield
    finally:
        _SCALE[0] = old


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
    fig.text(0.01, y0 + h / 2, label, va="center", ha="left", fontsize=fs(7.5), color=INK)
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
               title=title, title_fontsize=fs(7), alignment="left", handletextpad=0.2, columnspacing=1.0,
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

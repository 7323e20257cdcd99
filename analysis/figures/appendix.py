"""Figures of many appendices at once: each background is drawn once per peer group, and each trust's overlay is
drawn on the same (hidden) axes and spliced into the background's SVG: the same picture, at a fraction of the cost."""

from __future__ import annotations

import re
from pathlib import Path

from matplotlib.figure import Figure

from analysis import io
from analysis.figures.panels import (_funnel_frame, _funnel_overlay, _indicator_frame, _indicator_overlay,
                                     _need_frame, _need_overlay, _rank_frame, _rank_overlay, _value_frame,
                                     _value_overlay, indicators, peer_need, rank_interval, shmi_funnel, trapped_value,
                                     value_position)
from analysis.figures.movements import movements
from analysis.figures.style import BOARD_SCALE, WIDTH, FigureData, rc_context, save, svg_text

#: the board figures' size in inches (width, height), drawn at the size the slide and the handout show them (their
#: documents give the same width), so their text is :data:`BOARD_SCALE` times the appendix's: nothing below 10 pt
#: handout 2.4 in high with its legend in one row (analysis.figures.panels.ONE_ROW_LEGEND_WIDTH): a plot area of
#: 6.15 x 1.52 in.  At 1.95 in with a two-row legend the plot was 0.65 in high, the quadrant labels covered half of
#: it and the quality axis could not be read (and three specialist trusts' handouts still ran to two pages on the
#: real data).  The handout gives the height back elsewhere (papers/handout.qmd): shorter caveat and mortality
#: text with the reasons left to the appendix, a shorter headline table; all 129 trusts' handouts are one page.
BOARD_SIZES = {"slide_position": (5.0, 4.1), "handout_position": (7.0, 2.4)}
#: name -> (frame, overlay, frame arguments, text scale) of the layered appendix figures
LAYERED = {
    "value_position": (_value_frame, _value_overlay, (3.0, WIDTH), 1.0),
    "slide_position": (_value_frame, _value_overlay, BOARD_SIZES["slide_position"][::-1], BOARD_SCALE),
    "handout_position": (_value_frame, _value_overlay, BOARD_SIZES["handout_position"][::-1], BOARD_SCALE),
    "indicators": (_indicator_frame, _indicator_overlay, (3.0,), 1.0),
    "rank": (_rank_frame, _rank_overlay, (2.4,), 1.0),
    "shmi_funnel": (_funnel_frame, _funnel_overlay, (3.0,), 1.0),
    "peer_need": (_need_frame, _need_overlay, (2.7,), 1.0),
}
#: the movements page's figure is drawn only when the results hold a trend fit that passed its gate
APPENDIX_FIGURES = (*LAYERED, "trapped_value", "movements")
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

    def __init__(self, fig: Figure, axes: list, scale: float = 1.0):
        self.fig, self.axes, self.scale = fig, axes, scale
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
            with rc_context(self.scale):
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
            frame, _, args, scale = LAYERED[name]
            with rc_context(scale):
                fig, axes = frame(self.fd, group, *args)
            self._layers[key] = _Layer(fig, axes, scale)
        return self._layers[key]

    def prepare(self, codes) -> None:
        for g in sorted({self.fd.group_of(c) for c in codes}):
            for name in LAYERED:
                self.layer(name, g)

    def write(self, code: str, outdir: str | Path) -> dict[str, Path]:
        outdir = Path(outdir)
        out = {}
        group = self.fd.group_of(code)
        for name, (_, overlay, _, _) in LAYERED.items():
            out[name] = io.write_text(outdir / f"{name}.svg", self.layer(name, group).with_overlay(overlay, self.fd,
                                                                                                   code))
        out["trapped_value"] = save(trapped_value(self.fd, code), outdir / "trapped_value.svg")
        if self.fd.trend is not None:
            out["movements"] = save(movements(self.fd, code), outdir / "movements.svg")
        return out


def appendix_figures(fd: FigureData, code: str, outdir: str | Path) -> dict[str, Path]:
    """Draw every appendix figure of one trust into ``outdir`` as whole figures (``<name>.svg``)."""
    outdir = Path(outdir)
    funcs = {"value_position": value_position, "indicators": indicators, "rank": rank_interval,
             "shmi_funnel": shmi_funnel, "peer_need": peer_need, "trapped_value": trapped_value}
    out = {name: save(fn(fd, code), outdir / f"{name}.svg") for name, fn in funcs.items()}
    for name, (w, h) in BOARD_SIZES.items():
        out[name] = save(value_position(fd, code, height=h, width=w, scale=BOARD_SCALE), outdir / f"{name}.svg")
    if fd.trend is not None:
        out["movements"] = save(movements(fd, code), outdir / "movements.svg")
    return out


def paper_figures(fd: FigureData, outdir: str | Path) -> dict[str, Path]:
    """Draw the national figures of the methodology paper into ``outdir``."""
    outdir = Path(outdir)
    funcs = {"value_position": value_position, "indicators": indicators, "rank": rank_interval,
             "shmi_funnel": shmi_funnel, "peer_need": peer_need, "trapped_value": trapped_value}
    return {name: save(fn(fd, None), outdir / f"{name}.svg") for name, fn in funcs.items()}

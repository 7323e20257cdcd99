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
* :func:`~analysis.figures.movements.movements`  the trust's Health Alpha path by year beside its peer group's
  and England's levels, one panel per indicator of the trend fit (drawn only when the results hold one)

Each figure is a *background* (axes, every other trust, the peer group highlighted; the same for every trust of
a peer group, with axis limits that do not depend on the trust) and an *overlay* (the trust's own marks).  The
functions above draw both into one figure.  :class:`AppendixFigures`, used to render many appendices, draws each
background once per peer group, then for each trust draws only the overlay on the same (hidden) axes and splices
its SVG into the background's: the same picture, at a fraction of the cost.

Modules: :mod:`~analysis.figures.style` (colours, settings, :class:`FigureData`, shared helpers),
:mod:`~analysis.figures.panels` (the figures, background and overlay), :mod:`~analysis.figures.appendix` (many
appendices at once).
"""

from analysis.figures.appendix import (APPENDIX_FIGURES, LAYERED, AppendixFigures, appendix_figures,  # noqa: F401
                                       paper_figures, splice_svg)
from analysis.figures.panels import (indicators, peer_need, rank_interval, shmi_funnel, trapped_value,  # noqa: F401
                                     value_position)
from analysis.figures.style import (BAD_BG, GOOD_BG, INK, MUTED, OTHER, PEER, PEER_COLOURS, RC, TRUST,  # noqa: F401
                                    WIDTH, FigureData, plain_log_axis, rc_context, save, style_axes, svg_text)

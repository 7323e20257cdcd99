"""``svi report``: the methodology paper (HTML and PDF) and three board documents (PDF) per trust.

Sources
    ``papers/methodology.qmd`` (the paper) and, per trust, ``papers/slide.qmd`` (one landscape opening slide),
    ``papers/appendix.qmd`` (the full appendix) and ``papers/handout.qmd`` (a one-page pre-read handout) are Quarto
    documents with no executable cells.  Every number in them is a ``{{< meta svi.KEY >}}`` shortcode, and every
    table whose length depends on the results is a ``{{< include _generated/NAME.md >}}`` shortcode.  For each
    document the build writes, into a build directory beside a copy of the ``.qmd``, ``_data.yml`` (the values,
    already formatted as Markdown text; a trust's three board documents share one), ``_generated/*.md`` (the
    generated tables and the validation and claims sections) and ``figures/*.svg`` (:mod:`analysis.figures`).

Modules, one job each
    :mod:`~analysis.report.data`      results access (through :class:`analysis.results.ResultsDir`)
    :mod:`~analysis.report.text`      text formatting (shared with :mod:`analysis.claims`)
    :mod:`~analysis.report.values`    per-trust and paper values
    :mod:`~analysis.report.sections`  generated tables and the validation and claims sections
    :mod:`~analysis.report.quarto`    Quarto documents and the Quarto engine (``quarto`` on ``PATH``)
    :mod:`~analysis.report.typst`     the in-process engine (pandoc and Typst)
    :mod:`~analysis.report.build`     staging, rendering and the worker processes

Every statistic the documents show is computed in :mod:`analysis.summaries` and saved with the tables; the report
formats and renders.  Outputs are written atomically (paths: :class:`analysis.results.ResultsDir`).  Results marked
unpublishable (failed convergence gate): board documents are refused with an error; the paper still renders, with
the failure stated at the top, on every page and in the diagnostics section.
"""

from analysis.fitinfo import timing_text  # noqa: F401
from analysis.report.build import BOARD_DOCS, render_appendices, render_paper, report  # noqa: F401
from analysis.report.data import Results, UnpublishableError, load_results  # noqa: F401
from analysis.report.quarto import quarto_path, read_qmd, resolve_shortcodes  # noqa: F401
from analysis.report.sections import manifest_markdown, manifest_status, paper_tables  # noqa: F401
from analysis.report.text import display_name, md, table_cell  # noqa: F401
from analysis.report.typst import compile_typst, md_to_html, md_to_typst, typst_preamble  # noqa: F401
from analysis.report.values import paper_values, trust_values  # noqa: F401
from analysis.results import TABLE_NAMES  # noqa: F401

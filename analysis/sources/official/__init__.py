"""The official publications in ``data/registry.toml``: one module per publication, each with its parser and
its :class:`~analysis.sources.official.feed.PanelFeed` (the panel columns it supplies).

Each parser takes the path of a file as it is downloaded (a ZIP archive, CSV, XLSX/XLSM workbook or ODS
spreadsheet) and returns a tidy :class:`pandas.DataFrame` whose columns are listed, in order, in the module's
``*_COLUMNS`` constant and documented in the parser's docstring.  Counts and amounts are ``float`` (``NaN``
where the publisher suppressed or left the cell blank: the tokens of
:data:`analysis.sources.reader.MISSING_TOKENS`); codes and names are ``str``.

Parsers read through the one reader stack (:mod:`analysis.sources.reader`, :mod:`analysis.sources.sheets`)
and raise :class:`analysis.errors.DataError` naming the file, the 1-based line and the column as written in
the file: the file is missing, empty, or not in the expected container format; a required column is missing
(reported on the header line); a value that must be a number is not one, or a count is negative; the bytes are
not valid text in the expected encoding (UTF-8 by default).  For spreadsheets the "line" is the row number the
spreadsheet program shows, and the file is reported as ``path [sheet 'NAME']``.

Layouts were taken from public code that reads the real files; each parser's docstring says which columns it
relies on.  Columns that a parser does not use are ignored, so added columns in a new release do not break it.
"""

from __future__ import annotations

from analysis.sources.official import ae, cwt, fft, imd, ncc, ohid, readmissions, rtt, shmi
from analysis.sources.official.ae import AE_COLUMNS, parse_ae_monthly
from analysis.sources.official.cwt import CWT_COLUMNS, cwt_to_monthly, parse_cwt_combined
from analysis.sources.official.feed import PanelFeed
from analysis.sources.official.fft import FFT_COLUMNS, parse_fft_inpatient
from analysis.sources.official.imd import IMD_COLUMNS, parse_imd2019_ltla
from analysis.sources.official.ncc import NCC_COLUMNS, NCC_MAPPING_POT_SETTINGS, parse_ncc_org_mff
from analysis.sources.official.ohid import OHID_COLUMNS, parse_ohid_catchments
from analysis.sources.official.readmissions import READMISSIONS_COLUMNS, parse_readmissions_30d
from analysis.sources.official.rtt import RTT_COLUMNS, parse_rtt_full_csv
from analysis.sources.official.shmi import SHMI_COLUMNS, parse_shmi_trust
from analysis.sources.official.wlmds_imd import WLMDS_IMD_COLUMNS, parse_wlmds_imd_decile

__all__ = [
    "AE_COLUMNS", "CWT_COLUMNS", "FFT_COLUMNS", "IMD_COLUMNS", "NCC_COLUMNS", "NCC_MAPPING_POT_SETTINGS",
    "OHID_COLUMNS", "READMISSIONS_COLUMNS", "RTT_COLUMNS", "SHMI_COLUMNS", "WLMDS_IMD_COLUMNS", "FEEDS", "PanelFeed",
    "cwt_to_monthly", "parse_ae_monthly", "parse_cwt_combined", "parse_fft_inpatient", "parse_imd2019_ltla",
    "parse_ncc_org_mff",
    "parse_ohid_catchments", "parse_readmissions_30d", "parse_rtt_full_csv", "parse_shmi_trust",
    "parse_wlmds_imd_decile",
]

#: Registry entry name -> how that publication feeds the panel, in the order the panel build applies them.
#: (``wlmds_imd_decile`` feeds no panel column: it gives the equity-of-access table of :mod:`analysis.equity_access`.
#: The ``cwt_combined_*`` entries are monthly feeds: the cross-section's cancer counts, see
#: :mod:`analysis.sources.official.cwt`.)
FEEDS: dict[str, PanelFeed] = {**{m.PANEL.entry: m.PANEL for m in (shmi, rtt, ae, fft, ncc, imd, ohid,
                                                                      readmissions)},
                               **{f.entry: f for f in cwt.PANELS}}

"""Friends and Family Test, inpatient workbook: parser and panel feed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.sources.official.feed import PanelFeed
from analysis.sources.reader import finish
from analysis.sources.sheets import xlsx_rows, sheet_table

FFT_COLUMNS = ("org_code", "org_name", "icb_code", "total_responses", "total_eligible", "share_positive",
               "share_negative", "very_good", "good", "neither_good_nor_poor", "poor", "very_poor", "dont_know")


_FFT_LIKERT = {"very_good": "Very Good", "good": "Good", "neither_good_nor_poor": "Neither Good nor Poor",
               "poor": "Poor", "very_poor": "Very Poor", "dont_know": "Don't Know"}


def parse_fft_inpatient(path: str | Path) -> pd.DataFrame:
    """Parse the monthly inpatient Friends and Family Test workbook (NHS England, ``.xlsm``).

    Reads the ``Trusts`` sheet.  Its header row (found by its ``Trust Code`` cell;
    rows above it are titles and notes) is followed by England summary rows
    without a trust code, which are skipped, then one row per trust.

    Source columns: ``Trust Code``, ``Trust Name``, ``Total Responses``,
    ``Total Eligible``, ``Percentage Positive``, ``Percentage Negative``
    (required); ``ICB Code`` and the response counts ``Very Good`` ... ``Don't Know``
    (optional, ``NaN`` when absent).  Suppressed cells (``*``) become missing.

    Returns one row per trust (:data:`FFT_COLUMNS`): ``org_code``, ``org_name``,
    ``icb_code``, ``total_responses``, ``total_eligible``, ``share_positive`` and
    ``share_negative`` (shares between 0 and 1 of responses rating the service
    good or very good / poor or very poor), and the counts of each response.
    """
    sheet = sheet_table(xlsx_rows(path, "Trusts"), f"{path} [sheet 'Trusts']", header_probe="Trust Code",
                         required=["Trust Code", "Trust Name", "Total Responses", "Total Eligible",
                                   "Percentage Positive", "Percentage Negative"],
                         optional=["ICB Code", *_FFT_LIKERT.values()], key="Trust Code")
    out = pd.DataFrame({"org_code": sheet.text("Trust Code", required=True),
                        "org_name": sheet.text("Trust Name"),
                        "icb_code": sheet.text("ICB Code") if sheet.has("ICB Code") else ""})
    out["total_responses"] = sheet.number("Total Responses")
    out["total_eligible"] = sheet.number("Total Eligible")
    for name, source in (("share_positive", "Percentage Positive"), ("share_negative", "Percentage Negative")):
        share = sheet.number(source)
        above = share > 1
        if above.any():
            i = int(np.flatnonzero(above.to_numpy())[0])
            raise sheet.error(i, source, f"expected a share between 0 and 1, got {sheet.raw(source, i)} "
                                         "(a percentage 0-100 would need converting)")
        out[name] = share
    for name, source in _FFT_LIKERT.items():
        out[name] = sheet.number(source) if sheet.has(source) else np.nan
    sheet.check_unique(out["org_code"], "Trust Code", "appears more than once")
    return finish(out, FFT_COLUMNS)


# -- panel feed ------------------------------------------------------------------------------------

def fft_to_panel(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per trust: responses and positive responses, round(responses x share positive), the derivation
    of the compiled column (missing when the share is suppressed)."""
    f = frame.set_index("org_code")
    return pd.DataFrame({"fft_responses": f["total_responses"],
                         "fft_positive": np.round(f["total_responses"] * f["share_positive"])})


PANEL = PanelFeed(
    entry="fft_inpatient", key="trust", to_panel=fft_to_panel, replaces="trust_profiles", fallback="missing",
    columns=("fft_responses", "fft_positive"),
    raw_columns={"fft_responses": "Total Responses", "fft_positive": "Percentage Positive"},
    note="inpatient FFT only, while the compiled columns count every setting: a trust this publication does not "
         "cover has FFT missing rather than a value of the other definition")

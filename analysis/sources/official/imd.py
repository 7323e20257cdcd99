"""English Indices of Deprivation 2019, File 10 (district summaries): parser and panel feed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import DataError
from analysis.sources.official.feed import PanelFeed
from analysis.sources.reader import finish
from analysis.sources.sheets import xlsx_rows, sheet_table

IMD_COLUMNS = ("lad_code", "lad_name", "imd_average_rank", "imd_rank_of_average_rank", "imd_average_score",
               "imd_rank_of_average_score", "imd_proportion_most_deprived_10pct", "income_average_score",
               "health_average_score")


_IMD_CODE = "Local Authority District code (2019)"
_IMD_NAME = "Local Authority District name (2019)"


def parse_imd2019_ltla(path: str | Path) -> pd.DataFrame:
    """Parse IoD 2019 File 10, local authority district (lower-tier) summaries (MHCLG, ``.xlsx``).

    Reads the ``IMD``, ``Income`` and ``Health`` sheets (header on row 1; the
    published headers end in a space, which is ignored) and joins them on the
    district code; every district must appear on all three sheets.

    Source columns: ``Local Authority District code (2019)``,
    ``Local Authority District name (2019)``; on ``IMD``: ``IMD - Average rank``,
    ``IMD - Rank of average rank``, ``IMD - Average score``,
    ``IMD - Rank of average score``,
    ``IMD - Proportion of LSOAs in most deprived 10% nationally``; on ``Income``:
    ``Income - Average score``; on ``Health``:
    ``Health Deprivation and Disability - Average score``.

    Returns one row per district (:data:`IMD_COLUMNS`): ``lad_code``, ``lad_name``,
    the five IMD summaries (population-weighted average LSOA rank and score,
    their ranks among districts where 1 is most deprived, and the share of the
    district's LSOAs in the most deprived national decile), the income domain
    average score (share of people income deprived) and the health deprivation
    and disability domain average score.
    """
    imd_cols = {"imd_average_rank": "IMD - Average rank", "imd_rank_of_average_rank": "IMD - Rank of average rank",
                "imd_average_score": "IMD - Average score",
                "imd_rank_of_average_score": "IMD - Rank of average score",
                "imd_proportion_most_deprived_10pct": "IMD - Proportion of LSOAs in most deprived 10% nationally"}
    domains = {"Income": ("income_average_score", "Income - Average score"),
               "Health": ("health_average_score", "Health Deprivation and Disability - Average score")}
    imd = sheet_table(xlsx_rows(path, "IMD"), f"{path} [sheet 'IMD']", header_probe=_IMD_CODE,
                       required=[_IMD_CODE, _IMD_NAME, *imd_cols.values()], key=_IMD_CODE)
    out = pd.DataFrame({"lad_code": imd.text(_IMD_CODE, required=True), "lad_name": imd.text(_IMD_NAME)})
    for name, source in imd_cols.items():
        out[name] = imd.number(source)
    imd.check_unique(out["lad_code"], _IMD_CODE, "appears more than once")
    for sheet_name, (name, source) in domains.items():
        sheet = sheet_table(xlsx_rows(path, sheet_name), f"{path} [sheet '{sheet_name}']",
                             header_probe=_IMD_CODE, required=[_IMD_CODE, source], key=_IMD_CODE)
        codes = sheet.text(_IMD_CODE, required=True)
        sheet.check_unique(codes, _IMD_CODE, "appears more than once")
        extra = ~codes.isin(out["lad_code"])
        if extra.any():
            i = int(np.flatnonzero(extra.to_numpy())[0])
            raise sheet.error(i, _IMD_CODE, f"district {codes.iloc[i]!r} is not on the 'IMD' sheet")
        scores = sheet.number(source, nonnegative=(sheet_name != "Health"))  # health scores are z-like
        values = pd.Series(scores.to_numpy(), index=codes.to_numpy())
        missing = ~out["lad_code"].isin(codes)
        if missing.any():
            i = int(np.flatnonzero(missing.to_numpy())[0])
            raise DataError(sheet.label, f"district {out['lad_code'].iloc[i]!r} (on the 'IMD' sheet) is missing",
                            column=_IMD_CODE)
        out[name] = out["lad_code"].map(values).to_numpy()
    return finish(out, IMD_COLUMNS)


# -- panel feed ------------------------------------------------------------------------------------

def imd_to_panel(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per district, in the columns of the compiled IoD 2019 district file it supersedes."""
    f = frame.set_index("lad_code")
    return pd.DataFrame({"Score": f["imd_average_score"], "Income_Score": f["income_average_score"],
                         "Health_Score": f["health_average_score"]})


PANEL = PanelFeed(
    entry="imd2019_ltla", key="area", to_panel=imd_to_panel, replaces="imd", fallback="compiled",
    columns=("Score", "Income_Score", "Health_Score"),
    raw_columns={"Score": "IMD - Average score",
                 "Income_Score": "Income - Average score",
                 "Health_Score": "Health Deprivation and Disability - Average score"},
    note="2019 district codes: a district whose code changed by 2021 (e.g. Buckinghamshire, Northamptonshire) "
         "keeps the compiled value, which is published under the 2021 code")

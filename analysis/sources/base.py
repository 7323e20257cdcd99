"""Compiled sources: checked CSV reading on the one reader stack (:mod:`analysis.sources.reader`) and the
:class:`Source` record.

Loaders validate the *format* of a file and raise :class:`DataError` naming the
file, line and column (wrong or missing columns, non-numeric values, empty
files, wrong encoding, duplicate keys, rows with the wrong number of fields, a
last row cut off, fewer rows than the file's declared minimum, malformed codes).
Implausible *values* for one trust (negative counts, observed deaths above
spells, ...) and numbers outside their plausible range (``inf``, ``1e308``; the
ranges are in :mod:`analysis.schema`) are set missing and recorded, then listed
in the quality report, so one bad cell never silently removes a trust nor
silently enters a model.

Organisation and area codes are identities: they are compared in upper case
with surrounding spaces removed (``rjz`` is ``RJZ``; the repair is reported),
and a key that appears twice in that form is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from analysis.errors import DataError
from analysis.schema import Range
from analysis.sources.reader import MISSING_TOKENS, SUPPRESSED_TOKENS, csv_source, read_table

__all__ = ["CODE_PATTERN", "LINE", "MISSING_TOKENS", "SUPPRESSED_TOKENS", "Source", "read_csv_checked"]

LINE = "_line"  # 1-based line of the row in its file (header is line 1)
#: An ODS organisation code or ONS area code, once upper-cased: letters and digits only.
CODE_PATTERN = re.compile(r"[A-Z0-9]{2,9}")


def read_csv_checked(path: str | Path, *, required: Mapping[str, str], key: str | None = None,
                     name: str | None = None, ranges: Mapping[str, Range] | None = None,
                     codes: tuple[str, ...] = (), min_rows: int | None = None) -> pd.DataFrame:
    """Read a CSV with every cell as text, then check and convert ``required`` columns.

    ``required`` maps column name -> kind: ``"str"`` (kept as text) or ``"num"`` (numeric, may be negative).
    Every ``"num"`` column needs a plausible range in ``ranges``; a value outside it (or not finite) is set
    missing and recorded in ``attrs["invalid"]`` (line, column, raw text, reason) for the quality report.
    ``codes`` are code columns: stripped, upper-cased (recorded in ``attrs["recoded"]``) and checked against
    :data:`CODE_PATTERN`.  ``min_rows`` is the declared minimum number of data rows.  Missing tokens
    (:data:`MISSING_TOKENS`) become NaN.  The file must end with a line break (a snapshot copy cut off in its
    last row is refused).  Returns only the required columns plus ``_line``.
    """
    path = Path(path)
    ranges = dict(ranges or {})
    unranged = [c for c, kind in required.items() if kind != "str" and c not in ranges]
    if unranged:  # pragma: no cover - programming error
        raise ValueError(f"{path.name}: numeric column(s) {unranged} have no plausible range")
    table = read_table(csv_source(path), required=list(required), final_newline=True)
    df = table.frame
    if min_rows is not None and len(df) < min_rows:
        raise DataError(path, f"has only {len(df)} data rows, but at least {min_rows} are expected (the declared "
                              "minimum for this source in analysis/sources/loaders.py): the file looks cut off or is "
                              "not the right file; restore the complete file", row=len(df) + 1)
    out = pd.DataFrame({LINE: table.lines()}, index=df.index)
    recoded: list[dict] = []
    for col, kind in required.items():
        if kind == "str":
            values = table.text(col)
            out[col] = values.where(values != "", None)
            if col in codes:
                out[col] = _codes(out[col], df[col], out[LINE], path, col, recoded)
            continue
        out[col] = table.number(col, nonnegative=False, finite=False)
    invalid: list[dict] = []
    ident = key or (codes[0] if codes else None)
    for col, kind in required.items():
        if kind == "str":
            continue
        rng = ranges[col]
        x = out[col]
        bad = x.notna() & ~rng.ok(x.to_numpy())
        for i in bad[bad].index:
            v = float(x[i])
            invalid.append({"line": int(out.at[i, LINE]), "column": col, "raw": str(df.at[i, col]).strip(),
                            "code": out.at[i, ident] if ident else None,
                            "reason": ("not a finite number" if not np.isfinite(v) else
                                       ("negative, " if v < 0 <= rng.lo else "")
                                       + f"outside the plausible range {rng.text()}") + f" ({rng.source})"})
        out.loc[bad, col] = np.nan
    if key is not None:
        k = out[key]
        if k.isna().any():
            line = int(out.loc[k.isna(), LINE].iloc[0])
            raise DataError(path, "empty identifier", row=line, column=key)
        dup = k.duplicated(keep=False)
        if dup.any():
            first = k[dup].iloc[0]
            lines_dup = out.loc[k == first, LINE].tolist()
            written = sorted({str(v).strip() for v in df.loc[k == first, key]})
            how = (f" (written {' and '.join(repr(w) for w in written)}; codes are compared in upper case)"
                   if len(written) > 1 else "")
            raise DataError(path, f"duplicate {key} '{first}' on lines {lines_dup}{how}; keep one row per code",
                            row=int(lines_dup[1]), column=key)
    out.attrs["file"] = str(path)
    out.attrs["source"] = name or path.name
    out.attrs["rows"] = int(len(df))
    out.attrs["invalid"] = invalid
    out.attrs["recoded"] = recoded
    return out


def _codes(values: pd.Series, raw: pd.Series, line: pd.Series, path: Path, col: str, recoded: list) -> pd.Series:
    up = values.str.upper()
    changed = values.notna() & (up != raw)
    for i in changed[changed].index:
        recoded.append({"line": int(line[i]), "column": col, "old": raw[i], "new": up[i]})
    bad = up.notna() & ~up.fillna("").str.fullmatch(CODE_PATTERN)
    if bad.any():
        i = bad[bad].index[0]
        raise DataError(path, f"{raw[i]!r} is not an organisation or area code (letters and digits only, 2-9 "
                              "characters); correct the code", row=int(line[i]), column=col)
    return up


@dataclass(frozen=True)
class Source:
    """One registered data source: where its files live and how to load them."""

    name: str
    description: str
    files: tuple[str, ...]  # paths relative to <data_dir>/raw
    loader: Callable[..., pd.DataFrame]
    period: str
    publisher: str
    notes: str = ""
    extra: dict = field(default_factory=dict)

    def paths(self, data_dir: Path) -> list[Path]:
        return [Path(data_dir) / "raw" / f for f in self.files]

    def load(self, data_dir: Path) -> pd.DataFrame:
        return self.loader(*self.paths(data_dir))

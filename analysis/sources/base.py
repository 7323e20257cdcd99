"""Shared machinery for source adapters: checked CSV reading and the adapter registry.

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

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from analysis.errors import DataError
from analysis.schema import Range

#: Tokens that official NHS files use for suppressed or missing values.
MISSING_TOKENS = frozenset({"", "na", "nan", "n/a", "none", "null", "*", "-", "..", ":", "c", "z", "x"})
#: Tokens that mean "suppressed for disclosure control" (reported separately).
SUPPRESSED_TOKENS = frozenset({"*", "c", "z", ".."})

LINE = "_line"  # 1-based line of the row in its file (header is line 1)
#: An ODS organisation code or ONS area code, once upper-cased: letters and digits only.
CODE_PATTERN = re.compile(r"[A-Z0-9]{2,9}")


def decode_text(path: Path) -> str:
    """Read a file as UTF-8 (BOM tolerated); a wrong encoding names the line."""
    if path.is_dir():
        raise DataError(path, "is a directory, not a CSV file; put the CSV file itself at this path")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(path, f"cannot be read ({exc.strerror or exc}); check that it is a readable file") from None
    if not raw.strip():
        raise DataError(path, "file is empty")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(path, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                              "re-save the file as UTF-8", row=line) from None


def _record_lines(text: str, path: Path, width: int) -> list[int]:
    """Line of every data record; every record must have the header's ``width`` fields and the file must end
    with a line break (otherwise its last row may be cut off)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    lines: list[int] = []
    prev = 0
    try:
        for i, rec in enumerate(reader):
            start, prev = prev + 1, reader.line_num
            if i == 0 or not rec or (len(rec) == 1 and not rec[0].strip()):
                continue
            if len(rec) != width:
                fewer = len(rec) < width
                raise DataError(path, f"row has {len(rec)} fields but the header has {width}: "
                                      + ("the row is cut short" + (" (the file looks cut off here)"
                                                                   if prev >= text.count("\n") else "")
                                         if fewer else "a value holds an unquoted comma")
                                      + "; restore the complete file", row=start)
            lines.append(start)
    except csv.Error as exc:
        raise DataError(path, f"not a well-formed CSV ({exc}); the file is cut off inside a quoted value or a quote "
                              "is unbalanced; restore the complete file", row=reader.line_num) from None
    if not text.endswith(("\n", "\r")):
        raise DataError(path, "the file does not end with a line break, so its last row may be cut off; restore the "
                              "complete file (if it is complete, end it with a line break)", row=prev)
    return lines


def read_csv_checked(path: str | Path, *, required: Mapping[str, str], key: str | None = None,
                     name: str | None = None, ranges: Mapping[str, Range] | None = None,
                     codes: tuple[str, ...] = (), min_rows: int | None = None) -> pd.DataFrame:
    """Read a CSV with every cell as text, then check and convert ``required`` columns.

    ``required`` maps column name -> kind: ``"str"`` (kept as text) or ``"num"`` (numeric, may be negative).
    Every ``"num"`` column needs a plausible range in ``ranges``; a value outside it (or not finite) is set
    missing and recorded in ``attrs["invalid"]`` (line, column, raw text, reason) for the quality report.
    ``codes`` are code columns: stripped, upper-cased (recorded in ``attrs["recoded"]``) and checked against
    :data:`CODE_PATTERN`.  ``min_rows`` is the declared minimum number of data rows.  Missing tokens become NaN.
    Returns only the required columns plus ``_line``.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(path, "file not found")
    ranges = dict(ranges or {})
    unranged = [c for c, kind in required.items() if kind != "str" and c not in ranges]
    if unranged:  # pragma: no cover - programming error
        raise ValueError(f"{path.name}: numeric column(s) {unranged} have no plausible range")
    text = decode_text(path)
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError:
        raise DataError(path, "file is empty") from None
    except pd.errors.ParserError as exc:
        _record_lines(text, path, len(next(csv.reader(io.StringIO(text)), [])))  # a clearer message when it can
        raise DataError(path, f"not a well-formed CSV: {exc}") from None
    lines = _record_lines(text, path, len(df.columns))
    if df.empty:
        raise DataError(path, "file has a header but no data rows")
    if min_rows is not None and len(df) < min_rows:
        raise DataError(path, f"has only {len(df)} data rows, but at least {min_rows} are expected (the declared "
                              "minimum for this source in analysis/sources/loaders.py): the file looks cut off or is "
                              "not the right file; restore the complete file", row=len(df) + 1)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(path, f"missing required column(s) {missing}; found {list(df.columns)[:12]}"
                              f"{' ...' if len(df.columns) > 12 else ''}", column=missing[0])
    line = np.asarray(lines) if len(lines) == len(df) else np.arange(2, len(df) + 2)
    out = pd.DataFrame({LINE: line}, index=df.index)
    recoded: list[dict] = []
    for col, kind in required.items():
        values = df[col].astype(str).str.strip()
        if kind == "str":
            out[col] = values.where(~values.str.lower().isin(MISSING_TOKENS), None)
            if col in codes:
                out[col] = _codes(out[col], df[col], out[LINE], path, col, recoded)
            continue
        out[col] = _to_number(values, path, col, out[LINE])
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


def _to_number(values: pd.Series, path: Path, col: str, line: pd.Series) -> pd.Series:
    cleaned = values.str.replace(",", "", regex=False)
    is_missing = cleaned.str.lower().isin(MISSING_TOKENS)
    num = pd.to_numeric(cleaned.where(~is_missing, None), errors="coerce")
    bad = num.isna() & ~is_missing
    if bad.any():
        i = bad[bad].index[0]
        raise DataError(path, f"non-numeric value {values[i]!r}; correct it or leave the cell empty (missing)",
                        row=int(line[i]), column=col)
    return num.astype(float)


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

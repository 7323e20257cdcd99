"""Shared machinery for source adapters: checked CSV reading and the adapter registry.

Loaders validate the *format* of a file and raise :class:`DataError` naming the
file, line and column (wrong or missing columns, non-numeric values, empty
files, wrong encoding, duplicate keys).  Implausible *values* for one trust
(negative counts, observed deaths above spells, ...) are handled in panel
assembly as documented exclusions recorded in the quality report, so one bad
cell never silently removes a trust nor silently enters a model.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from analysis.errors import DataError

#: Tokens that official NHS files use for suppressed or missing values.
MISSING_TOKENS = frozenset({"", "na", "nan", "n/a", "none", "null", "*", "-", "..", ":", "c", "z", "x"})
#: Tokens that mean "suppressed for disclosure control" (reported separately).
SUPPRESSED_TOKENS = frozenset({"*", "c", "z", ".."})

LINE = "_line"  # 1-based line of the row in its file (header is line 1)


def decode_text(path: Path) -> str:
    """Read a file as UTF-8 (BOM tolerated); a wrong encoding names the line."""
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(path, "file is empty")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(path, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                              "re-save the file as UTF-8", row=line) from None


def read_csv_checked(path: str | Path, *, required: Mapping[str, str], key: str | None = None,
                     name: str | None = None) -> pd.DataFrame:
    """Read a CSV with every cell as text, then check and convert ``required`` columns.

    ``required`` maps column name -> kind: ``"str"`` (kept as text), ``"num"``
    (numeric, may be negative) or ``"count"`` (numeric; negativity is checked
    later by the panel, not here).  Missing tokens become NaN.  Returns only
    the required columns plus ``_line``.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(path, "file not found")
    text = decode_text(path)
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError:
        raise DataError(path, "file is empty") from None
    except pd.errors.ParserError as exc:
        raise DataError(path, f"not a well-formed CSV: {exc}") from None
    if df.empty:
        raise DataError(path, "file has a header but no data rows")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(path, f"missing required column(s) {missing}; found {list(df.columns)[:12]}"
                              f"{' ...' if len(df.columns) > 12 else ''}", column=missing[0])
    out = pd.DataFrame({LINE: np.arange(2, len(df) + 2)}, index=df.index)
    for col, kind in required.items():
        values = df[col].astype(str).str.strip()
        if kind == "str":
            out[col] = values.where(~values.str.lower().isin(MISSING_TOKENS), None)
            continue
        out[col] = _to_number(values, path, col)
    if key is not None:
        k = out[key]
        if k.isna().any():
            line = int(out.loc[k.isna(), LINE].iloc[0])
            raise DataError(path, "empty identifier", row=line, column=key)
        dup = k.duplicated(keep=False)
        if dup.any():
            first = k[dup].iloc[0]
            lines = out.loc[k == first, LINE].tolist()
            raise DataError(path, f"duplicate {key} '{first}' on lines {lines}", row=int(lines[1]), column=key)
    out.attrs["file"] = str(path)
    out.attrs["source"] = name or path.name
    return out


def _to_number(values: pd.Series, path: Path, col: str) -> pd.Series:
    cleaned = values.str.replace(",", "", regex=False)
    is_missing = cleaned.str.lower().isin(MISSING_TOKENS)
    num = pd.to_numeric(cleaned.where(~is_missing, None), errors="coerce")
    bad = num.isna() & ~is_missing
    if bad.any():
        i = bad[bad].index[0]
        raise DataError(path, f"non-numeric value {values[i]!r}", row=int(i) + 2, column=col)
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

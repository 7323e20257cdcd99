"""The one reader stack for every input file: the compiled CSVs under ``<data_dir>/raw`` (read by
:mod:`analysis.sources.base`) and the official publications in the download cache (parsed by
:mod:`analysis.sources.official`; spreadsheets through :mod:`analysis.sources.sheets`).

What every reader shares, so that both sides accept and refuse the same things:

* :data:`MISSING_TOKENS`, the one list of cells that mean "no value" (blank, suppression markers such as
  ``*``, ``..`` or ``c``, and spellings of "not available" such as ``N/A``), compared case-insensitively
  after stripping spaces;
* :func:`parse_numbers`, the one conversion of cells to numbers (thousands separators allowed, missing
  tokens become ``NaN``, anything else that is not a number is reported);
* :func:`read_table`: a CSV (or the CSV inside a ZIP archive) whose records all have the header's number of
  fields, decoded strictly, with every data record's 1-based line kept for error messages;
* :class:`Table`: typed access to the columns of a parsed table that reports a bad cell as a
  :class:`~analysis.errors.DataError` naming the file, the line (or spreadsheet row) and the column as
  written in the file.

Column headers are matched after collapsing white space and ignoring case (:func:`norm`), because
publishers vary both between releases.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from analysis.errors import DataError

#: Cells that mean "no value", in lower case: blank; suppression for disclosure control ('*', '**', '..',
#: 'c', 'z', ':'); not applicable or not available ('-', 'x', 'n/a', 'na', 'nan', 'none', 'null').
MISSING_TOKENS = frozenset({"", "na", "nan", "n/a", "none", "null", "*", "**", "-", "..", ":", "c", "z", "x"})
#: The tokens among :data:`MISSING_TOKENS` that mean "suppressed for disclosure control".
SUPPRESSED_TOKENS = frozenset({"*", "**", "..", "c", "z"})


def is_missing_token(value: Any) -> bool:
    """True for ``None``, ``NaN`` and any text in :data:`MISSING_TOKENS` (case and surrounding spaces ignored)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return True
    return isinstance(value, str) and value.strip().lower() in MISSING_TOKENS


def norm(name: Any) -> str:
    """Header matching key: white space collapsed, case folded."""
    return " ".join(str(name).split()).casefold()


def cell_text(value: Any) -> str:
    """A cell as stripped text ("" for an empty cell; a whole float from a spreadsheet without its '.0')."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _number_text(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, bool):
        return str(value)  # never a number
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value
    return str(value).strip()


def parse_numbers(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Convert cells to float: ``(numbers, missing, unparsed)``.

    ``missing`` marks cells in :data:`MISSING_TOKENS` (``NaN`` in ``numbers``); ``unparsed`` marks cells that
    are neither missing nor a number (also ``NaN``): the caller reports them.  Commas between digits are
    thousands separators.  ``inf`` parses as a number: whether it is acceptable is the caller's decision.
    """
    if pd.api.types.is_float_dtype(values) or pd.api.types.is_integer_dtype(values):
        numbers = values.astype(float)
        missing = numbers.isna()
        return numbers, missing, pd.Series(False, index=values.index)
    cleaned = values.map(_number_text)
    missing = cleaned.map(lambda v: isinstance(v, str) and v.lower() in MISSING_TOKENS).astype(bool)
    text = cleaned.map(lambda v: v.replace(",", "") if isinstance(v, str) else v)
    numbers = pd.to_numeric(text.mask(missing, np.nan), errors="coerce").astype(float)
    unparsed = numbers.isna() & ~missing
    return numbers, missing, unparsed


# -- CSV ----------------------------------------------------------------------------------------------

@dataclass
class CsvSource:
    """A CSV file on disk, or one member of a ZIP archive."""

    path: Path
    member: str | None = None
    header_line: int = 1

    @property
    def label(self) -> str:
        return f"{self.path} (member {self.member})" if self.member else str(self.path)

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        """A binary stream of the CSV (a ZIP member is streamed, not extracted)."""
        if self.member is None:
            with open(self.path, "rb") as fh:
                yield fh
        else:
            with zipfile.ZipFile(self.path) as archive, archive.open(self.member) as fh:
                yield fh


def check_file(path: Path) -> None:
    """The path is a readable, non-empty file; otherwise a DataError saying what to do."""
    if path.is_dir():
        raise DataError(path, "is a directory, not a file; put the file itself at this path")
    if not path.exists():
        raise DataError(path, "file not found")
    if not path.is_file():
        raise DataError(path, "is not a file")
    if path.stat().st_size == 0:
        raise DataError(path, "file is empty (0 bytes); restore the file (a download may have failed: fetch it again)")


def csv_source(path: str | Path, *, pick: Callable[[str], bool] | None = None, what: str = "the CSV") -> CsvSource:
    """The CSV at ``path``; for a ZIP archive, its one member that ``pick`` accepts (every CSV when None)."""
    path = Path(path)
    check_file(path)
    if not zipfile.is_zipfile(path):
        return CsvSource(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = [n for n in archive.namelist() if n.lower().endswith(".csv") and not n.endswith("/")]
    except zipfile.BadZipFile as exc:
        raise DataError(path, f"is a damaged ZIP archive ({exc})") from None
    candidates = [m for m in members if pick is None or pick(m)]
    if len(candidates) != 1:
        found = ", ".join(members) or "no CSV files"
        raise DataError(path, f"expected the ZIP archive to hold exactly one file that is {what}, "
                              f"found {len(candidates)} (archive holds: {found})")
    return CsvSource(path, candidates[0])


def _py_encoding(encoding: str) -> str:
    """Python codec for ``encoding``; UTF-8 is read as ``utf-8-sig`` so that a byte-order mark is dropped."""
    return "utf-8-sig" if encoding.replace("-", "").replace("_", "").lower() in ("utf8", "utf8sig") else encoding


def _decode(src: CsvSource, data: bytes, encoding: str, *, complete: bool = True) -> str:
    """Decode bytes, reporting an invalid byte by line and column."""
    codec = _py_encoding(encoding)
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        if not complete and exc.start >= len(data) - 4 and exc.reason.startswith("unexpected end"):
            return data[:exc.start].decode(codec)  # a character cut by the prefix limit
        raise _encoding_error(src, data, exc, codec) from None


def _encoding_error(src: CsvSource, data: bytes, exc: UnicodeDecodeError, codec: str) -> DataError:
    """A DataError for an undecodable byte: its physical line and, on a data line, the header of its field.

    The field is found by splitting the start of the line at commas (quoted fields spanning lines, rare in
    these files, can make the column approximate).
    """
    line_start = data.rfind(b"\n", 0, exc.start) + 1
    line = data.count(b"\n", 0, exc.start) + 1
    column = None
    if line > 1:
        try:
            header_bytes = data[: data.find(b"\n")]
            header = next(csv.reader([header_bytes.decode(codec, errors="replace").lstrip("\ufeff").rstrip("\r")]))
            prefix = data[line_start:exc.start].decode(codec, errors="replace")
            field_index = len(next(csv.reader([prefix]), [""])) - 1 if prefix else 0
            column = header[field_index] if 0 <= field_index < len(header) else None
        except (csv.Error, StopIteration):
            column = None
    byte = data[exc.start:exc.start + 1].hex()
    return DataError(src.label, f"is not valid {codec.replace('-sig', '').upper()} text (byte 0x{byte} at offset "
                                f"{exc.start}). Re-save the file as UTF-8, or pass the file's encoding to the "
                                "parser (e.g. encoding='cp1252')", row=line, column=column)


def read_header(src: CsvSource, encoding: str = "utf-8") -> list[str]:
    """The header row of a CSV (first non-blank record); sets ``src.header_line``."""
    with src.open() as fh:
        text = _decode(src, fh.read(1 << 20), encoding, complete=False)
    reader = csv.reader(io.StringIO(text, newline=""))
    last = 0
    try:
        for record in reader:
            if record and any(cell.strip() for cell in record):
                src.header_line = last + 1
                return record
            last = reader.line_num
    except csv.Error as exc:
        raise DataError(src.label, f"not a well-formed CSV ({exc}); restore the complete file",
                        row=last + 1) from None
    raise DataError(src.label, "file is empty (no header row)")


def _blank(record: list[str]) -> bool:
    return not record or (len(record) == 1 and not record[0].strip())


def record_lines(src: CsvSource, width: int, *, encoding: str = "utf-8", final_newline: bool = False) -> list[int]:
    """The 1-based line on which each data record (after the header) starts, checking the whole file once.

    Every record must have the header's ``width`` fields: pandas silently drops surplus fields and pads short
    rows, which would shift values into the wrong columns or hide a cut-off file.  A quote left open (a file cut
    inside a quoted value) is refused; with ``final_newline`` the file must end with a line break (a file whose
    last row lacks one may be cut off).  Invalid bytes are reported by line and column.
    """
    lines: list[int] = []
    with src.open() as fh:
        stream = io.TextIOWrapper(fh, encoding=_py_encoding(encoding), newline="")
        reader = csv.reader(stream, strict=True)
        last = 0
        seen_header = False
        ends_with_newline = True
        try:
            for record in reader:
                start, last = last + 1, reader.line_num
                if _blank(record):
                    continue
                if not seen_header:
                    seen_header = True
                    continue
                if len(record) != width:
                    fewer = len(record) < width
                    following = any(not _blank(r) for r in reader)
                    raise DataError(src.label, f"row has {len(record)} fields but the header (line {src.header_line}) "
                                               f"has {width}: " + (
                                                   "the row is cut short" + ("" if following else
                                                                             " (the file looks cut off here)")
                                                   if fewer else "a value holds an unquoted comma")
                                    + "; restore the complete file", row=start)
                lines.append(start)
            if final_newline:
                ends_with_newline = _ends_with_newline(src)
        except UnicodeDecodeError:
            pass  # located precisely below from the raw bytes
        except csv.Error as exc:
            raise DataError(src.label, f"not a well-formed CSV ({exc}); the file is cut off inside a quoted value or "
                                       "a quote is unbalanced; restore the complete file", row=last + 1) from None
        else:
            if not ends_with_newline:
                raise DataError(src.label, "the file does not end with a line break, so its last row may be cut off; "
                                           "restore the complete file (if it is complete, end it with a line break)",
                                row=last)
            return lines
    with src.open() as fh:
        _decode(src, fh.read(), encoding)  # raises a DataError naming line and column
    raise AssertionError("unreachable")  # pragma: no cover


def _ends_with_newline(src: CsvSource) -> bool:
    with src.open() as fh:
        tail = b""
        while chunk := fh.read(1 << 16):
            tail = chunk
    return tail.endswith((b"\n", b"\r"))


def match_columns(label: str, header: Sequence[Any], required: Sequence[str], optional: Sequence[str],
                  header_line: int) -> dict[str, str]:
    """Map normalised required/optional names to the header cells as written; missing required is an error."""
    by_norm: dict[str, str] = {}
    for cell in header:
        if cell is None or str(cell).strip() == "":
            continue
        by_norm.setdefault(norm(cell), str(cell))
    missing = [name for name in required if norm(name) not in by_norm]
    if missing:
        found = ", ".join(repr(str(c)) for c in header if c is not None and str(c).strip())
        raise DataError(label, f"missing required column(s) {', '.join(repr(m) for m in missing)}; the header "
                               f"has: {found}", row=header_line, column=missing[0])
    return {norm(n): by_norm[norm(n)] for n in (*required, *optional) if norm(n) in by_norm}


def read_table(src: CsvSource, *, required: Sequence[str], optional: Sequence[str] = (), encoding: str = "utf-8",
               final_newline: bool = False) -> Table:
    """Read the needed columns of a CSV, every cell as text; the records are checked first (:func:`record_lines`)."""
    header = read_header(src, encoding)
    columns = match_columns(src.label, header, required, optional, src.header_line)
    lines = record_lines(src, len(header), encoding=encoding, final_newline=final_newline)
    if not lines:
        raise DataError(src.label, f"has a header (line {src.header_line}) but no data rows")
    usecols = list(dict.fromkeys(columns.values()))
    try:
        with src.open() as fh:
            frame = pd.read_csv(fh, encoding=_py_encoding(encoding), usecols=usecols, dtype=str,
                                keep_default_na=False, na_filter=False, skip_blank_lines=True, low_memory=False)
    except pd.errors.ParserError as exc:  # pragma: no cover - record_lines refuses such files first
        match = re.search(r"line (\d+)", str(exc))
        raise DataError(src.label, f"not a well-formed CSV ({exc}); restore the complete file",
                        row=int(match.group(1)) if match else None) from None
    if len(lines) != len(frame):  # pragma: no cover - blank-line conventions differ: fall back to record order
        lines = list(range(src.header_line + 1, src.header_line + 1 + len(frame)))
    return Table(src.label, frame, columns, src.header_line, lines.__getitem__)


class Table:
    """Parsed rows of one table plus what is needed to report errors by file line.

    ``frame`` holds the cells (columns named as in the file), ``line(i)`` the 1-based line (or spreadsheet
    row) of data row ``i``.
    """

    def __init__(self, label: str, frame: pd.DataFrame, columns: dict[str, str], header_line: int,
                 line_of: Callable[[int], int]):
        self.label = label
        self.frame = frame
        self.columns = columns  # normalised name -> name as written in the file
        self.header_line = header_line
        self._line_of = line_of

    # -- access -----------------------------------------------------------------------------------
    def has(self, name: str) -> bool:
        return norm(name) in self.columns

    def col(self, name: str) -> str:
        """The column's header as written in the file."""
        return self.columns[norm(name)]

    def raw(self, name: str, i: int) -> str:
        """The cell as written (quoted), for messages."""
        return repr(cell_text(self.frame[self.col(name)].iloc[i]))

    def line(self, i: int) -> int:
        return self._line_of(i)

    def lines(self) -> np.ndarray:
        return np.array([self._line_of(i) for i in range(len(self.frame))], dtype=int)

    def error(self, i: int, name: str, message: str) -> DataError:
        return DataError(self.label, message, row=self.line(i), column=self.col(name))

    def subset(self, keep: pd.Series) -> Table:
        """The rows where ``keep`` is true (line numbers follow the original rows)."""
        positions = np.flatnonzero(keep.to_numpy())
        frame = self.frame.iloc[positions].reset_index(drop=True)
        return Table(self.label, frame, self.columns, self.header_line, lambda i: self._line_of(int(positions[i])))

    # -- typed columns ------------------------------------------------------------------------------
    def text(self, name: str, *, required: bool = False) -> pd.Series:
        """A text column, stripped, with missing cells (:data:`MISSING_TOKENS`) as ""; ``required`` cells must
        not be missing."""
        values = self.frame[self.col(name)]
        text = values.map(cell_text).astype(object)
        text = text.mask(text.str.lower().isin(MISSING_TOKENS), "")
        if required:
            empty = text.eq("")
            if empty.any():
                i = int(np.flatnonzero(empty.to_numpy())[0])
                raise self.error(i, name, f"is empty or missing ({self.raw(name, i)}); every row needs a value here")
        return pd.Series(text.to_numpy(dtype=object), index=self.frame.index, dtype=str)

    def number(self, name: str, *, allow_missing: bool = True, nonnegative: bool = True,
               finite: bool = True) -> pd.Series:
        """A numeric column as float: missing tokens become NaN, anything else non-numeric is an error."""
        numbers, missing, unparsed = parse_numbers(self.frame[self.col(name)])
        bad = unparsed | (~missing & ~np.isfinite(numbers) if finite else unparsed)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise self.error(i, name, f"expected a number, got {self.raw(name, i)}; correct it or leave the cell "
                                      "empty (missing)")
        if not allow_missing and missing.any():
            i = int(np.flatnonzero(missing.to_numpy())[0])
            raise self.error(i, name, f"must not be blank or suppressed, got {self.raw(name, i)}")
        if nonnegative and (numbers < 0).any():
            i = int(np.flatnonzero((numbers < 0).to_numpy())[0])
            raise self.error(i, name, f"must not be negative, got {self.raw(name, i)}")
        return pd.Series(numbers.to_numpy(), index=self.frame.index, dtype=float)

    def integer(self, name: str) -> pd.Series:
        """A whole-number column as nullable ``Int64``."""
        numbers = self.number(name)
        fractional = numbers.notna() & (numbers != np.round(numbers))
        if fractional.any():
            i = int(np.flatnonzero(fractional.to_numpy())[0])
            raise self.error(i, name, f"expected a whole number, got {self.raw(name, i)}")
        return numbers.round().astype("Int64")

    def check_unique(self, key: pd.Series, name: str, message: str) -> None:
        duplicated = key.duplicated(keep="first")
        if duplicated.any():
            i = int(np.flatnonzero(duplicated.to_numpy())[0])
            first = int(np.flatnonzero(key.eq(key.iloc[i]).to_numpy())[0])
            raise self.error(i, name, f"{key.iloc[i]!r} {message} (first on line {self.line(first)})")


def finish(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The documented output columns, in order, with a fresh 0..n-1 index."""
    return frame.loc[:, list(columns)].reset_index(drop=True)

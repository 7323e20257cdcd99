"""Errors a person can act on: every data error names the file, row and column."""

from __future__ import annotations

from pathlib import Path


class SVIError(Exception):
    """Base class for SVI errors shown to users without a traceback."""


class SVIWarning(UserWarning):
    """A warning svi gives its users (e.g. an unpinned download): shown by the command line, where library
    warnings are not."""


class DataError(SVIError):
    """Bad input data.

    ``row`` is the 1-based line number in the file as a person sees it in an
    editor (the header is line 1), or ``None`` when the problem is the whole
    file; ``column`` is the column name as written in the file.
    """

    def __init__(self, file: str | Path, message: str, *, row: int | None = None,
                 column: str | None = None):
        self.file = str(file)
        self.row = row
        self.column = column
        self.message = message
        where = [f"file {self.file}"]
        if row is not None:
            where.append(f"line {row}")
        if column is not None:
            where.append(f"column '{column}'")
        super().__init__(f"{', '.join(where)}: {message}")


class ChecksumError(SVIError):
    """A downloaded or cached file does not match its pinned sha256."""


class FitMismatchError(SVIError):
    """A saved fit was made from a different config, data or code version."""


class OutputError(SVIError):
    """An output path holds something the command did not write: it refuses rather than replace it."""

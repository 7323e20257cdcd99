"""Spreadsheet readers of the one reader stack (:mod:`analysis.sources.reader`): XLSX/XLSM workbooks
(openpyxl, cached formula results) and OpenDocument spreadsheets (standard library), row by row, with row
numbers as a spreadsheet program shows them.  :func:`sheet_table` finds a sheet's header row and returns a
:class:`~analysis.sources.reader.Table`, so that cells are typed and reported exactly as for a CSV; the file
is reported as ``path [sheet 'NAME']``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pandas as pd

from analysis.errors import DataError
from analysis.sources.reader import Table, cell_text, check_file, match_columns, norm

Rows = Iterator[tuple[int, list[Any]]]  # (1-based row number, cell values)


def xlsx_rows(path: str | Path, sheet: str) -> Rows:
    """Rows of one sheet of an XLSX/XLSM workbook (cached formula results, not formulas)."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    path = Path(path)
    check_file(path)
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as exc:
        raise DataError(path, f"is not an Excel workbook (.xlsx/.xlsm) that can be read ({exc})") from None
    try:
        if sheet not in workbook.sheetnames:
            raise DataError(path, f"has no sheet '{sheet}' (sheets: {', '.join(workbook.sheetnames)})")
        for number, row in enumerate(workbook[sheet].iter_rows(values_only=True), start=1):
            yield number, list(row)
    finally:
        workbook.close()


_ODS_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_ODS_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_ODS_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"


def ods_rows(path: str | Path, sheet: str) -> Rows:
    """Rows of one sheet of an OpenDocument spreadsheet, read with the standard library.

    Handles repeated rows and cells (``number-rows-repeated`` /
    ``number-columns-repeated``), so row numbers match the spreadsheet program.
    """
    path = Path(path)
    check_file(path)
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise DataError(path, "is not an OpenDocument spreadsheet (.ods): not a ZIP archive") from None
    with archive:
        if "content.xml" not in archive.namelist():
            raise DataError(path, "is not an OpenDocument spreadsheet (.ods): no content.xml")
        names: list[str] = []
        found = False
        with archive.open("content.xml") as fh:
            try:
                row_number = 0
                in_sheet = False
                for event, element in ElementTree.iterparse(fh, events=("start", "end")):
                    if element.tag == _ODS_TABLE + "table":
                        if event == "start":
                            name = element.get(_ODS_TABLE + "name", "")
                            names.append(name)
                            in_sheet = name == sheet
                            found = found or in_sheet
                            row_number = 0
                        elif in_sheet:
                            return
                    elif event == "end" and element.tag == _ODS_TABLE + "table-row":
                        repeat = int(element.get(_ODS_TABLE + "number-rows-repeated", "1"))
                        if in_sheet:
                            cells = _ods_cells(element)
                            if any(c not in (None, "") for c in cells):
                                for _ in range(min(repeat, 10_000)):
                                    row_number += 1
                                    yield row_number, list(cells)
                            else:
                                row_number += repeat
                        element.clear()
            except ElementTree.ParseError as exc:
                raise DataError(path, f"is a damaged OpenDocument spreadsheet (content.xml: {exc})") from None
        if not found:
            raise DataError(path, f"has no sheet '{sheet}' (sheets: {', '.join(names)})")


def _ods_cells(row: ElementTree.Element) -> list[Any]:
    cells: list[Any] = []
    pending_empty = 0
    for cell in row:
        if cell.tag not in (_ODS_TABLE + "table-cell", _ODS_TABLE + "covered-table-cell"):
            continue
        repeat = int(cell.get(_ODS_TABLE + "number-columns-repeated", "1"))
        value = _ods_value(cell)
        if value is None or value == "":
            pending_empty += repeat  # trailing empty cells are never materialised
            continue
        cells.extend([None] * pending_empty)
        pending_empty = 0
        cells.extend([value] * min(repeat, 1_000))
    return cells


def _ods_value(cell: ElementTree.Element) -> Any:
    kind = cell.get(_ODS_OFFICE + "value-type")
    if kind in ("float", "percentage", "currency"):
        return float(cell.get(_ODS_OFFICE + "value", "nan"))
    if kind == "boolean":
        return cell.get(_ODS_OFFICE + "boolean-value") == "true"
    if kind == "date":
        return cell.get(_ODS_OFFICE + "date-value")
    paragraphs = [_ods_text(p) for p in cell if p.tag == _ODS_TEXT + "p"]
    return "\n".join(paragraphs) if paragraphs else None


def _ods_text(element: ElementTree.Element) -> str:
    parts = [element.text or ""]
    for child in element:
        if child.tag == _ODS_TEXT + "s":
            parts.append(" " * int(child.get(_ODS_TEXT + "c", "1")))
        elif child.tag == _ODS_TEXT + "tab":
            parts.append("\t")
        elif child.tag == _ODS_TEXT + "line-break":
            parts.append("\n")
        else:
            parts.append(_ods_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def sheet_table(rows: Rows, label: str, *, header_probe: str, required: Sequence[str],
                 optional: Sequence[str] = (), key: str, max_header_row: int = 40) -> Table:
    """Find the header row (the first row with a cell equal to ``header_probe``) and collect the data rows.

    Rows whose ``key`` cell is empty (titles, notes, totals, blank rows) are skipped.
    """
    header: list[Any] | None = None
    header_line = 0
    for number, cells in rows:
        if any(norm(c) == norm(header_probe) for c in cells if c is not None):
            header, header_line = cells, number
            break
        if number >= max_header_row:
            break
    if header is None:
        raise DataError(label, f"no header row with a '{header_probe}' column in the first {max_header_row} rows")
    columns = match_columns(label, header, required, optional, header_line)
    position = {}
    for index, cell in enumerate(header):
        if cell is not None and norm(cell) not in position:
            position[norm(cell)] = index
    key_index = position[norm(key)]
    data: list[list[Any]] = []
    lines: list[int] = []
    for number, cells in rows:
        if key_index >= len(cells) or cell_text(cells[key_index]) == "":
            continue
        data.append([cells[position[n]] if position[n] < len(cells) else None for n in columns])
        lines.append(number)
    if not data:
        raise DataError(label, f"has a header (row {header_line}) but no data rows")
    frame = pd.DataFrame(data, columns=list(columns.values()), dtype=object)
    return Table(label, frame, columns, header_line, lambda i: lines[i])

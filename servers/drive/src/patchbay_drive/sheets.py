"""Google Sheets as CSV, one per sheet.

Drive's `text/csv` export holds the first sheet only, so a spreadsheet is exported as
.xlsx and each worksheet is turned into CSV here with the standard library (zipfile and
XML). The archive is Google's, but it is still checked: its unpacked size is bounded, and
XML with a DOCTYPE (entity declarations) is refused.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from xml.etree import ElementTree

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
MAX_UNPACKED = 64 * 1024 * 1024


class BadWorkbook(ValueError):
    """The export is not a workbook this reader understands (or is too large unpacked)."""


def _xml(book: zipfile.ZipFile, name: str) -> ElementTree.Element:
    data = book.read(name)
    if b"<!DOCTYPE" in data[:2048] or b"<!ENTITY" in data:
        raise BadWorkbook(f"{name} declares entities")
    try:
        return ElementTree.fromstring(data)  # noqa: S314 - no DOCTYPE, so no entity expansion
    except ElementTree.ParseError as exc:
        raise BadWorkbook(f"{name} is not well-formed XML ({exc})") from None


def _column(reference: str | None, default: int) -> int:
    letters = re.match(r"[A-Z]+", reference or "")
    if letters is None:
        return default
    index = 0
    for char in letters.group():
        index = index * 26 + ord(char) - 64
    return index - 1


def _text(node: ElementTree.Element) -> str:
    return "".join(t.text or "" for t in node.iter(f"{_MAIN}t"))


def _rows(sheet: ElementTree.Element, shared: list[str]) -> list[list[str]]:
    rows = []
    for row in sheet.iter(f"{_MAIN}row"):
        cells: dict[int, str] = {}
        for position, cell in enumerate(row.findall(f"{_MAIN}c")):
            kind, value = cell.get("t"), cell.find(f"{_MAIN}v")
            if kind == "s" and value is not None and value.text is not None:
                text = shared[int(value.text)]
            elif kind == "inlineStr":
                text = _text(cell)
            else:
                text = value.text or "" if value is not None else ""
            cells[_column(cell.get("r"), position)] = text
        rows.append([cells.get(i, "") for i in range(max(cells) + 1)] if cells else [])
    return rows


def sheets_as_csv(data: bytes) -> list[tuple[str, str]]:
    """Each worksheet's name and its CSV, in workbook order.

    Raises:
        BadWorkbook: not an .xlsx, too large unpacked, or XML with entity declarations.
    """
    try:
        book = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise BadWorkbook("the export is not a zip archive") from None
    with book:
        if sum(info.file_size for info in book.infolist()) > MAX_UNPACKED:
            raise BadWorkbook("the workbook is too large unpacked")
        names = set(book.namelist())
        shared = []
        if "xl/sharedStrings.xml" in names:
            shared = [_text(item) for item in _xml(book, "xl/sharedStrings.xml").findall(f"{_MAIN}si")]
        rels = {
            r.get("Id"): r.get("Target", "")
            for r in _xml(book, "xl/_rels/workbook.xml.rels").iter(f"{_PKG_REL}Relationship")
        }
        found = []
        for sheet in _xml(book, "xl/workbook.xml").iter(f"{_MAIN}sheet"):
            target = rels.get(sheet.get(f"{_REL}id"), "")
            path = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\r\n").writerows(_rows(_xml(book, path), shared))
            found.append((sheet.get("name", "?"), buffer.getvalue()))
        return found

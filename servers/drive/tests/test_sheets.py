"""The .xlsx reader behind Sheets → CSV per sheet: what it refuses."""

from __future__ import annotations

import io
import zipfile

import pytest

from fake_drive import xlsx
from patchbay_drive.sheets import BadWorkbook, sheets_as_csv


def test_a_workbook_reads_sheet_by_sheet() -> None:
    assert sheets_as_csv(xlsx({"A": [["x", "1"]], "B": [["y"]]})) == [("A", "x,1\r\n"), ("B", "y\r\n")]


def test_entity_declarations_are_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx({"A": [["x"]]}))) as source, zipfile.ZipFile(buffer, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "xl/sharedStrings.xml":
                data = b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>' + data
            target.writestr(name, data)
    with pytest.raises(BadWorkbook, match="declares entities"):
        sheets_as_csv(buffer.getvalue())


def test_a_non_zip_and_a_huge_unpacked_size_are_refused() -> None:
    with pytest.raises(BadWorkbook, match="not a zip"):
        sheets_as_csv(b"<html>")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("xl/workbook.xml", b"\0" * (65 * 1024 * 1024))
    with pytest.raises(BadWorkbook, match="too large unpacked"):
        sheets_as_csv(buffer.getvalue())

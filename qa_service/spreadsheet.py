"""Cells that open in a spreadsheet as the text they are: no formula injection (CWE-1236).

Agent and team ids, notes and transcript ids come from users' files and APIs. Excel, LibreOffice and
Google Sheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return
before one) as a formula — ``=HYPERLINK(…)``, ``=cmd|' /C calc'!A0`` — when HR opens the export. In
CSV such a value gets a leading apostrophe (OWASP's advice; spreadsheets hide it and show the text);
in XLSX it is stored as a string cell, which no spreadsheet evaluates. Numbers are never touched.
"""

from __future__ import annotations

from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """The value as a CSV cell that no spreadsheet runs as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def is_formula_like(value: Any) -> bool:
    """A text that a spreadsheet would read as a formula (XLSX writers must store it as a string)."""
    return isinstance(value, str) and value.startswith(FORMULA_START)

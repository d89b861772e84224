"""KPI cells as Chinese exports write them: months and days in several formats, malformed numbers."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from openpyxl import Workbook

from qa_service.performance.kpi_files import parse_csv_text, read_kpi_file


@pytest.mark.parametrize("month", ["2026-10", "2026年10月", "2026/10", "202610", "2026.10",
                                   datetime(2026, 10, 1), datetime(2026, 10, 17)])
def test_month_column_takes_the_formats_the_day_column_does(tmp_path, month):
    wb = Workbook()
    wb.active.append(["坐席工号", "月份", "主管评分"])
    wb.active.append(["m1", month, 80])
    wb.save(tmp_path / "m.xlsx")
    [r] = read_kpi_file(tmp_path / "m.xlsx").records
    assert (r.date_from, r.date_to) == (date(2026, 10, 1), date(2026, 10, 31))


def test_period_errors_say_the_formats_not_python_internals():
    parsed = parse_csv_text("坐席工号,月份,主管评分\nm1,2026/13,80\nm2,10月,80\nm3,2026-10-32,80\n")
    problems = [e.problem for e in parsed.errors]
    assert all("isoformat" not in p and "Invalid" not in p for p in problems)
    assert problems[1].startswith("is not a period: a month (2026-10, 2026年10月, 2026/10, 202610 or a date cell)")
    assert len(problems) == 3


@pytest.mark.parametrize("value, ok", [("1,5", None), ("12,34", None), ("1,2345", None), ("1,234", 1234),
                                       ("1，234", 1234), ("12,345,678", 12345678), ("1,234.0", 1234)])
def test_commas_must_separate_groups_of_three_digits(value, ok):
    parsed = parse_csv_text(f'坐席工号,日期,接待量\nn1,2026-10-01,"{value}"\n')
    if ok is None:
        assert [e.problem.split(":")[0] for e in parsed.errors] == ["is not a number"] and not parsed.records
        assert "groups of three digits" in parsed.errors[0].problem
    else:
        assert [r.values["contacts"] for r in parsed.records] == [ok]


def test_a_doubled_percent_sign_is_refused():
    parsed = parse_csv_text("坐席工号,日期,评价数,满意度\np1,2026-10-01,10,95.5%%\np2,2026-10-01,10,95.5 %\n")
    assert [(e.line, e.problem) for e in parsed.errors] == [(2, "is not a number")]
    assert [r.values["csat_satisfied"] for r in parsed.records] == [10]


def test_a_date_with_a_midnight_time_is_the_day_another_time_is_refused():
    """Was: 2026/10/01 0:00 (a date cell Excel saved as CSV) was 'not a date'."""
    parsed = parse_csv_text("坐席工号,日期,接待量\nt1,2026/10/01 0:00,10\nt2,2026/10/2 00:00:00,1\nt3,2026/10/01 8:30,10\n")
    assert [(r.agent_id, r.date_from) for r in parsed.records] == [("t1", date(2026, 10, 1)), ("t2", date(2026, 10, 2))]
    assert [str(e) for e in parsed.errors] == [
        "line 4: date: has a time of day (8:30); a day column holds days: remove the time (got '2026/10/01 8:30')"]

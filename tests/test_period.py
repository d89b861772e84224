"""Reporting periods as HR names them: month, ISO week, quarter, day, year, FROM..TO."""

from __future__ import annotations

from datetime import date

import pytest

from qa_service.period import cut_by, parse_period


@pytest.mark.parametrize("text, start, end, label", [
    ("2026-10", date(2026, 10, 1), date(2026, 10, 31), "2026-10"),
    ("2026-2", date(2026, 2, 1), date(2026, 2, 28), "2026-02"),
    ("2028-02", date(2028, 2, 1), date(2028, 2, 29), "2028-02"),           # leap year
    ("2026-W43", date(2026, 10, 19), date(2026, 10, 25), "2026-W43"),      # ISO weeks start on Monday
    ("2026-w1", date(2025, 12, 29), date(2026, 1, 4), "2026-W01"),         # week 1 may start in December
    ("2026-Q4", date(2026, 10, 1), date(2026, 12, 31), "2026-Q4"),
    ("2026-Q1", date(2026, 1, 1), date(2026, 3, 31), "2026-Q1"),
    ("2026Q4", date(2026, 10, 1), date(2026, 12, 31), "2026-Q4"),          # as Chinese BI exports write it
    ("2026q4", date(2026, 10, 1), date(2026, 12, 31), "2026-Q4"),
    ("2026-10-05", date(2026, 10, 5), date(2026, 10, 5), "2026-10-05"),
    ("2026", date(2026, 1, 1), date(2026, 12, 31), "2026"),
    ("2026-10-01..2026-10-15", date(2026, 10, 1), date(2026, 10, 15), "2026-10-01..2026-10-15"),
])
def test_period_parses_every_format(text, start, end, label):
    p = parse_period(text)
    assert (p.start, p.end, p.label) == (start, end, label)
    assert p.days == (end - start).days + 1


@pytest.mark.parametrize("text, needle", [
    ("2026-13", "month 13"),
    ("2026-Q5", "quarter 5 is not 1–4"),
    ("2026-Q0", "quarter 0 is not 1–4"),
    ("2026Q5", "quarter 5 is not 1–4"),
    ("2026--Q4", "is not a period"),
    ("2026Q", "is not a period"),
    ("2026-W54", "week 54 is not 1–53 (ISO weeks of 2026)"),
    ("2027-W53", "week 53 is not 1–52 (ISO weeks of 2027)"),
    ("2026-W0", "week 0 is not 1–53"),
    ("2026-10-15..2026-10-01", "ends (2026-10-01) before it starts"),
    ("October", "YYYY-MM"),
    ("2026-02-30", "is not a period"),
])
def test_period_rejects_bad_labels_with_the_formats(text, needle):
    with pytest.raises(ValueError, match=None) as exc:
        parse_period(text)
    assert needle in str(exc.value)


@pytest.mark.parametrize("text", ["2026/10", "202610", "2026-02-30", "2026-10-01..2026-10-32", "x..y"])
def test_period_errors_carry_no_python_exception_text(text):
    """Was: "'2026/10' is not a period: use … (Invalid isoformat string: '2026/10')"."""
    with pytest.raises(ValueError) as exc:
        parse_period(text)
    assert str(exc.value).startswith(f"{text!r} is not a period") and "isoformat" not in str(exc.value)
    assert str(exc.value).endswith("or FROM..TO (YYYY-MM-DD..YYYY-MM-DD)")


def test_period_contains_its_days_only():
    p = parse_period("2026-W43")
    assert date(2026, 10, 19) in p and date(2026, 10, 25) in p
    assert date(2026, 10, 18) not in p and date(2026, 10, 26) not in p


@pytest.mark.parametrize("day, cut", [
    ("2026-06-02", ["2026-W23", "2026-06", "2026-Q2", "2026"]),  # a purge to 2 June takes 1 June from all four
    ("2026-06-01", ["2026-Q2", "2026"]),  # a Monday and a month's first day: the week and month go whole
    ("2026-01-01", ["2026-W01"]),  # ISO week 1 of 2026 starts on 29 December 2025
])
def test_cut_by_names_the_periods_holding_the_day_that_start_before_it(day, cut):
    assert [p.label for p in cut_by(date.fromisoformat(day))] == cut

"""Reporting periods: ``2026-10``, ``2026-W43``, ``2026-Q4`` (or ``2026Q4``, as BI exports write it), ``2026-10-05``,
``2026``, ``2026-10-01..2026-10-15``."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{1,2})$", re.I)
# The hyphen is optional: 2026Q4 / 2026q4 (Chinese BI exports) can be read as nothing else, as Q is in no other format.
_QUARTER = re.compile(r"^(\d{4})-?Q(\d{1,2})$", re.I)
_YEAR = re.compile(r"^(\d{4})$")
FORMATS = "YYYY-MM, YYYY-Www, YYYY-Qn (or YYYYQn), YYYY-MM-DD, YYYY or FROM..TO (YYYY-MM-DD..YYYY-MM-DD)"


@dataclass(frozen=True)
class Period:
    """An inclusive range of local calendar days, with the label it was asked for."""

    label: str
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end

    def bounds(self, tz: tzinfo) -> tuple[datetime, datetime]:
        """The period as instants: [first day 00:00, day after the last 00:00) in ``tz``."""
        return (datetime.combine(self.start, time.min, tz),
                datetime.combine(self.end + timedelta(days=1), time.min, tz))


EARLIEST, LATEST = 1900, 2999  # the years a period, or a conversation's time (ingest/schema.py), may fall in


def parse_period(text: str) -> Period:
    """Parse a period label.

    Raises:
        ValueError: the label matches none of the formats, names an impossible date, or lies outside
            the years 1900–2999.
    """
    try:
        period = _parse(text.strip())
    except OverflowError:
        period = None
    if period is None or period.start.year < EARLIEST or period.end.year > LATEST:
        raise ValueError(f"{text.strip()!r} is outside the supported years ({EARLIEST}–{LATEST})")
    return period


def cut_by(day: date) -> list[Period]:
    """The week, month, quarter and year that a purge of the days before ``day`` cuts into: those holding
    ``day`` that start before it (their figures and appraisals change; the periods before them go whole)."""
    iso = day.isocalendar()
    labels = (f"{iso.year}-W{iso.week:02d}", f"{day.year}-{day.month:02d}", f"{day.year}-Q{(day.month - 1) // 3 + 1}",
              str(day.year))
    return [p for p in map(_parse, labels) if p.start < day]


def _parse(s: str) -> Period:
    try:
        if ".." in s:
            a, b = (p.strip() for p in s.split("..", 1))
            start, end = date.fromisoformat(a), date.fromisoformat(b)
            if end < start:
                raise ValueError(f"{s!r}: the range ends ({end}) before it starts ({start})")
            return Period(s, start, end)
        if m := _MONTH.match(s):
            y, mo = int(m[1]), int(m[2])
            if not 1 <= mo <= 12:
                raise ValueError(f"{s!r}: month {mo} is not 1–12")
            return Period(f"{y}-{mo:02d}", date(y, mo, 1), date(y, mo, calendar.monthrange(y, mo)[1]))
        if m := _WEEK.match(s):
            y, w = int(m[1]), int(m[2])
            weeks = date(y, 12, 28).isocalendar().week  # 28 December is always in the year's last ISO week
            if not 1 <= w <= weeks:
                raise ValueError(f"{s!r}: week {w} is not 1–{weeks} (ISO weeks of {y})")
            start = date.fromisocalendar(y, w, 1)
            return Period(f"{y}-W{w:02d}", start, start + timedelta(days=6))
        if m := _QUARTER.match(s):
            y, q = int(m[1]), int(m[2])
            if not 1 <= q <= 4:
                raise ValueError(f"{s!r}: quarter {q} is not 1–4")
            last = 3 * q
            return Period(f"{y}-Q{q}", date(y, last - 2, 1), date(y, last, calendar.monthrange(y, last)[1]))
        if m := _YEAR.match(s):
            y = int(m[1])
            return Period(s, date(y, 1, 1), date(y, 12, 31))
        day = date.fromisoformat(s)
        return Period(s, day, day)
    except ValueError as exc:
        if str(exc).startswith(repr(s)):
            raise
        # Python's own text ("Invalid isoformat string") helps nobody: say what is wrong in the user's terms.
        day = r"\d{4}-\d{2}-\d{2}"
        no_such_day = " (no such day in the calendar)" if re.fullmatch(rf"{day}(\s*\.\.\s*{day})?", s) else ""
        raise ValueError(f"{s!r} is not a period{no_such_day}: use {FORMATS}") from None

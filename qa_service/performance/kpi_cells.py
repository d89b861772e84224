"""One KPI cell at a time: numbers, dates, the unit in a column's header, why a value cannot be stored, the
count a rate stands for, and the labels of a totals row."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from collections.abc import Mapping
from typing import Any

from qa_service.ingest.schema import BAD_CHARS

UNIT = re.compile(r"[（(\[【]\s*([^)）\]】]*)\s*[)）\]】]\s*$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_CN_DATE = re.compile(r"^(\d{4})\s*[年/.-]\s*(\d{1,2})\s*[月/.-]\s*(\d{1,2})\s*日?$")
_CN_MONTH = re.compile(r"^(\d{4})\s*(?:年\s*(\d{1,2})\s*月?|[/.]\s*(\d{1,2})|(\d{2}))$")
_TIME_OF_DAY = re.compile(r"^(.*?\d)\s+(\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d*)?))?$")
_GROUPED = re.compile(r"^[+-]?\d{1,3}([,，]\d{3})+(\.\d*)?$")


# Units a column's header may name, per kind of value: (units → factor to the stored unit).
TIME_UNITS = {**dict.fromkeys(("秒", "秒钟", "s", "sec", "secs", "second", "seconds"), 1.0),
              **dict.fromkeys(("分钟", "分", "min", "mins", "minute", "minutes"), 60.0),
              **dict.fromkeys(("小时", "时", "h", "hr", "hrs", "hour", "hours"), 3600.0),
              **dict.fromkeys(("毫秒", "ms"), 0.001)}
PERCENT_UNITS = {"%": 0.01, "％": 0.01, "百分比": 0.01}
COUNT_UNITS = dict.fromkeys(("个", "次", "人", "人次", "单", "条", "通", "件", "笔", "位", "户", "例", "单数"), 1.0)
MONEY_UNITS = {**dict.fromkeys(("元", "rmb", "cny", "¥", "￥"), 1.0), **dict.fromkeys(("万元", "万"), 10000.0)}
SCORE_UNITS = dict.fromkeys(("分", "points", "pts"), 1.0)


def header_unit(header: str) -> str:
    """The unit a header names: in brackets at its end (``平均首响(小时)``), or a bare trailing ``%``."""
    h = str(header).strip()
    if m := UNIT.search(h):
        return m[1].strip().lower()
    return "%" if h.endswith(("%", "％")) else ""


def column_factor(header: str, units: dict[str, float], field: str) -> float | None:
    """The factor the header's unit gives a column of ``field`` (None: the header names no unit).

    Raises:
        ValueError: a unit these values cannot be in, naming the header and the units understood.
    """
    unit = header_unit(header)
    if not unit:
        return None
    if unit not in units:
        raise ValueError(f"column {header!r}: unit {unit!r} is not understood for {field}; use one of "
                         f"{', '.join(units)}, no unit, or a mapping (--mapping, or \"mapping\" in a POST /v1/kpis "
                         "body) to read the column as another field")
    return units[unit]


@dataclass(frozen=True)
class PercentCell:
    """An XLSX number cell formatted as a percentage (``0.0%``): Excel stores 0.955 and shows 95.5%."""

    share: float
    decimals: int | None = None  # the decimals its format shows the percentage with (0.0% → 1); None: unknown

    def __str__(self) -> str:
        return f"{self.share * 100:.{self.decimals}f}%" if self.decimals is not None else f"{self.share * 100:g}%"


@dataclass(frozen=True)
class FormulaWithoutValue:
    """An XLSX cell holding a formula the file saved no result for (written by a script, never opened)."""

    formula: str


@dataclass(frozen=True)
class MergedFigure:
    """An XLSX cell of a figure column merged over the rows ``first``..``last`` (a team's 接待量 shown once
    beside its agents): whose figure it is cannot be told, so each row it covers is refused."""

    value: Any
    first: int
    last: int

    @property
    def problem(self) -> str:
        return (f"merged over lines {self.first}–{self.last}: a figure must be on one agent's row (unmerge the "
                "cell and give each agent's row its own figure)")


_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")


def clock_seconds(raw: Any) -> float | None:
    """Seconds in a duration written as a clock: ``HH:MM:SS``, ``MM:SS``, an XLSX time or duration cell;
    None when the cell is not one.

    Raises:
        ValueError: a clock with minutes or seconds of 60 or more.
    """
    if isinstance(raw, timedelta):
        return raw.total_seconds()
    if isinstance(raw, time):
        return raw.hour * 3600 + raw.minute * 60 + raw.second + raw.microsecond / 1e6
    m = _CLOCK.match(str(raw).strip()) if isinstance(raw, str) else None
    if m is None:
        return None
    hours, minutes, seconds = int(m[1] or 0), int(m[2]), float(m[3])
    if minutes >= 60 and m[1] is not None or seconds >= 60:
        raise ValueError("is not a duration (HH:MM:SS or MM:SS, minutes and seconds under 60)")
    return hours * 3600 + minutes * 60 + seconds


def parse_date(raw: Any) -> date:
    """A day: an XLSX date cell, ``YYYY-MM-DD``, ``YYYY/M/D``, ``YYYY.M.D``, ``YYYYMMDD`` or ``YYYY年M月D日``;
    a time of day after it (``2026/10/01 0:00``, what Excel writes for a date cell saved as CSV) is ignored
    when it is midnight.

    Raises:
        ValueError: not a date, or a date with a time of day other than midnight.
    """
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    s = str(raw).strip()
    if re.match(r"\d{4}-\d{2}-\d{2}[T ]", s):  # ISO with a time: the day (as before)
        return date.fromisoformat(s[:10])
    if (m := _TIME_OF_DAY.match(s)) and _CN_DATE.match(m[1].strip()):
        if int(m[2]) or int(m[3]) or float(m[4] or 0):
            raise ValueError(f"has a time of day ({m[2]}:{m[3]}); a day column holds days: remove the time")
        s = m[1].strip()
    if m := _CN_DATE.match(s):
        return date(int(m[1]), int(m[2]), int(m[3]))
    if re.fullmatch(r"\d{8}", s):
        return date(int(s[:4]), int(s[4:6]), int(s[6:]))
    return date.fromisoformat(s)


def month_label(raw: Any) -> str | None:
    """``YYYY-MM`` for a month written as ``2026年10月``, ``2026/10``, ``2026.10``, ``202610`` or an XLSX date
    cell (the month it falls in); None for anything else (left to the period parser)."""
    if isinstance(raw, (date, datetime)):
        return f"{raw.year:04d}-{raw.month:02d}"
    m = _CN_MONTH.match(str(raw).strip())
    return f"{m[1]}-{int(m[2] or m[3] or m[4]):02d}" if m else None


def number(raw: Any) -> tuple[float, bool]:
    """A number from a cell; the flag says it was written as a percentage (``95%``)."""
    if isinstance(raw, bool):
        raise ValueError("is a boolean, not a number")
    if isinstance(raw, PercentCell):
        return raw.share * 100, True
    if isinstance(raw, (int, float)):
        try:
            v = float(raw)
        except OverflowError:
            raise ValueError("is not a finite number") from None
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError("is not a finite number")
        return v, False
    s = str(raw).strip()
    pct = s.endswith(("%", "％"))
    s = s[:-1].strip() if pct else s
    if ("," in s or "，" in s) and not _GROUPED.match(s):
        raise ValueError("is not a number: a comma separates groups of three digits (1,234); "
                         "write a decimal point, not a comma (1.5)")
    s = s.replace(",", "").replace("，", "")
    if not _NUMBER.match(s):
        raise ValueError("is not a number")
    if float(s) in (float("inf"), float("-inf")):
        raise ValueError("is not a finite number")
    return float(s), pct


MAX_VALUE = 2_147_483_647  # counts are 32-bit columns; no KPI of one agent comes near it


def printable(text: str, lines: bool = False) -> bool:
    """What ingest stores (no control characters, no lone surrogates); tab and line breaks only if ``lines``."""
    return not BAD_CHARS.search(text) and (lines or not any(c in "\t\n\r" for c in text))


def value_problem(kind: str, v: float, pct: bool) -> str | None:
    """Why a KPI value of this kind cannot be stored (None: it can)."""
    if pct and kind == "rating":
        return "is a rating on 0–100 points, not a percentage: write 95, not 95%"
    if pct and kind == "score5":
        return "is a mean score on 1–5, not a percentage"
    if pct:
        return "is a count, an amount or a duration, not a percentage"
    if v < 0:
        return "must not be negative"
    if v > MAX_VALUE:
        return f"is larger than the largest value stored ({MAX_VALUE:,})"
    if kind == "int" and v != int(v):
        return "must be a whole number (a count)"
    if kind == "rating" and v > 100:
        return "must be 0–100"
    if kind == "score5" and not 1 <= v <= 5:
        return "must be 1–5"
    return None


def serial_hint(raw: Any) -> str:
    """What a 5-digit number in a date column is: Excel's day count for a date (46296 is 2026-10-01), as a
    column formatted 常规 / General shows it and saves it to CSV."""
    try:
        n = float(str(raw).strip())
    except ValueError:
        return ""
    if not (n.is_integer() and 29221 <= n <= 73050):  # 1980-01-01 … 2099-12-31
        return ""
    day = date(1899, 12, 30) + timedelta(days=int(n))
    return (f"; {int(n)} looks like an Excel date serial number ({day.isoformat()}): format the column as a date "
            "(设置单元格格式 → 日期) and save again")


# What a report's summary row says (spaces and a trailing colon aside): one of these, or a Chinese one ending
# a longer label (售后三组小计, 本页合计, Excel's 分类汇总 rows 售后四组 汇总 / 售后四组 平均值).
TOTAL_LABELS = frozenset({"total", "totals", "grandtotal", "subtotal", "sum", "average"})
TOTAL_ENDINGS = ("合计", "总计", "小计", "汇总", "总和", "平均", "平均值", "均值")


def is_total_label(cell: Any) -> bool:
    """A summary row's label (合计, 总 计：, 一组小计, Total, Average …)."""
    if not isinstance(cell, str):
        return False
    label = re.sub(r"\s+", "", cell).rstrip(":：").lower()
    return label in TOTAL_LABELS or label.endswith(TOTAL_ENDINGS)


def total_label(row: Mapping[str, Any], id_headers: list[str], agent_headers: list[str]) -> str | None:
    """The label that makes ``row`` a totals row: in its agent or team column, or — its agent column empty —
    in any column (合计 in 序号 or 姓名, or merged across them)."""
    cells = [row.get(h) for h in id_headers]
    if not any(v is not None and str(v).strip() for v in (row.get(h) for h in agent_headers)):
        cells += list(row.values())
    return next((str(c).strip() for c in cells if is_total_label(c)), None)


def rate_count(share: float, denominator: int | float) -> int:
    """The whole count a rate stands for on its row: the nearest, .5 up (50% of 13 is 7, 95% of 19 is 18).
    A rate is shown rounded (17 of 19 is 89.5%, shown 89% or 90%), so the count it came from is the nearest
    one; half up, as a reader rounds (Python's ``round`` goes to the even one: 6.5 → 6). The margin absorbs
    binary fractions (0.065 × 100 is 6.500000000000001 or 6.499999999999999)."""
    return math.floor(share * denominator + 0.5 + 1e-9)


def written_decimals(raw: Any) -> int | None:
    """How many decimals a number was written with (``95%`` 0, ``88.5%`` 1, ``0.955`` 3; a percent cell's share
    as its format shows it: ``0%`` 2, as a share), None for one in exponent notation."""
    if isinstance(raw, PercentCell) and raw.decimals is not None:
        return raw.decimals + 2
    text = repr(raw.share) if isinstance(raw, PercentCell) else repr(raw) if isinstance(raw, float) else str(raw)
    text = text.strip().rstrip("%％").strip().replace(",", "").replace("，", "")
    if "e" in text.lower():
        return None
    return len(text.partition(".")[2]) if "." in text else 0


def shows_rate(count: int, denominator: int | float, share: float, tolerance: float) -> bool:
    """Whether ``count`` of ``denominator`` shows as ``share`` at the precision written (``tolerance``: half a
    unit of its last decimal, as a share): 17 of 19 shows as 89%, nothing of 13 shows as 50%."""
    return denominator > 0 and abs(count / denominator - share) <= tolerance * (1 + 1e-9) + 1e-12


def rate_note(inexact: list[tuple[str, str]]) -> list[str]:
    """One note for every rate of an import that no whole count shows (``where``, what): none, or one line."""
    if not inexact:
        return []
    shown = "; ".join(f"{at}: {what}" for at, what in inexact[:3]) + \
        (f"; and {len(inexact) - 3} more" if len(inexact) > 3 else "")
    return [f"{len(inexact)} rate(s) match no whole count at the precision written ({shown}): a rate is turned "
            "back into a count per row, the nearest whole count (.5 up), so these rows' figures differ a little from "
            "the file's rates; check them, or give the counts (满意数, 一次解决数) to store them exactly"]

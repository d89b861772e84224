"""Operational KPI records: canonical fields, Chinese and mapped headers, row-level validation.

A record is one agent's figures for one day (``date``) or one period (``period``, e.g. a month a
BI tool exports as a whole). Counts are stored as counts, never as rates, so that any period's
ratio is a ratio of sums: FCR = Σ fcr_resolved / Σ contacts, not a mean of daily FCRs. Rates in a
file (满意度 95%, 一次解决率) are turned into counts with their denominator on the same row: the nearest whole
count, .5 up (a rate is shown rounded), and the import says which rates no whole count shows.

Files (read in ``kpi_files``): CSV or tab-separated text (UTF-8, UTF-8 with BOM, GB18030 or UTF-16),
XLSX (every sheet with an agent column, ``kpi_xlsx``), JSON (a list, or ``{"records": [...]}``) and JSONL.
A bad row is reported with its line (and sheet) and field; the good rows are kept.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml

from qa_service.performance.kpi_cells import (
    COUNT_UNITS,
    MONEY_UNITS,
    PERCENT_UNITS,
    SCORE_UNITS,
    TIME_UNITS,
    UNIT,
    FormulaWithoutValue,
    MergedFigure,
    PercentCell,
    clock_seconds,
    column_factor,
    month_label,
    number,
    parse_date,
    printable,
    rate_count,
    rate_note,
    serial_hint,
    shows_rate,
    total_label,
    value_problem,
    written_decimals,
)
from qa_service.performance.kpi_fields import (  # re-exported: the fields' home was here
    ALIASES,
    KEY_FIELDS,
    KPI_FIELDS,
    NOT_ABOVE,
    RATE_FIELDS,
    TIME_FIELDS,
    WEIGHTED_BY,
    rating_only,
)
from qa_service.period import EARLIEST, LATEST, Period, parse_period
from qa_service.text import fold_id, name_problem



class KpiFileError(ValueError):
    """The file as a whole cannot be read (no agent/date column, unknown format, unreadable bytes)."""


@dataclass(frozen=True)
class KpiRecord:
    """One agent's figures for the days ``date_from``..``date_to`` (one day for daily rows)."""

    agent_id: str
    date_from: date
    date_to: date
    team: str | None = None
    values: dict[str, float | int] = field(default_factory=dict)
    line: int = 0
    sheet: str | None = None  # the XLSX sheet the row came from, in a workbook of several sheets

    @property
    def key(self) -> tuple[str, date, date]:
        return (self.agent_id, self.date_from, self.date_to)


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    problem: str
    value: str | None = None
    sheet: str | None = None  # named in a workbook of several sheets

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "problem": self.problem, "value": self.value,
                "sheet": self.sheet}

    def __str__(self) -> str:
        shown = f" (got {self.value!r})" if self.value is not None else ""
        return f"{where(self.line, self.sheet)}: {self.field}: {self.problem}{shown}"


def where(line: int, sheet: str | None = None, label: str = "line") -> str:
    """``line 3``, or ``sheet '二组' line 3`` for a row of a workbook of several sheets."""
    return f"sheet {sheet!r} {label} {line}" if sheet is not None else f"{label} {line}"


@dataclass
class KpiParse:
    records: list[KpiRecord]
    errors: list[RowError]
    columns: dict[str, str]  # header in the file → field
    ignored_columns: list[str]
    notes: list[str] = field(default_factory=list)  # how the file was read: sheets skipped, a title row, TSV
    sheets: list[str] = field(default_factory=list)  # the XLSX sheets read, in the workbook's order
    inexact_rates: list[tuple[str, str]] = field(default_factory=list)  # (where, what): rates no count shows

    def in_order(self, errors: Iterable[RowError]) -> list[RowError]:
        """Row errors in the file's order: by sheet (as in the workbook), then line."""
        rank = {s: i for i, s in enumerate(self.sheets)}
        return sorted(errors, key=lambda e: (rank.get(e.sheet, -1), e.line))


def _key(header: str) -> str:
    h = UNIT.sub("", str(header).strip().lstrip("\ufeff")).rstrip("%％")
    return re.sub(r"[\s_\-]+", "", h).lower()


_ALIAS_INDEX = {_key(a): f for f, names in ALIASES.items() for a in (f, *names)}
for _f in (*KPI_FIELDS, *KEY_FIELDS):
    _ALIAS_INDEX[_key(_f)] = _f


def load_mapping(path: Path) -> dict[str, str]:
    """A YAML/JSON mapping ``{"their header": "canonical_field"}`` (optionally under ``columns:``)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise KpiFileError(f"{path}: the mapping is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise KpiFileError(f"{path}: not YAML/JSON ({str(exc).splitlines()[0]})") from None
    if isinstance(data, dict) and isinstance(data.get("columns"), dict):
        data = data["columns"]
    if not isinstance(data, dict):
        raise KpiFileError(f"{path}: a mapping is {{'their header': 'canonical_field', ...}}")
    problem = mapping_problem(data)
    if problem:
        raise KpiFileError(f"{path}: {problem}")
    return {str(k): str(v) for k, v in data.items()}


def mapping_problem(mapping: dict[Any, Any]) -> str | None:
    """Why a ``{their header: canonical_field}`` mapping cannot be used (a target that is no field), or None."""
    known = {*KPI_FIELDS, *RATE_FIELDS, *KEY_FIELDS}
    bad = [v for v in mapping.values() if not isinstance(v, str) or v not in known]
    if bad:
        return f"unknown target field(s) {', '.join(map(str, bad))}; known: {', '.join(sorted(known))}"
    return None


def names_agent(headers: Iterable[Any], mapping: dict[str, str] | None = None) -> bool:
    """Whether a row of cells has an agent column (it is the header row)."""
    own = {_key(k): v for k, v in (mapping or {}).items()}
    return any((own.get(_key(h)) or _ALIAS_INDEX.get(_key(h))) == "agent_id"
               for h in headers if h is not None and str(h).strip())


HEADER_SEARCH = 5  # a title row or two above the header: the header is the first of these rows naming an agent column


def header_index(rows: list[list[Any]], mapping: dict[str, str] | None) -> int | None:
    """The index of the header among the first rows: the first naming an agent column (None: none does)."""
    for i, cells in enumerate(rows[:HEADER_SEARCH]):
        if names_agent(cells, mapping):
            return i
    return None


def title_note(index: int, label: str = "line") -> str:
    above = f"the {label} above it names" if index == 1 else f"the {index} {label}s above it name"
    return f"{label} {index + 1} read as the header: {above} no agent column (a title)"


def resolve_columns(headers: Iterable[str], mapping: dict[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    """Map a file's headers to fields: the mapping first, then canonical names and aliases."""
    own = {_key(k): v for k, v in (mapping or {}).items()}
    columns, ignored, taken = {}, [], {}
    for h in headers:
        if h is None or not str(h).strip():
            continue
        f = own.get(_key(h)) or _ALIAS_INDEX.get(_key(h))
        if f is None:
            ignored.append(str(h))
            continue
        if f in taken:
            raise KpiFileError(f"columns {taken[f]!r} and {h!r} both mean {f}; keep one or map one elsewhere "
                               f"with a mapping (--mapping, or \"mapping\" in a POST /v1/kpis body)")
        taken[f] = str(h)
        columns[str(h)] = f
    fields = set(columns.values())
    if "agent_id" not in fields:
        raise KpiFileError(f"no agent column (agent_id / 坐席工号) among {list(map(str, headers))}")
    if "date" not in fields and "period" not in fields:
        raise KpiFileError(f"no date column (date / 日期, or period / 周期) among {list(map(str, headers))}")
    return columns, ignored


def id_text(raw: Any) -> str:
    """An agent id cell as text: full-width characters folded (``０００１２６`` is ``000126``: :func:`fold_id`), a
    whole number given as a float (``123.0``, a JSON number or a spreadsheet's) without its ``.0``. A number
    cell formatted with zeros (``000000``) comes padded from the XLSX reader, as Excel shows it."""
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    return fold_id(str(raw)).strip()


def _row_ids(got: dict[str, Any], err: Callable[[str, str], None]) -> tuple[str, str | None]:
    """The row's agent and team ids (text or a number, at most 200 printable characters)."""
    shapeless = {f for f in ("agent_id", "team") if f in got and isinstance(got[f][1], (list, dict, bool))}
    for f in sorted(shapeless):  # a JSON list or object: it was stored as "['x']"
        err(f, "must be text or a number")
        got.pop(f)
    agent = id_text(got["agent_id"][1]) if "agent_id" in got else ""
    if not agent and "agent_id" not in shapeless:
        err("agent_id", "is missing")
    elif agent and (len(agent) > 200 or not printable(agent)):
        err("agent_id", "must be at most 200 printable characters")
    team = str(got["team"][1]).strip() if "team" in got else None
    # A team names key scopes and XLSX sheets: no line breaks or other control characters (as keys refuse).
    problem = name_problem(team) if team else None
    if team is not None and (len(team) > 200 or problem):
        err("team", problem or "must be at most 200 printable characters")
    return agent, team


def row_problems(values: Mapping[str, float | int | None]) -> list[tuple[str, str]]:
    """(field, problem) for each count without its denominator or above it, and each mean without its weight."""
    problems = []
    for f, weight in WEIGHTED_BY.items():
        if values.get(f) is not None and values.get(weight) is None:
            problems.append((f, f"needs {weight} on the same row (a period's figure is a ratio of sums)"))
    for f, limit in NOT_ABOVE.items():
        if values.get(f) is not None and values.get(limit) is not None and values[f] > values[limit]:
            problems.append((f, f"{values[f]} is more than {limit} ({values[limit]}) on the same row"))
    return problems


def column_factors(columns: dict[str, str]) -> dict[str, float]:
    """Each value column's factor from the unit in its header: ``(分钟)`` → 60 (seconds), ``(万元)`` → 10,000,
    ``(%)`` → 0.01 (every value in a rate column is a percentage). A unit that the field's values cannot be
    in is a :class:`KpiFileError`: a column read in the wrong unit is wrong on every row."""
    factors = {}
    for header, f in columns.items():
        if f in KEY_FIELDS:
            continue  # 日期(yyyy-mm-dd), 周期(月): a note on the format, not a unit
        kind = "rate" if f in RATE_FIELDS else "time" if f in TIME_FIELDS else "money" if f == "sales_amount" \
            else KPI_FIELDS[f][0]
        units = {"rate": PERCENT_UNITS, "time": TIME_UNITS, "money": MONEY_UNITS, "int": COUNT_UNITS}.get(kind, SCORE_UNITS)
        try:
            factor = column_factor(header, units, f)
        except ValueError as exc:
            raise KpiFileError(str(exc)) from None
        if factor is not None:
            factors[header] = factor
    return factors


def _row_values(got: dict[str, Any], factors: dict[str, float], err: Callable[[str, str], None],
                inexact: list[str] | None = None) -> dict[str, float | int]:
    """The row's KPI values in stored units (rates turned into counts); problems go to ``err``, and each rate
    that no whole count of its denominator shows at the precision written to ``inexact`` (50% of 13)."""
    values: dict[str, float | int] = {}
    rates: dict[str, tuple[float, float, str, Any]] = {}  # share, the written unit as a share, header, cell
    for f, (header, raw) in got.items():
        if f in KEY_FIELDS:
            continue
        try:
            if f in TIME_FIELDS and (seconds := clock_seconds(raw)) is not None:
                values[f] = seconds  # 00:05:30 says its own unit: the header's is not applied
                continue
            v, pct = number(raw)
        except ValueError as exc:
            err(f, str(exc))
            continue
        if f in RATE_FIELDS:
            # A (%) header makes every value a percentage; else 95% or 95 is one, 0.95 a share. An XLSX cell
            # formatted as a percentage holds the share Excel shows as a percentage (0.955 shown 95.5%).
            share = raw.share if isinstance(raw, PercentCell) else v * factors[header] if header in factors \
                else v / 100 if pct or v > 1 else v
            unit = 1.0 if isinstance(raw, PercentCell) else factors.get(header, 0.01 if pct or v > 1 else 1.0)
            if not 0 <= share <= 1:
                err(f, "must be 0–100 (the column's header says %)" if header in factors
                    else "must be a share 0–1 or a percentage 0–100%")
            else:
                rates[f] = (share, unit, header, raw)
            continue
        kind = KPI_FIELDS[f][0]
        problem = value_problem(kind, v, pct)
        if problem:
            err(f, problem)
        else:
            values[f] = int(v) if kind == "int" else v * factors.get(header, 1.0)
    for rate, (share, unit, header, raw) in rates.items():
        count, denominator = RATE_FIELDS[rate]
        if count in values:
            continue  # the count itself is given: it wins over the rounded rate
        if denominator not in values:
            err(rate, f"a rate needs {denominator} on the same row to be summed correctly over a period")
            continue
        whole, n = values[denominator], rate_count(share, values[denominator])
        values[count] = n
        decimals = written_decimals(raw)
        if inexact is not None and whole and decimals is not None \
                and not shows_rate(n, whole, share, 0.5 * 10 ** -decimals * unit):
            of = got[denominator][0] if denominator in got else denominator
            inexact.append(f"{header} {str(raw).strip()} of {of} {whole:g} → {n} ({n / whole:.1%})")
    return values


def _row_days(got: dict[str, Any], err: Callable[[str, str], None]) -> tuple[date | None, date | None]:
    """The row's first and last day, from its ``date`` or its ``period``. A row naming both is the day when
    the day falls in the period (a daily export with a 月份 column as well: the day is the more precise);
    a day outside it is refused, naming both — keeping either silently would file the figures under days
    the file's author did not mean."""
    days = period = None
    if "date" in got:
        try:
            day = parse_date(got["date"][1])
        except ValueError as exc:
            err("date", str(exc) if str(exc).startswith("has a time") else
                "is not a date (YYYY-MM-DD, YYYY/M/D, YYYYMMDD or YYYY年M月D日)" + serial_hint(got["date"][1]))
        else:
            days = (day, day)
            if not EARLIEST <= day.year <= LATEST:  # no period could ever reach the row
                err("date", f"is outside the supported years ({EARLIEST}–{LATEST})")
    if "period" in got:
        raw = got["period"][1]
        try:
            p: Period = parse_period(month_label(raw) or str(raw))
            period = (p.start, p.end)
        except ValueError as exc:
            err("period", str(exc) if str(exc).startswith(f"{str(raw).strip()!r}:") else  # 2026-13: month 13 …
                "is not a period: a month (2026-10, 2026年10月, 2026/10, 202610 or a date cell), 2026-W43, "
                "2026-Q4 (or 2026Q4), 2026, a day or FROM..TO (2026-10-01..2026-10-15)" + serial_hint(raw))
    if "date" not in got and "period" not in got:
        err("date", "is missing (a date, or a period such as 2026-10)")
    if days and period and not period[0] <= days[0] <= period[1]:
        err("period", f"is {days_label(*period)} but date is {days[0].isoformat()}, outside it, on the same "
                      "row; a row is one day (date) or one period (period): fix one, or keep one")
    return days or period or (None, None)


def parse_row(line: int, row: dict[str, Any], columns: dict[str, str], factors: dict[str, float],
              sheet: str | None = None, inexact: list[str] | None = None) -> tuple[KpiRecord | None, list[RowError]]:
    """Validate one row; a row with any error is rejected whole (its errors say why). ``inexact`` collects
    the row's rates that no whole count shows (``_row_values``)."""
    errors: list[RowError] = []
    got: dict[str, Any] = {}
    for header, f in columns.items():
        raw = row.get(header)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        got[f] = (header, raw)

    def err(f: str, problem: str) -> None:
        raw = got.get(f, (None, None))[1]
        errors.append(RowError(line, f, problem, None if raw is None else str(raw)[:100], sheet))

    for f in [f for f, (_, raw) in got.items() if isinstance(raw, FormulaWithoutValue)]:
        errors.append(RowError(line, f, "is a formula without a saved value; open and save the file in Excel or "
                                        "WPS, or export values only", got.pop(f)[1].formula[:100], sheet))

    for f in [f for f, (_, raw) in got.items() if isinstance(raw, MergedFigure)]:
        cell = got.pop(f)[1]
        errors.append(RowError(line, f, cell.problem, str(cell.value)[:100], sheet))

    agent, team = _row_ids(got, err)
    start, end = _row_days(got, err)

    values = _row_values(got, factors, err, inexact)
    for f, problem in row_problems(values):
        err(f, problem)
    if errors:
        return None, errors
    return KpiRecord(agent, start, end, team or None, values, line, sheet), []


def days_label(start: date, end: date) -> str:
    """``2026-09-01`` for one day, ``2026-09-01..2026-09-30`` for a range."""
    return start.isoformat() if start == end else f"{start.isoformat()}..{end.isoformat()}"


def range_field(record: KpiRecord) -> str:
    """The column a record's days came from, as row errors name it."""
    return "date" if record.date_from == record.date_to else "period"


def _overlap(spans: list[tuple[date, date, str]], start: date, end: date) -> tuple[date, date, str] | None:
    """The accepted span (from, to, where) that shares a day with start..end; ``spans`` is sorted and disjoint,
    so only the neighbours of the insertion point can."""
    i = bisect.bisect_left(spans, start, key=lambda s: s[0])
    for s in spans[max(i - 1, 0): i + 1]:
        if s[0] <= end and s[1] >= start:
            return s
    return None


Spans = dict[str, list[tuple[date, date, str]]]  # per agent: the days of the rows accepted, sorted, disjoint


@dataclass
class Accepted:
    """The days of the rows accepted so far from one file (a workbook's sheets are one file): ``spans`` per
    agent, of the rows with a summed figure (sorted, disjoint); ``exact`` every accepted record's days by key,
    rows of ratings alone too (a duplicate of those is still a duplicate)."""

    spans: Spans = field(default_factory=lambda: defaultdict(list))
    exact: dict[tuple[str, date, date], tuple[date, date, str]] = field(default_factory=dict)
    cells: dict[tuple[str, date, date], dict[str, Any]] = field(default_factory=dict)  # by key: the row as written


def _written(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row's non-blank cells (text without its edge spaces), to tell a row repeated exactly."""
    return {h: v.strip() if isinstance(v, str) else v for h, v in row.items() if v is not None and str(v).strip()}


def parse_rows(rows: Iterable[tuple[int, dict[str, Any]]], headers: list[str],
               mapping: dict[str, str] | None = None, *, label: str = "line", sheet: str | None = None,
               accepted: Accepted | None = None, summary: bool = True) -> KpiParse:
    """Validate rows (line number, {header: cell}). Rows of one agent may not share a day: the same days
    twice is a duplicate, a month next to its days an overlap (either would count twice); both are row
    errors on the later line, naming the earlier one as ``{label} N`` — but a row the same as the earlier one
    in every column (exported twice) is skipped with a note: it says nothing the first did not. A row of ratings alone overlaps freely
    (ratings are averaged, not summed), but is still a duplicate of a row over the same days. ``accepted``
    carries the rows accepted from the sheets read before (a workbook's sheets are one file), the rows of
    ratings alone too: the same agent and days on two sheets is a duplicate whichever sheet comes first.
    ``summary``: end the notes with the one line on rates no whole count shows (``rate_note``); a workbook's
    reader says it once for all its sheets instead."""
    columns, ignored = resolve_columns(headers, mapping)
    factors = column_factors(columns)
    records, errors = [], []
    accepted = Accepted() if accepted is None else accepted
    spans, exact = accepted.spans, accepted.exact
    id_headers = [h for h, f in columns.items() if f in ("agent_id", "team")]
    agent_headers = [h for h, f in columns.items() if f == "agent_id"]
    notes: list[str] = []
    inexact: list[tuple[str, str]] = []
    for line, row in rows:
        if not any(v is not None and str(v).strip() for v in row.values()):
            continue  # blank line
        total = total_label(row, id_headers, agent_headers)
        if total is not None:  # Excel's 合计 / 平均 row under the agents: a sum of them, not an agent
            notes.append(f"skipped {where(line, sheet, label)}: a totals row ({total}), not an agent")
            continue
        record, errs = parse_row(line, row, columns, factors, sheet, row_rates := [])
        clash = _overlap(spans[record.agent_id], record.date_from, record.date_to) if record else None
        clash = exact.get(record.key, clash) if record else None
        if clash is not None and clash[:2] != (record.date_from, record.date_to) and rating_only(record.values):
            clash = None
        if record is not None and clash is not None:
            days = days_label(record.date_from, record.date_to)
            if clash[:2] == (record.date_from, record.date_to) and accepted.cells.get(record.key) == _written(row):
                notes.append(f"skipped {where(line, sheet, label)}: the same as {clash[2]} in every column (a row "
                             "exported twice)")
                continue
            if clash[:2] == (record.date_from, record.date_to):
                problem = f"duplicate of {clash[2]} for agent {record.agent_id} ({days}); one row per agent and day"
            else:
                problem = (f"overlaps {clash[2]} ({days_label(clash[0], clash[1])}) for agent {record.agent_id}: "
                           f"{days} would count those days twice; import one granularity (days or whole periods)")
            errs, record = [RowError(line, range_field(record), problem, sheet=sheet)], None
        errors.extend(errs)
        if record is not None:
            at = where(line, sheet, label)
            exact[record.key], accepted.cells[record.key] = (record.date_from, record.date_to, at), _written(row)
            if not rating_only(record.values):  # spans stay disjoint: rating-only rows never clash but as duplicates
                bisect.insort(spans[record.agent_id], (record.date_from, record.date_to, at), key=lambda s: s[0])
            records.append(record)
            inexact += [(at, what) for what in row_rates]
    return KpiParse(records, errors, columns, ignored, notes + (rate_note(inexact) if summary else []),
                    inexact_rates=inexact)


def parse_records(items: list[Any], mapping: dict[str, str] | None = None, *, first_line: int = 1,
                  label: str = "line") -> KpiParse:
    """JSON objects (one per record); ``line`` is the item's position, counting from ``first_line``."""
    headers: list[str] = []
    for item in items:
        if isinstance(item, dict):
            headers.extend(k for k in item if k not in headers)
    rows, errors = [], []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(RowError(i + first_line, "record", "must be an object of field: value"))
            continue
        rows.append((i + first_line, item))
    result = parse_rows(rows, headers, mapping, label=label)
    result.errors[:0] = errors
    return result

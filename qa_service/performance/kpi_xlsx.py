"""KPI workbooks (XLSX) read as Excel shows them: every sheet with an agent column, a merged key cell's value
(agent, team, date, period) on every row it covers and a merged figure refused on each, a percent-formatted
cell as the percentage shown, a whole number formatted with zeros (``000000``) as the padded text shown
(工号 000123), a formula without a saved result named as such.

The workbook is streamed (openpyxl's read-only mode), so memory does not grow with the rows. Read-only mode
does not expose merged ranges; they are read from the ``<mergeCells>`` element that follows a sheet's rows,
scanning the sheet's XML once more without keeping it (the merges alone are kept).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import IO, Any, Iterator

from qa_service.performance.kpi import (
    HEADER_SEARCH,
    KEY_FIELDS,
    Accepted,
    KpiFileError,
    KpiParse,
    header_index,
    parse_rows,
    resolve_columns,
    title_note,
)
from qa_service.performance.kpi_cells import FormulaWithoutValue, MergedFigure, PercentCell, rate_note

_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*?\bref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"')
_MERGES_START = re.compile(rb"<(?:\w+:)?mergeCells\b")
_QUOTED = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]')  # literal text, escaped characters, [colour]/[>=100] sections

Merge = tuple[int, int, int, int]  # first row, last row, column (1-based), of the merged range's first column


def is_percent_format(number_format: str | None) -> bool:
    """A number format that shows a value ×100 with a % sign (``0%``, ``0.0%``); a quoted ``"%"`` does not."""
    return bool(number_format) and "%" in _QUOTED.sub("", str(number_format))


def percent_decimals(number_format: str | None) -> int:
    """The decimals a percentage format shows (``0%`` 0, ``0.00%`` 2)."""
    m = re.search(r"\.([0#?]+)", _QUOTED.sub("", str(number_format or "")).split(";")[0])
    return len(m[1]) if m else 0


_ZEROS = re.compile(r"^0+$")


def zero_pad_width(number_format: str | None) -> int | None:
    """The digits a number format of zeros alone pads to (``000000`` → 6: 123 shows as 000123, how a 工号
    column keeps its leading zeros); None for any other format."""
    first = str(number_format or "").split(";")[0].strip()  # the section positive numbers are shown with
    return len(first) if _ZEROS.match(first) else None


def _shown(v: int | float, style: Any, cell: Any, looks: dict[Any, tuple[int | None, int | None]]) -> Any:
    """A number cell as Excel shows it where that differs from the number: a percentage as a
    :class:`PercentCell`, a whole number under a format of zeros (``000000``) as the padded text."""
    if style not in looks:  # looked up once per cell style
        fmt = cell.number_format
        looks[style] = (percent_decimals(fmt) if is_percent_format(fmt) else None, zero_pad_width(fmt))
    decimals, width = looks[style]
    if decimals is not None:
        return PercentCell(float(v), decimals)
    if width is not None and float(v).is_integer() and v >= 0:
        return str(int(v)).zfill(width)
    return v


def _column(letters: bytes) -> int:
    n = 0
    for c in letters:
        n = n * 26 + c - 64
    return n


def sheet_merges(ws: Any) -> list[Merge]:
    """The merged ranges of a read-only sheet that span rows, by first row: scanned from the end of the
    sheet's XML in 1 MiB chunks (the rows before ``<mergeCells>`` are not kept)."""
    path, archive = getattr(ws, "_worksheet_path", None), getattr(ws.parent, "_archive", None)
    if path is None or archive is None:
        return []
    found, tail = b"", b""
    with archive.open(path) as xml:
        while chunk := xml.read(1 << 20):
            if found:
                found += chunk
                continue
            buf = tail + chunk
            m = _MERGES_START.search(buf)
            if m:
                found = buf[m.start():]
            else:
                tail = buf[-32:]
    merges = []
    for a, r1, _b, r2 in _MERGE.findall(found):
        if r2 and int(r2) > int(r1):
            merges.append((int(r1), int(r2), _column(a)))
    return sorted(merges)


def merge_kinds(headers: list[str], mapping: dict[str, str] | None) -> dict[int, str]:
    """Column (1-based) → ``key`` (agent, team, date, period: a merged one names every row it covers) or
    ``figure`` (a KPI: a merged one is no agent's alone); other columns are not read."""
    try:
        columns, _ = resolve_columns(headers, mapping)
    except KpiFileError:
        return {}  # parse_rows says why
    return {i: "key" if columns[h] in KEY_FIELDS else "figure"
            for i, h in enumerate(headers, start=1) if h in columns}


def _fill_merges(rows: Iterator[tuple[int, list[Any]]], merges: list[Merge], kinds: dict[int, str]
                 ) -> Iterator[tuple[int, list[Any]]]:
    """Rows with each merged range's value (its top cell's) in its first column on every row it covers, in a
    key column; in a figure column a :class:`MergedFigure` on every row it covers (each refused), unless
    the merged cell is empty. Merges in other columns are left as they are."""
    i, active = 0, []  # active: (last row, column, value)
    for n, cells in rows:
        active = [a for a in active if a[0] >= n]
        while i < len(merges) and merges[i][0] <= n:
            first, last, col = merges[i]
            i += 1
            value = cells[col - 1] if col <= len(cells) else None
            if first == n and col in kinds and value is not None:
                active.append((last, col, value if kinds[col] == "key" else MergedFigure(value, first, last)))
        for last, col, value in active:
            cells.extend([None] * (col - len(cells)))
            cells[col - 1] = value
        yield n, cells


def _sheet_rows(ws: Any, formulas_ws: Any) -> Iterator[tuple[int, list[Any]]]:
    """(row number, cells): numbers as Excel shows them (:func:`_shown`: percentages, zero-padded ids),
    formulas without a saved result as :class:`FormulaWithoutValue`."""
    written = formulas_ws.iter_rows(values_only=True)
    looks: dict[Any, tuple[int | None, int | None]] = {}  # per cell style: (percentage decimals, zero-pad width)
    for n, (cells, source) in enumerate(itertools.zip_longest(ws.iter_rows(), written, fillvalue=()), start=1):
        out = []
        for c, f in itertools.zip_longest(cells, source):
            v = getattr(c, "value", None)
            if v is None and isinstance(f, str) and f.startswith("="):
                v = FormulaWithoutValue(f)
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                v = _shown(v, getattr(c, "_style_id", None), c, looks)
            out.append(v)
        yield n, out


def _open(source: Path | IO[bytes], data_only: bool) -> Any:
    from openpyxl import load_workbook

    if hasattr(source, "seek"):
        source.seek(0)
    return load_workbook(source, read_only=True, data_only=data_only)


def read_xlsx(source: Path | IO[bytes], mapping: dict[str, str] | None, *, sheet: str | None = None) -> KpiParse:
    """Every sheet whose header row (the first of its first rows naming an agent column) has one, or only
    ``sheet``; the others are skipped with a note. Row errors name the sheet in a workbook of several."""
    try:
        # The saved results, and the formulas: a formula cell whose result was never saved reads as empty.
        wb = _open(source, True)
        formulas = _open(source, False)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException
        raise KpiFileError(f"not a readable XLSX workbook ({exc})") from None
    try:
        names = wb.sheetnames
        if sheet is not None and sheet not in names:
            raise KpiFileError(f"no sheet {sheet!r} in the workbook; its sheets: {', '.join(map(repr, names))}")
        result = KpiParse([], [], {}, [])
        accepted = Accepted()  # the rows of every sheet read so far: the workbook is one file
        skipped = []
        for name in [sheet] if sheet is not None else names:
            label = name if len(names) > 1 else None
            got = _read_sheet(wb[name], formulas[name], mapping, label, accepted,
                              required=sheet is not None or len(names) == 1)
            if got is None:
                skipped.append(name)
                continue
            result.records += got.records
            result.errors += got.errors
            result.columns.update(got.columns)
            result.ignored_columns += [c for c in got.ignored_columns if c not in result.ignored_columns]
            result.notes += got.notes
            result.inexact_rates += got.inexact_rates
            result.sheets.append(name)
    finally:
        wb.close()
        formulas.close()
    if len(skipped) == len(names):
        raise KpiFileError(f"no sheet has an agent column (agent_id / 坐席工号) in its first {HEADER_SEARCH} rows "
                           f"(sheets: {', '.join(map(repr, names))})")
    result.notes[:0] = [f"skipped sheet {name!r}: no agent column" for name in skipped]
    result.notes += rate_note(result.inexact_rates)  # once for the workbook
    return result


def _read_sheet(ws: Any, formulas_ws: Any, mapping: dict[str, str] | None, label: str | None, accepted: Accepted,
                required: bool) -> KpiParse | None:
    """One sheet's rows (None: the sheet has no agent column, and was not asked for by name)."""
    merges = sheet_merges(ws)
    rows = _sheet_rows(ws, formulas_ws)
    head = list(itertools.islice(rows, HEADER_SEARCH))
    index = header_index([cells for _, cells in head], mapping)
    if index is None and not required:
        return None
    index = index or 0
    if not head:
        raise KpiFileError(f"sheet {ws.title!r} is empty")
    headers = [str(h) if h is not None else "" for h in head[index][1]]
    filled = _fill_merges(itertools.chain(head, rows), merges, merge_kinds(headers, mapping))
    body = itertools.islice(filled, index + 1, None)
    try:
        parsed = parse_rows(((n, dict(zip(headers, cells))) for n, cells in body), headers, mapping,
                            sheet=label, accepted=accepted, summary=False)
    except KpiFileError as exc:
        raise KpiFileError(f"sheet {ws.title!r}: {exc}") from None
    if index:
        parsed.notes.append(f"sheet {ws.title!r}: {title_note(index, 'row')}")
    return parsed

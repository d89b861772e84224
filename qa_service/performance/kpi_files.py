"""KPI files as a whole: which format the bytes are (XLSX, legacy XLS, UTF-8 / GB18030 / UTF-16 text, JSON,
JSONL), which separator a text file uses, and which of its first rows is the header.

A file whose format cannot be read is refused with what to do instead (save as .xlsx or CSV), never with a
decoding error about a byte position.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from qa_service.performance.kpi import (
    HEADER_SEARCH,
    KpiFileError,
    KpiParse,
    RowError,
    header_index,
    parse_records,
    parse_rows,
    title_note,
)
from qa_service.text import decode_file_text

ZIP_MAGIC = b"PK\x03\x04"  # XLSX is a ZIP archive
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls (and other Office 97–2003 files)
# (not application/vnd.ms-excel: Windows gives a .csv that type; an XLSX body is told by its ZIP signature too)
XLSX_TYPES = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",)
# Charsets a Chinese Windows export declares; GB18030 reads all of them (GBK and GB2312 are its subsets).
_GB = {"gbk", "gb2312", "gb18030", "cp936", "ms936", "x-gbk", "euc-cn"}


def decode_text(data: bytes, charset: str | None = None) -> str:
    """The text of a CSV/JSON file: a declared charset, else UTF-8 (with or without a BOM), else GB18030;
    UTF-16 with its BOM (Excel's "Unicode 文本"). A workbook or other binary file is refused saying what to do.

    Raises:
        KpiFileError: an XLS workbook, bytes the charset cannot decode, an unknown charset.
    """
    if data.startswith(OLE_MAGIC):
        raise KpiFileError("this is a legacy Excel workbook (.xls), which cannot be read: save it as .xlsx "
                           "(Excel: 文件 → 另存为 → Excel 工作簿), or as CSV UTF-8")
    if data.startswith(ZIP_MAGIC):
        raise KpiFileError("this is an XLSX workbook (a ZIP archive), not text")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")  # the BOM says which byte order
        except UnicodeDecodeError:
            raise KpiFileError("the file starts as UTF-16 text but is not valid UTF-16; save it as .xlsx or "
                               "CSV (UTF-8)") from None
    if charset and charset.strip().strip('"').lower() not in ("utf-8", "utf8"):
        name = charset.strip().strip('"').lower()
        try:
            return data.decode("gb18030" if name in _GB else name).lstrip("\ufeff")
        except LookupError:
            raise KpiFileError(f"unknown charset {charset!r}; send UTF-8 or GB18030 (GBK)") from None
        except UnicodeDecodeError as exc:
            raise KpiFileError(f"the text is not valid {charset} (byte at position {exc.start}); "
                               "save it as .xlsx or CSV (UTF-8)") from None
    try:
        return decode_file_text(data)
    except UnicodeDecodeError:
        raise KpiFileError("the file is neither UTF-8 nor GB18030 text; save it as .xlsx or CSV (UTF-8)") from None


def sniff_delimiter(lines: list[str]) -> str:
    """Comma, tab (Excel's "文本文件(制表符分隔)") or semicolon: the one the first lines hold most of."""
    counts = {d: sum(line.count(d) for line in lines) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: counts[d])  # a tie keeps the comma
    return best if counts[best] else ","


def parse_csv_text(text: str, mapping: dict[str, str] | None = None) -> KpiParse:
    """CSV text, or tab- or semicolon-separated (the separator read from the first lines); a title line or
    two above the header are skipped, with a note."""
    text = text.lstrip("\ufeff")
    delimiter = sniff_delimiter(text[:20_000].splitlines()[:HEADER_SEARCH])
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    head: list[tuple[int, list[str]]] = []
    try:
        for cells in reader:
            head.append((reader.line_num, cells))
            if len(head) == HEADER_SEARCH:
                break
    except csv.Error as exc:
        raise KpiFileError(f"line {reader.line_num}: not readable CSV ({exc})") from None
    if not head:
        raise KpiFileError("the file is empty")
    index = header_index([cells for _, cells in head], mapping) or 0
    headers = head[index][1]

    def rows():
        yield from ((n, dict(zip(headers, cells))) for n, cells in head[index + 1:])
        try:
            for cells in reader:
                # csv.reader counts physical lines, so quoted newlines keep the numbers right.
                yield reader.line_num, dict(zip(headers, cells))
        except csv.Error as exc:  # a field over csv's size limit, a NUL byte …
            raise KpiFileError(f"line {reader.line_num}: not readable CSV ({exc})") from None

    parsed = parse_rows(rows(), headers, mapping)
    parsed.notes += [note for note in (
        {"\t": "read as tab-separated text", ";": "read as semicolon-separated text"}.get(delimiter),
        title_note(head[index][0] - 1) if index else None) if note]
    return parsed


def parse_json_lines(text: str, mapping: dict[str, str] | None) -> KpiParse:
    items = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                items.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise KpiFileError(f"line {n}: not JSON ({exc.msg})") from None
    headers = [k for _, item in items if isinstance(item, dict) for k in item]
    result = parse_rows([(n, i) for n, i in items if isinstance(i, dict)], list(dict.fromkeys(headers)), mapping)
    result.errors[:0] = [RowError(n, "record", "must be an object of field: value")
                         for n, i in items if not isinstance(i, dict)]  # listed, never dropped unsaid
    return result


def parse_json_text(text: str, mapping: dict[str, str] | None) -> KpiParse:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KpiFileError(f"not JSON: {exc.msg} at line {exc.lineno}") from None
    if isinstance(data, dict) and isinstance(data.get("records"), list):
        data = data["records"]
    if not isinstance(data, list):
        raise KpiFileError('JSON KPIs are a list of records, or {"records": [...]}')
    return parse_records(data, mapping)


def read_kpi_bytes(data: bytes, suffix: str = ".csv", mapping: dict[str, str] | None = None, *,
                   charset: str | None = None, sheet: str | None = None) -> KpiParse:
    """A KPI file's bytes: an XLSX workbook whatever its name says (its ZIP signature), else text read by
    ``suffix`` (.json, .jsonl, anything else CSV/TSV)."""
    if data.startswith(ZIP_MAGIC):
        from qa_service.performance.kpi_xlsx import read_xlsx

        return read_xlsx(io.BytesIO(data), mapping, sheet=sheet)
    if sheet is not None:
        raise KpiFileError(f"--sheet {sheet!r}: the file is not an XLSX workbook, it has no sheets")
    text = decode_text(data, charset)
    if suffix == ".jsonl":
        return parse_json_lines(text, mapping)
    if suffix == ".json":
        return parse_json_text(text, mapping)
    return parse_csv_text(text, mapping)


def read_kpi_file(path: Path, mapping: dict[str, str] | None = None, *, sheet: str | None = None) -> KpiParse:
    """Read XLSX (every sheet with an agent column, or ``sheet``), CSV/TSV, JSON or JSONL."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        from qa_service.performance.kpi_xlsx import read_xlsx

        return read_xlsx(path, mapping, sheet=sheet)
    return read_kpi_bytes(path.read_bytes(), suffix, mapping, sheet=sheet)

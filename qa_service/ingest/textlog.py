"""Read the transcript forms QA teams have at hand into the API's JSON shape.

* the plain text log they paste: ``客服：…`` / ``客户：…`` / ``坐席:`` / ``用户:`` lines
  (a line without a speaker prefix continues the previous utterance);
* JSON Lines in the API shape, or in the ``{"id", "source", "turns": [...]}`` shape of
  the public dialogue corpora.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qa_service.errors import TextLogError
from qa_service.text import decode_file_text

SPEAKER_ROLES = {
    "客服": "agent", "坐席": "agent", "座席": "agent", "人工客服": "agent", "服务人员": "agent", "agent": "agent",
    "客户": "customer", "用户": "customer", "顾客": "customer", "来电人": "customer", "customer": "customer",
    "机器人": "bot", "智能客服": "bot", "bot": "bot",
    "系统": "system", "system": "system",
}
# Optional [09:30:01] / 09:30:01 time before or after the speaker; full- or half-width colon.
_LINE = re.compile(
    r"^\s*(?:\[?(?P<t1>\d{1,2}:\d{2}(?::\d{2})?)\]?\s*)?"
    r"(?P<speaker>" + "|".join(sorted(map(re.escape, SPEAKER_ROLES), key=len, reverse=True)) + r")"
    r"\s*(?:\[?(?P<t2>\d{1,2}:\d{2}(?::\d{2})?)\]?\s*)?[：:]\s*(?P<text>.*)$",
    re.IGNORECASE,
)


def _ms(stamp: str | None) -> int | None:
    if not stamp:
        return None
    parts = [int(p) for p in stamp.split(":")]
    if len(parts) == 2:
        parts = [0, *parts]
    h, m, s = parts
    return ((h * 60 + m) * 60 + s) * 1000


def parse_text_log(text: str) -> list[dict[str, Any]]:
    """Utterances from a pasted log; raises TextLogError naming the first line it cannot place."""
    utterances: list[dict[str, Any]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        m = _LINE.match(line)
        if m:
            u: dict[str, Any] = {"role": SPEAKER_ROLES[m.group("speaker").lower()], "text": m.group("text").strip()}
            ms = _ms(m.group("t1") or m.group("t2"))
            if ms is not None:
                u["start_ms"] = ms
            utterances.append(u)
        elif utterances:
            utterances[-1]["text"] = (utterances[-1]["text"] + "\n" + line.strip()).strip()
        else:
            raise TextLogError(
                f"line {lineno}: no speaker prefix such as 客服： or 客户： before the first utterance: {line[:40]!r}"
            )
    utterances = [u for u in utterances if u["text"]]
    if not utterances:
        raise TextLogError("no utterances found: expected lines like '客服：您好' and '客户：我的快递没到'")
    return utterances


def from_corpus_record(record: dict[str, Any]) -> dict[str, Any]:
    """A ``{"id", "source", "turns"}`` corpus record in the API shape (empty turns dropped)."""
    utterances = [
        {"role": t["role"], "text": t["text"]} for t in record.get("turns", []) if (t.get("text") or "").strip()
    ]
    out = {"source": record.get("source", "import"), "external_id": str(record["id"]), "utterances": utterances}
    for key in ("channel", "agent_id", "team", "queue", "scenario", "started_at"):
        if record.get(key) is not None:
            out[key] = record[key]
    if record.get("meta"):
        out["metadata"] = {k: v for k, v in record["meta"].items() if isinstance(v, (str, int, float, bool))}
    return out


def read_records(path: Path, *, source: str = "import", external_id: str | None = None
                 ) -> Iterator[tuple[str, dict[str, Any] | str]]:
    """(where, transcript dict) for each transcript of a file, or (where, problem) for an entry that is not
    one; ``where`` is "line N" (JSONL), "item N" (a .json document: the API's batch body
    ``{"transcripts": [...]}``, a list, or one transcript) or "line 1" (a plain-text log). Raises
    TextLogError for a file that is neither UTF-8 nor GB18030, or a text log that cannot be parsed."""
    try:
        text = decode_file_text(path.read_bytes())
    except UnicodeDecodeError as exc:
        raise TextLogError(f"{path} is neither UTF-8 nor GB18030 text: byte {exc.start} does not decode") from None
    stripped = text.lstrip()
    if path.suffix == ".json" and stripped[:1] in ("{", "["):
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            document = None  # JSON Lines under a .json name: read line by line below
        if isinstance(document, dict) and isinstance(document.get("transcripts"), list):
            document = document["transcripts"]
        if isinstance(document, dict) and "utterances" in document:
            document = [document]
        if isinstance(document, list):
            for n, item in enumerate(document, start=1):
                yield f"item {n}", _record(json.dumps(item, ensure_ascii=False))
            return
    if path.suffix in (".jsonl", ".json") or stripped.startswith("{"):
        for lineno, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                yield f"line {lineno}", _record(line)
        return
    yield "line 1", {"source": source, "external_id": external_id or path.stem, "channel": "chat",
                     "utterances": parse_text_log(text)}


def _record(line: str) -> dict[str, Any] | str:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not valid JSON: {exc.msg}"
    if not isinstance(record, dict):
        return f"a line is one JSON object (a transcript), not {type(record).__name__}"
    if "utterances" in record:
        return record
    if "id" not in record or not isinstance(record.get("turns", []), list):
        return 'neither a transcript ("utterances") nor a corpus record ("id" and a list of "turns")'
    try:
        return from_corpus_record(record)
    except (KeyError, TypeError, AttributeError) as exc:
        return f"a corpus record's turns are objects with \"role\" and \"text\" ({type(exc).__name__}: {exc})"


def read_transcripts(path: Path, *, source: str = "import", external_id: str | None = None) -> Iterator[dict[str, Any]]:
    """Transcript dicts from a JSONL file (API or corpus shape) or one plain-text log; raises TextLogError
    naming the first line that is not a transcript."""
    for where, record in read_records(path, source=source, external_id=external_id):
        if isinstance(record, str):
            raise TextLogError(f"{path}:{where.split()[-1]} ({where}): {record}")
        yield record

"""The label format (one JSON object per conversation) and the QA items read off a label.

A label line (the golden set's, or a QA team's own) follows ``data/golden/GUIDE.md``::

    {"id": "...", "greeting": true, "closing": false, "apology_turns": [3],
     "rude": [{"turn": 5, "quote": "..."}],
     "objections": [{"turns": [2], "type": "delay", "answer_turn": 3, "handled": "no"}],
     "negative_turns": [2], "angry_turns": [], "escalation_turns": [],
     "end_sentiment": "negative", "resolved": "no", "quality": 2,
     "utterances": [{"role": "customer", "text": "..."}, ...]}

``utterances`` carries the conversation's text when it is not in a corpus the evaluator can look up
by ``id``. Turn indices count every turn, from 0.

:func:`read_labels` checks every line against that format (:func:`check_label`) before it hands out the
first one: unknown fields, wrong types, values outside their sets, turn indices that are not integers, fall
outside the conversation or point at a turn of the wrong role, duplicate ids. A field left out counts as
"no" / none, as :func:`items` and :func:`turns` read it, where other lines of the file give it; an item whose
field no line gives was not labelled (:data:`ITEM_FIELDS`). A field given must hold a valid value.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from qa_service.domain import Channel, Role

# Conversation-level yes/no items, in the order reports list them.
ITEMS = ("greeting", "closing", "apology", "rude", "objection", "objection_unhandled", "escalation",
         "customer_negative", "end_negative")
# Turn-level items: (role of the turns judged, how a label lists them).
TURN_ITEMS = {"negative_turn": "customer", "angry_turn": "customer", "objection_turn": "customer",
              "apology_turn": "agent", "rude_turn": "agent"}
# The field each item is read from: an item no line of a file gives that field for was not labelled there.
ITEM_FIELDS = {"greeting": "greeting", "closing": "closing", "apology": "apology_turns", "rude": "rude",
               "objection": "objections", "objection_unhandled": "objections", "escalation": "escalation_turns",
               "customer_negative": "negative_turns", "end_negative": "end_sentiment",
               "negative_turn": "negative_turns", "angry_turn": "angry_turns", "objection_turn": "objections",
               "apology_turn": "apology_turns", "rude_turn": "rude"}
QUALITY_GRADES = (1, 2, 3, 4, 5)
END_SENTIMENTS = ("positive", "neutral", "negative")
RESOLVED = ("yes", "no", "unknown")
OBJECTION_TYPES = ("price", "quality", "delay", "policy", "service", "other")
HANDLED = ("yes", "partial", "no")
SPLITS = ("train", "dev", "test")
# Lists of turn indices, with the role of the turns each lists.
TURN_LISTS = {"apology_turns": "agent", "negative_turns": "customer", "angry_turns": "customer",
              "escalation_turns": "customer"}
# The fields the items are read from (a line needs at least one of them).
LABEL_FIELDS = ("greeting", "closing", *TURN_LISTS, "rude", "objections", "end_sentiment", "resolved",
                "quality")
# Every field a label line may carry (data/golden/GUIDE.md, data/golden/README.md, docs/agreement.md).
KEYS = ("id", "corpus", "split", "labeller", "notes", "channel", "scenario", "utterances", "greeting_turn",
        "closing_turn", *LABEL_FIELDS)
RUDE_KEYS = ("turn", "quote")
OBJECTION_KEYS = ("turns", "type", "answer_turn", "handled")
MAX_PROBLEMS = 20  # problems a LabelError's message lists (all are kept in .problems)
RULE_FORMAT = ("the rule-label format (tests/data/rule_labels.jsonl), which qa eval does not read: it reads "
               "the golden-set format, each item a top-level field (data/golden/GUIDE.md)")


def objection_unhandled(label: dict[str, Any]) -> bool:
    """An objection left unhandled (handled "no"; "partial" counts as handled, as the standard's yes/no does)."""
    return any(o.get("handled") == "no" for o in label.get("objections") or [])


def items(label: dict[str, Any]) -> dict[str, bool]:
    """The conversation-level items of a label."""
    return {
        "greeting": bool(label.get("greeting")),
        "closing": bool(label.get("closing")),
        "apology": bool(label.get("apology_turns")),
        "rude": bool(label.get("rude")),
        "objection": bool(label.get("objections")),
        "objection_unhandled": objection_unhandled(label),
        "escalation": bool(label.get("escalation_turns")),
        "customer_negative": bool(label.get("negative_turns")),
        "end_negative": label.get("end_sentiment") == "negative",
    }


def turns(label: dict[str, Any]) -> dict[str, set[int]]:
    """The turn-level items: which turns carry each."""
    return {
        "negative_turn": set(label.get("negative_turns") or []),
        "angry_turn": set(label.get("angry_turns") or []),
        "objection_turn": {t for o in label.get("objections") or [] for t in o.get("turns") or []},
        "apology_turn": set(label.get("apology_turns") or []),
        "rude_turn": {r["turn"] for r in label.get("rude") or []},
    }


class LabelError(ValueError):
    """A label file that does not follow the format; ``problems`` are "FILE:LINE: field: problem" lines."""

    def __init__(self, path: Path, problems: list[str]):
        self.path, self.problems = path, problems
        if len(problems) == 1:
            message = problems[0]
        else:
            shown = problems[:MAX_PROBLEMS]
            more = len(problems) - len(shown)
            head = f"{path}: {len(problems)} problems in the labels (format: data/golden/GUIDE.md)"
            message = "\n".join([head, *shown, *([f"… and {more} more"] if more else [])])
        super().__init__(message)


SHOWN_CHARS = 40  # of a value a message quotes
ID_CHARS = 200  # of an id (the API's longest, QA_API__MAX_ID_CHARS's default): ids are shown whole


def _show(value: Any, limit: int = SHOWN_CHARS) -> str:
    """A value as a message quotes it, in at most about ``limit`` characters; a string cut short keeps its
    closing quote. Was: every value cut at 37 characters, quote and all, so a JDDC id (41) read
    ``"jddc-50eab875-7699-455e-a636-4ca6b78…`` and could be neither read nor copied."""
    if isinstance(value, str):
        return json.dumps(value if len(value) <= limit else value[:limit - 1] + "…", ensure_ascii=False)
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _show_id(value: Any) -> str:
    return _show(value, ID_CHARS)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _one_of(allowed: Sequence[Any]) -> str:
    return "one of " + ", ".join(map(str, allowed))


def check_label(rec: Mapping[str, Any], corpus_turns: Sequence[Mapping[str, Any]] | None = None,
                ) -> list[tuple[str | None, str]]:
    """Format problems of one label record, as (field, problem); field None for the record as a whole.

    ``corpus_turns`` are the conversation's turns from the corpora (``--data``) for a record without
    ``utterances``; with neither, turn indices are checked for type and sign only.
    """
    check = _LabelCheck(rec)
    check.header()
    check.utterances(corpus_turns)
    check.turn_fields()
    check.rude()
    check.objections()
    check.values()
    return check.out


class _LabelCheck:
    """One record's checks, a method per part of the format; problems gather in ``out``."""

    def __init__(self, rec: Mapping[str, Any]):
        self.rec = rec
        self.out: list[tuple[str | None, str]] = []
        self.roles: list[Any] | None = None  # the conversation's turn roles, when known
        self.texts: list[str | None] | None = None  # … and their texts

    def bad(self, field: str | None, problem: str) -> None:
        self.out.append((field, problem))

    def header(self) -> None:
        rec = self.rec
        if "id" not in rec:
            self.bad("id", "missing (every label line names its conversation)")
        elif not isinstance(rec["id"], str) or not rec["id"].strip():
            self.bad("id", f"expected a non-empty string, got {_show_id(rec['id'])}")
        nested = isinstance(rec.get("labels"), dict)
        if nested:
            self.bad("labels", f"values nested under \"labels\" are {RULE_FORMAT}")
        for key in rec:
            if key not in KEYS and not (nested and key == "labels"):
                close = difflib.get_close_matches(key, KEYS, n=1)
                self.bad(key, "unknown field" + (f" (did you mean {close[0]!r}?)" if close else
                                                 " (not in the label format, data/golden/GUIDE.md)"))
        if not nested and not any(k in rec for k in LABEL_FIELDS):
            self.bad(None, f"no label fields: a line gives at least one of {', '.join(LABEL_FIELDS)}")

        for key in ("corpus", "labeller", "notes", "scenario"):
            if rec.get(key) is not None and not isinstance(rec[key], str):
                self.bad(key, f"expected a string, got {_show(rec[key])}")
        if "split" in rec and rec["split"] not in SPLITS:
            self.bad("split", f"{_show(rec['split'])} is not {_one_of(SPLITS)}")
        channels = tuple(c.value for c in Channel)
        if "channel" in rec and rec["channel"] not in channels:
            self.bad("channel", f"{_show(rec['channel'])} is not {_one_of(channels)}")

    def utterances(self, corpus_turns: Sequence[Mapping[str, Any]] | None) -> None:
        rec = self.rec
        # The conversation's turn roles, when known: from the record, else from the corpora.
        roles_ok = tuple(r.value for r in Role)
        utterances = rec.get("utterances")
        if utterances is not None and not isinstance(utterances, list):
            self.bad("utterances", f"expected a list of {{role, text}}, got {_show(utterances)}")
        elif utterances:
            self.texts = [u.get("text") if isinstance(u, dict) and isinstance(u.get("text"), str) else None
                          for u in utterances]
            self.roles = roles = []
            for i, u in enumerate(utterances):
                where = f"utterances[{i}]"
                if not isinstance(u, dict):
                    self.bad(where, f"expected an object {{role, text}}, got {_show(u)}")
                    roles.append(None)
                    continue
                if "role" not in u:
                    self.bad(f"{where}.role", "missing")
                elif u["role"] not in roles_ok:
                    self.bad(f"{where}.role", f"{_show(u['role'])} is not {_one_of(roles_ok)}")
                roles.append(u.get("role") if u.get("role") in roles_ok else None)
                if not isinstance(u.get("text"), str):
                    self.bad(f"{where}.text",
                             "missing" if "text" not in u else f"expected a string, got {_show(u['text'])}")
                for key in ("start_ms", "end_ms"):
                    if u.get(key) is not None and not _is_int(u[key]):
                        self.bad(f"{where}.{key}", f"expected an integer (milliseconds), got {_show(u[key])}")
                conf = u.get("asr_confidence")
                if conf is not None and (not isinstance(conf, int | float) or isinstance(conf, bool)):
                    self.bad(f"{where}.asr_confidence", f"expected a number, got {_show(conf)}")
        elif corpus_turns:
            self.roles = [t.get("role") if isinstance(t, Mapping) else None for t in corpus_turns]
            self.texts = [(t.get("text") or "") if isinstance(t, Mapping) else None for t in corpus_turns]

    def turn(self, where: str, value: Any, role: str) -> None:
        roles = self.roles
        if not _is_int(value):
            numeric = isinstance(value, str) and value.strip().lstrip("-").isdigit()
            hint = f" (write {value.strip()}, not \"{value.strip()}\")" if numeric else ""
            self.bad(where, f"turn index {_show(value)} is not an integer{hint}")
        elif value < 0 or (roles is not None and value >= len(roles)):
            span = f"0..{len(roles) - 1}" if roles is not None else "0 or more"
            self.bad(where, f"turn {value} is outside the conversation's turns ({span}; turns count from 0)")
        elif roles is not None and roles[value] is not None and roles[value] != role:
            article = "an" if str(roles[value])[:1] in "aeiou" else "a"
            self.bad(where, f"turn {value} is {article} {roles[value]} turn; this field lists {role} turns")

    def turn_fields(self) -> None:
        rec = self.rec
        for key in ("greeting", "closing"):
            if key in rec and not isinstance(rec[key], bool):
                self.bad(key, f"expected true or false, got {_show(rec[key])}")
            if rec.get(f"{key}_turn") is not None:
                self.turn(f"{key}_turn", rec[f"{key}_turn"], "agent")
        for key, role in TURN_LISTS.items():
            if key not in rec:
                continue
            if not isinstance(rec[key], list):
                self.bad(key, f"expected a list of turn indices ([] when none), got {_show(rec[key])}")
                continue
            for j, value in enumerate(rec[key]):
                self.turn(f"{key}[{j}]", value, role)

    def entries(self, field: str, keys: tuple[str, ...]) -> Iterator[tuple[str, dict[str, Any]]]:
        """(where, entry) for each well-formed entry of a list field; the shape problems are recorded."""
        shape = "{" + ", ".join(keys) + "}"
        if field not in self.rec:
            return
        if not isinstance(self.rec[field], list):
            self.bad(field, f"expected a list of {shape} ([] when none), got {_show(self.rec[field])}")
            return
        for j, entry in enumerate(self.rec[field]):
            where = f"{field}[{j}]"
            if not isinstance(entry, dict):
                self.bad(where, f"expected an object {shape}, got {_show(entry)}")
                continue
            for key in entry:
                if key not in keys:
                    self.bad(f"{where}.{key}", f"unknown field (an entry has {', '.join(keys)})")
            yield where, entry

    def rude(self) -> None:
        for where, r in self.entries("rude", RUDE_KEYS):
            if "turn" not in r:
                self.bad(f"{where}.turn", "missing")
            else:
                self.turn(f"{where}.turn", r["turn"], "agent")
            if not isinstance(r.get("quote"), str):
                self.bad(f"{where}.quote", "missing" if "quote" not in r else f"expected a string, got {_show(r['quote'])}")
                continue
            turn, texts = r.get("turn"), self.texts
            if _is_int(turn) and texts is not None and 0 <= turn < len(texts) and texts[turn] is not None \
                    and r["quote"] not in texts[turn]:  # was: accepted, though a quote is a verbatim part of its turn
                self.bad(f"{where}.quote", f"{_show(r['quote'])} is not in turn {turn} ({_show(texts[turn])}): "
                                           "quote the words as the turn has them")

    def objections(self) -> None:
        for where, o in self.entries("objections", OBJECTION_KEYS):
            if not isinstance(o.get("turns"), list) or not o["turns"]:
                self.bad(f"{where}.turns", "missing" if "turns" not in o else
                         f"expected a non-empty list of customer turn indices, got {_show(o['turns'])}")
            else:
                for k, value in enumerate(o["turns"]):
                    self.turn(f"{where}.turns[{k}]", value, "customer")
            for key, allowed in (("type", OBJECTION_TYPES), ("handled", HANDLED)):
                if key not in o:
                    self.bad(f"{where}.{key}", f"missing ({_one_of(allowed)})")
                elif o[key] not in allowed:
                    self.bad(f"{where}.{key}", f"{_show(o[key])} is not {_one_of(allowed)}")
            if o.get("answer_turn") is not None:
                self.turn(f"{where}.answer_turn", o["answer_turn"], "agent")

    def values(self) -> None:
        rec = self.rec
        for key, allowed in (("end_sentiment", END_SENTIMENTS), ("resolved", RESOLVED)):
            if key in rec and rec[key] not in allowed:
                self.bad(key, f"{_show(rec[key])} is not {_one_of(allowed)}")
        if "quality" in rec and not (_is_int(rec["quality"]) and rec["quality"] in QUALITY_GRADES):
            self.bad("quality", f"{_show(rec['quality'])} is not an integer 1–5")


def load_labels(path: Path, corpora: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
                *, require_text: bool = False) -> list[dict[str, Any]]:
    """Every label line of a JSONL file (UTF-8, blank lines skipped), each checked with :func:`check_label`
    (turn indices against its ``utterances``, else its turns in ``corpora``) and ids checked unique;
    with ``require_text`` (to score them), a line with no ``utterances`` whose id is not in ``corpora``
    is a problem too.

    Raises :class:`LabelError` listing every problem, "FILE:LINE: field: problem", before anything is used.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LabelError(path, [f"{path}: cannot read ({exc.strerror or exc})"]) from None
    if data.startswith(b"PK\x03\x04"):  # a zip: an .xlsx (or .docx) saved under this name
        raise LabelError(path, [f"{path}: this is an Excel workbook (or another zip file): {ONE_A_LINE}"])
    given = corpora is not None and bool(getattr(corpora, "folder", None) or corpora)  # --data given (and read)
    corpora = corpora or {}
    problems: list[str] = []
    not_json = 0  # lines that do not parse: many, and the file may be another format (_file_shape)
    out: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    nested = 0  # lines in the rule-label format
    textless: list[tuple[int, str, bool]] = []  # (line, id, in the corpora) of lines without utterances
    for n, raw in enumerate(data.splitlines(), 1):
        if n == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark
            raw = raw[3:]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"{path}:{n}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at byte "
                            f"{exc.start + 1} of the line); label files must be UTF-8 — convert it first "
                            f"(e.g. {_conversion_hint(data)})")
            break
        if not line.strip():
            continue
        rec, problem = _record(line)
        if problem is not None:
            problems.append(f"{path}:{n}: {problem}")
            not_json += problem.startswith("not JSON")
        if rec is None:
            continue
        nested += isinstance(rec.get("labels"), dict)
        rid = rec.get("id")
        turns = corpora.get(rid) if isinstance(rid, str) else None
        problems.extend(f"{path}:{n}: {field}: {problem}" if field else f"{path}:{n}: {problem}"
                        for field, problem in check_label(rec, turns))
        if not rec.get("utterances") and isinstance(rid, str):
            textless.append((n, rid, turns is not None))
        if isinstance(rid, str):
            if rid in first_line:
                problems.append(f"{path}:{n}: id: duplicate id {_show_id(rid)} "
                                f"(first on line {first_line[rid]})")
            else:
                first_line[rid] = n
        out.append(rec)
    if require_text:
        problems.extend(_without_text(path, textless, getattr(corpora, "folder", None) if given else None, given))
    shape = _file_shape(data) if not_json else None
    if shape:  # one line for the file, not one per line of it
        raise LabelError(path, [f"{path}: {shape}: {ONE_A_LINE}"])
    if out and nested == len(out):  # the whole file: say so once
        raise LabelError(path, [f"{path}: every line has its values nested under \"labels\": "
                                f"this is {RULE_FORMAT}"])
    if problems:
        raise LabelError(path, problems)
    return out


def _record(line: str) -> tuple[dict[str, Any] | None, str | None]:
    """The line's JSON object (None: there is none) and what is wrong with it, a key given twice in one object
    too (JSON keeps the last silently, as this did: ``"greeting": true, "greeting": false`` read as false)."""
    twice: list[tuple[str, Any, Any]] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                twice.append((key, out[key], value))
            out[key] = value
        return out

    try:
        rec = json.loads(line, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        return None, f"not JSON ({exc.msg} at column {exc.colno})"
    except RecursionError:
        return None, "not JSON (nested too deep)"
    if not isinstance(rec, dict):
        kinds = {list: "an array", str: "a string", bool: "true/false", type(None): "null"}
        return None, f"a label line is a JSON object {{\"id\": …}}, not {kinds.get(type(rec), 'a number')}"
    if twice:  # the record is still checked: every other problem of the line is named too
        key, first, then = twice[0]
        return rec, f"{key}: given twice in the line ({_show(first)}, then {_show(then)}): give each field once"
    return rec, None


def _without_text(path: Path, textless: list[tuple[int, str, bool]], folder: Any, given: bool) -> list[str]:
    """Lines with no ``utterances`` whose id no corpus holds: one line when --data was not given, or when it
    holds none of them (a wrong folder), else each by line. Was: a line each, "in no corpus given with --data"
    even with no --data (1,565 for the golden set run from another folder)."""
    missing = [(n, rid) for n, rid, found in textless if not found]
    if not missing:
        return []
    fix = ("give each conversation's turns in its line as utterances, or --data the folder of the corpora "
           "its id is in (the golden set's: the checkout's ../shared/data)")
    lines = ", ".join(str(n) for n, _ in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    if not given:
        if len(missing) == 1:
            return [f"{path}:{missing[0][0]}: utterances: none, and no --data was given: {fix}"]
        return [f"{path}: {len(missing)} lines carry no utterances (lines {lines}), and no --data was given: {fix}"]
    where = f"the corpora under --data {folder}" if folder else "the corpora given with --data"
    if len(missing) > 1 and len(missing) == len(textless):
        return [f"{path}: none of the {len(missing)} ids of lines without utterances is in {where} (lines {lines}; "
                f"e.g. {_show_id(missing[0][1])}): a wrong --data folder, or labels of other conversations? {fix}"]
    return [f"{path}:{n}: utterances: none, and id {_show_id(rid)} is in none of {where}: {fix}" for n, rid in missing]


ONE_A_LINE = ("qa eval reads JSON Lines, one label object per line ({\"id\": \"…\", \"greeting\": true, …}; "
              "data/golden/GUIDE.md)")


def _file_shape(data: bytes) -> str | None:
    """What a file whose lines do not parse as JSON most likely is, the likeliest mistakes of a team working
    from a spreadsheet or a script: one JSON array over several lines, objects pretty-printed over several
    lines, or a CSV / tab-separated export. None: a JSON Lines file with some bad lines (each is named).
    Was: one "not JSON" per line (67 for a 20-label array), never saying why."""
    text = data.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
    lines = text.count("\n") + 1
    decoder, objects, pos = json.JSONDecoder(), [], 0
    try:
        while pos < len(text):
            value, end = decoder.raw_decode(text, pos)
            objects.append((value, "\n" in text[pos:end]))
            pos = len(text) - len(text[end:].lstrip())
    except (json.JSONDecodeError, RecursionError):
        objects = []
    if len(objects) == 1 and isinstance(objects[0][0], list):
        return (f"the file is one JSON array of {len(objects[0][0])} entries over {lines} lines (to convert it: "
                "jq -c '.[]' FILE > labels.jsonl)")
    if objects and any(spread for _, spread in objects):
        return (f"the file's {len(objects)} JSON object(s) are spread over {lines} lines (pretty-printed, e.g. "
                "indent=2; to convert it: jq -c . FILE > labels.jsonl, or json.dumps without indent)")
    first = text.split("\n", 1)[0]
    if not first.lstrip().startswith(("{", "[")) and any(sep in first for sep in (",", "\t", ";")):
        shown = first if len(first) <= 60 else first[:59] + "…"
        return f"this looks like a CSV or spreadsheet export (first line: {shown})"
    return None


def _conversion_hint(data: bytes) -> str:
    """The iconv line for a file that is not UTF-8: UTF-16 (Excel's "Unicode 文本": a byte-order mark FF FE or
    FE FF, or NUL bytes between ASCII ones) or else GBK. Was: GBK for every file, UTF-16 included."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:200]:
        return "iconv -f UTF-16 -t UTF-8"
    return "iconv -f GBK -t UTF-8"


def read_labels(path: Path, corpora: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
                *, require_text: bool = False) -> Iterator[dict[str, Any]]:
    """Label lines of a JSONL file (blank lines skipped), all checked before the first is yielded;
    raises :class:`LabelError` (a ValueError) naming the line and field of every bad one."""
    yield from load_labels(path, corpora, require_text=require_text)

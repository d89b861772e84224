"""数据脱敏: find personal data in text and replace it with typed placeholders.

Pure functions over strings. Ingest calls :func:`redact_transcript` before anything is stored
or logged, so findings, offsets and quotes are all computed on the redacted text.

Each kind is a pattern plus, where the format has one, a validity check, so ordinary
numbers (prices, dates, quantities, 400 hotlines, verification codes) stay as they are:

* ``mobile``    mainland mobile: 1[3-9]x xxxx xxxx, optional +86 / 86, up to three separator characters
  (spaces, tabs, a line break, dashes, the comma ASR writes at a pause, …) between any two digits
* ``landline``  area code (010, 02x, 0xxx) then a 7–8 digit local number starting 2–9 (4-4 groups too),
  optional extension
* ``id_card``   18-digit resident ID in any grouping (6-8-4, 6-4-4-4, 4-4-4-4-2 …, the separators above):
  plausible birth date and a valid ISO 7064 MOD 11-2 check digit
* ``bank_card`` 16–19 digits passing the Luhn check, in any grouping that reads as one card (:func:`_card_shape`)
* ``email``     local@domain.tld
* ``order``     only the operator's own order-number patterns (``QA_PII__ORDER_PATTERNS``)

A number is found next to letters too (``Tel13812345678``, ``wx…``), never inside a longer run of digits.
Full-width characters count as their ASCII forms. A number one speaker split over two turns in a row, at
any point (我手机是139 / 0000 4444, 身份证号是1101051985 / 03171231) is found too (:func:`redact_split`). Was:
IDs only in 6-8-4 groups and cards only in 4-4-4-4 groups, so other groupings and splits were stored in
clear. Chinese-numeral numbers in ASR output (幺三八…) are not recognised.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from qa_service.domain import PII_PLACEHOLDERS

PLACEHOLDERS = PII_PLACEHOLDERS
KINDS = tuple(PLACEHOLDERS)  # also the priority when two candidates overlap

# A number is never part of a longer run of digits; letters may touch it (Tel13812345678, wx…, …X号).
_EDGE_L = r"(?<![0-9])"
_EDGE_R = r"(?![0-9])"
# What may stand between the digits of one number: up to three of a space (also tab, a line break — a pasted
# log wraps a number onto its next line — no-break, thin and zero-width), a dash (also the hyphen, minus,
# en and em dashes), or the comma ASR writes at a pause. Not "," or ".": those are thousands and decimals
# (a price). ASR spells digits one by one (1 3 9 7 7 7 …); people type two spaces between groups.
_SEP_CHAR = "[ \\t\\n\\r\\-\u00a0\u2009\u200b\u202f\u2010\u2011\u2212\ufe63\u2013\u2014，]"
_SEP = _SEP_CHAR + "{1,3}"
_PATTERNS = {
    "email": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
    # Any grouping (6-8-4, 6-4-4-4, 4-4-4-4-2, split at a turn break …): the check digit and the birth date decide.
    "id_card": re.compile(_EDGE_L + rf"\d(?:(?:{_SEP})?\d){{16}}(?:{_SEP})?[\dXx]" + r"(?![0-9A-Za-z])"),
    # Any grouping too: the Luhn check decides (and a group that is a whole mobile number is one: _valid).
    "bank_card": re.compile(_EDGE_L + rf"\d(?:(?:{_SEP})?\d){{15,18}}" + _EDGE_R),
    "mobile": re.compile(_EDGE_L + rf"(?:(?:\+|00)?86(?:{_SEP})?)?1(?:{_SEP})?[3-9](?:(?:{_SEP})?\d){{9}}" + _EDGE_R),
    "landline": re.compile(
        _EDGE_L + rf"(?:[(（](?:010|02\d|0[3-9]\d\d)[)）](?:{_SEP})?|(?:010|02\d|0[3-9]\d\d)(?:{_SEP})?)"
        rf"[2-9]\d{{2,3}}(?:{_SEP})?\d{{4}}(?:(?:-|转)\d{{1,5}})?" + _EDGE_R),
}
_FIRST_GROUP = re.compile(r"\d+")  # a group of digits (the first one, or each)
_LONG_GROUP = re.compile(r"\d{5}")
_MOBILE_GROUP = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")  # a whole mobile number among a card's groups
# Full-width ASCII (digits, letters, ＠．＋－) and the ideographic space → ASCII, one character for one, so
# offsets in the original still hold.
# The full-width comma stays: between digits it is ASR's pause (a separator), where "," would be thousands.
_HALF_WIDTH = {**{c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F) if c != 0xFF0C}, 0x3000: 0x20}
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


_NOT_DIGIT = re.compile(r"\D")
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # a Luhn digit doubled, its digits summed


def _digits(s: str) -> str:
    return _NOT_DIGIT.sub("", s)


def valid_id_card(s: str) -> bool:
    """18-digit resident ID: a real birth date (1900 on, not in the future) and the MOD 11-2 check digit."""
    body, check = s[:17], s[17].upper()
    try:
        born = date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError:
        return False
    if not date(1900, 1, 1) <= born <= date.today():
        return False
    return _ID_CHECK[sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS)) % 11] == check


def luhn(number: str) -> bool:
    return (sum(map(int, number[-1::-2])) + sum(_DOUBLED[int(d)] for d in number[-2::-2])) % 10 == 0


def _valid(kind: str, text: str) -> bool:
    if kind == "id_card":
        return valid_id_card(re.sub(r"[^0-9Xx]", "", text))
    if kind == "bank_card":
        digits = _digits(text)
        if digits != text and _MOBILE_GROUP.search(text):
            return False  # 13912345678 12345: a mobile number and another one, not a card
        return 16 <= len(digits) <= 19 and digits[0] != "0" and luhn(digits)
    return True


def _card_prefix(text: str) -> int | None:
    """The end of the longest grouped card a matched run starts with (16–19 digits ending at a group's end),
    where the run as a whole is none: 6214 8301 0023 4565 12点 — the card, then another number."""
    groups = list(_FIRST_GROUP.finditer(text))
    count = sum(m.end() - m.start() for m in groups)
    for last in range(len(groups) - 2, -1, -1):  # drop the last group, then the one before …
        count -= groups[last + 1].end() - groups[last + 1].start()
        if count < 16:
            return None
        if count <= 19 and _valid("bank_card", text[:groups[last].end()]):
            return groups[last].end()
    return None


def _card_shape(text: str, turn_break: int | None) -> bool:
    """Whether digit groups read as one card: a first group of 4 digits or more (4-4-4-4-3, 6-13), or no
    group over 4 (digits spelt one by one). ``3-3915300992785146`` (a short number, then a long one) is two
    numbers. A turn break (at ``turn_break``) is no group boundary: one speaker may split a card anywhere."""
    if turn_break is not None:
        text = text[:turn_break] + text[turn_break + 1:]
    return _FIRST_GROUP.match(text).end() >= 4 or _LONG_GROUP.search(text) is None


def _spans(kind: str, pattern: re.Pattern[str], text: str, turn_break: int | None = None):
    """``(start, end)`` of each valid match. After a candidate that fails its check the search goes on from
    its next character, not its end: in ``12 1101 0519 8503 1712 31`` the first 18 digits are no ID, but
    the ID starts inside them."""
    pos = 0
    while (m := pattern.search(text, pos)) is not None:
        s, e = m.span()
        brk = turn_break - s if turn_break is not None and s < turn_break < e else None
        if s == e:
            pos = s + 1
            continue
        if kind == "bank_card" and not _card_shape(m.group(), brk):
            pos = s + 1
        elif _valid(kind, m.group()):
            yield s, e
            pos = e
        elif kind == "bank_card" and (end := _card_prefix(m.group())) is not None:
            yield s, s + end
            pos = s + end
        else:
            pos = s + 1


@dataclass(frozen=True, slots=True)
class Policy:
    """What to redact for one source."""

    kinds: frozenset[str]
    order_patterns: tuple[re.Pattern[str], ...] = ()

    def patterns(self) -> list[tuple[str, re.Pattern[str]]]:
        out = []
        for kind in KINDS:
            if kind not in self.kinds:
                continue
            if kind == "order":
                out += [("order", p) for p in self.order_patterns]
            else:
                out.append((kind, _PATTERNS[kind]))
        return out


@lru_cache(maxsize=64)
def make_policy(kinds: tuple[str, ...], order_patterns: tuple[str, ...]) -> Policy:
    """A compiled policy (cached: settings hold plain strings)."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown PII kind(s) {sorted(unknown)}; known: {', '.join(KINDS)}")
    return Policy(frozenset(kinds), tuple(re.compile(p) for p in order_patterns))


def find(text: str, policy: Policy, turn_break: int | None = None) -> list[tuple[int, int, str]]:
    """Non-overlapping ``(start, end, kind)`` spans, earlier kinds in KINDS winning overlaps (``turn_break``:
    where :func:`redact_split` joined two turns)."""
    if not (policy.order_patterns or "@" in text or "＠" in text or any(map(str.isdigit, text))):
        return []  # most turns: no digit, no @ (an operator's own patterns may need neither)
    text = text.translate(_HALF_WIDTH)
    taken: list[tuple[int, int, str]] = []
    for kind, pattern in policy.patterns():
        for s, e in _spans(kind, pattern, text, turn_break):
            if all(e <= ts or s >= te for ts, te, _ in taken):
                taken.append((s, e, kind))
    return sorted(taken)


def redact(text: str, policy: Policy, counts: Counter | None = None) -> str:
    """``text`` with each span found replaced by its placeholder (``counts`` gets one per kind found)."""
    spans = find(text, policy)
    if not spans:
        return text
    parts, pos = [], 0
    for s, e, kind in spans:
        parts += [text[pos:s], PLACEHOLDERS[kind]]
        pos = e
        if counts is not None:
            counts[kind] += 1
    parts.append(text[pos:])
    return "".join(parts)


SPLIT_CHARS = 64
_TAIL = re.compile(rf"(?:\d|{_SEP_CHAR})*\d$")  # the digits a turn ends with (separators inside)
_HEAD = re.compile(rf"^\d(?:\d|{_SEP_CHAR})*")  # … and the next one starts with


def redact_split(texts: list[str], roles: list[str], policy: Policy) -> list[str]:
    """Numbers one speaker split over two turns in a row (我手机是139 / 0000 4444): each part becomes the
    placeholder. Run on turns already redacted one by one; only a number the two parts make together,
    and neither makes alone, is found here."""
    out = list(texts)
    for i in range(len(out) - 1):
        if roles[i] != roles[i + 1]:
            continue
        # only the ends that touch (a number with its separators is well under SPLIT_CHARS): a long run of
        # digits and spaces searched whole costs the square of its length
        end = len(out[i]) - min(len(out[i]), SPLIT_CHARS)
        tail = _TAIL.search(out[i][end:].translate(_HALF_WIDTH))
        head = _HEAD.match(out[i + 1][:SPLIT_CHARS].translate(_HALF_WIDTH))
        if tail is None or head is None:  # ① or ² pass str.isdigit but are no digit here
            continue
        joined = tail.group() + " " + head.group()
        cut = len(tail.group())
        for s, e, kind in find(joined, policy, cut):
            if s < cut < e - 1:  # across the turn break
                start = end + tail.start() + s
                out[i] = out[i][:start] + PLACEHOLDERS[kind]
                out[i + 1] = PLACEHOLDERS[kind] + out[i + 1][e - cut - 1:]
                break
    return out


def redact_value(value: Any, policy: Policy, counts: Counter | None = None) -> Any:
    """Every string inside a JSON-like value redacted, keys too; a whole number that is personal data
    (``"caller": 13822220002``, or ``13822220002.0``) becomes its placeholder. Two keys that redact alike stay apart (``#2``)."""
    if isinstance(value, str):
        return redact(value, policy, counts)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e19:
        value_int = int(value)  # 13822220005.0: a number that went through a spreadsheet or a JavaScript client
        said = redact(str(value_int), policy, counts)
        return value if said == str(value_int) else said
    if isinstance(value, int) and not isinstance(value, bool):
        said = redact(str(value), policy, counts)
        return value if said == str(value) else said
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = redact(k, policy, counts) if isinstance(k, str) else k
            n = 1
            while key in out:
                n += 1
                key = f"{redact(k, policy)}#{n}"
            out[key] = redact_value(v, policy, counts)
        return out
    if isinstance(value, list):
        return [redact_value(v, policy, counts) for v in value]
    return value


def redact_typed(pii: Any, text: str | None) -> str | None:
    """What staff type — verdict and completion comments, manual findings' messages, appeal reasons and
    decisions, alert notes — redacted under the global settings (``Settings.pii``), as conversations are."""
    policy = policy_for(pii, "")
    return text if text is None or policy is None else redact(text, policy)


def policy_for(pii: Any, source: str) -> Policy | None:
    """The policy for ``source`` from ``Settings.pii`` (its per-source overrides applied); None: redact nothing."""
    override = pii.sources.get(source)
    enabled = override.redact if override is not None and override.redact is not None else pii.redact
    if not enabled:
        return None
    kinds = override.kinds if override is not None and override.kinds is not None else pii.kinds
    orders = (override.order_patterns if override is not None and override.order_patterns is not None
              else pii.order_patterns)
    return make_policy(tuple(kinds), tuple(orders))

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
  a province code, a plausible birth date and a valid ISO 7064 MOD 11-2 check digit
* ``bank_card`` 16–19 digits passing the Luhn check, from a card's first digits (3–6: UnionPay 62, Visa 4,
  Mastercard 5, Amex/JCB 3; Mastercard's 2221–2720; 9: the old domestic cards, ICBC 9558 …; never a date),
  grouped as one card is written (:func:`_card_shape`: contiguous, 4-4-4-4[-1..3], or spelt in groups of 1–2
  digits), or in any grouping right after a card cue (卡号, 银行卡 …: :data:`_CARD_CUE`). Was (0bb0c34): any
  grouping, so Luhn alone decided and about one in ten pairs of ordinary numbers (a date range, two order
  numbers, an order number and its amount) was destroyed as a card
* ``email``     local@domain.tld
* ``order``     only the operator's own order-number patterns (``QA_PII__ORDER_PATTERNS``)

A number is found next to letters too (``Tel13812345678``, ``wx…``), never inside a longer run of digits.
Full-width characters count as their ASCII forms. A number one speaker split over two turns in a row is
found too (:func:`redact_split`): a mobile or an ID at any point (我手机是139 / 0000 4444, 身份证号是1101051985 /
03171231), a card where the break is one of its group boundaries (卡号6214 8301 / 0023 4565) or, after a card
cue, at any point (卡号6217001234 / 567890122). Was: IDs only in 6-8-4 groups and cards only in 4-4-4-4
groups, so other groupings and splits were stored in clear. Chinese-numeral numbers in ASR output (幺三八…)
are not recognised.
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
    # A local part of at most 64 characters and labels of at most 63 (RFC 5321's limits): unbounded, the search
    # rescanned a long run of letters from each of its characters (100,000 letters: 9 s).
    "email": re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,63}"),
    # Any grouping (6-8-4, 6-4-4-4, 4-4-4-4-2, split at a turn break …): the check digit and the birth date decide.
    "id_card": re.compile(_EDGE_L + rf"\d(?:(?:{_SEP})?\d){{16}}(?:{_SEP})?[\dXx]" + r"(?![0-9A-Za-z])"),
    # Any grouping from a card's first digit (_card_end: 2221–2720 of the 2s); its shape (or a cue before it)
    # and Luhn decide (_spans).
    "bank_card": re.compile(_EDGE_L + rf"[2-69](?:(?:{_SEP})?\d){{15,18}}" + _EDGE_R),
    # ... and 3-4-4 with one dot, slash or underscore between the groups (138.1234.5678): not between any
    # digits, where a dot is a decimal point or an IP address's.
    "mobile": re.compile(_EDGE_L + rf"(?:(?:(?:\+|00)?86(?:{_SEP})?)?1(?:{_SEP})?[3-9](?:(?:{_SEP})?\d){{9}}"
                         r"|1[3-9]\d([./_])\d{4}\1\d{4})" + _EDGE_R),
    "landline": re.compile(
        _EDGE_L + rf"(?:[(（](?:010|02\d|0[3-9]\d\d)[)）](?:{_SEP})?|(?:010|02\d|0[3-9]\d\d)(?:{_SEP})?)"
        rf"[2-9]\d{{2,3}}(?:{_SEP})?\d{{4}}(?:(?:-|转)\d{{1,5}})?" + _EDGE_R),
    # Only right after their cue (_CUED): a QQ number is any 5–11 digits, a passport's form an order number's.
    "qq": re.compile(_EDGE_L + r"[1-9]\d{4,10}" + _EDGE_R),
    # China's passports (E/G + 8 digits, E + a letter + 7), the mainland travel permits for Hong Kong and
    # Macau (C…) and Taiwan (L…), the home-return permits (H/M + 8 or 10 digits), foreign passports (a
    # letter or two, then 6–9 digits).
    "passport": re.compile(r"(?<![0-9A-Za-z])[A-Za-z]{1,2}\d{6,10}(?![0-9A-Za-z])"),
}
# The words a cued kind's number must follow, within a few characters (QQ号是 123456789, 护照号码：E12345678).
_CUED = {
    "qq": re.compile(r"(?:QQ|qq|Qq|扣扣)(?:号码|号)?[是为:：\s]{0,4}$"),
    "passport": re.compile(r"(?:护照|通行证|回乡证|签证|证件)(?:号码|号)?[是为:：\s]{0,4}$"),
}
_BUSINESS_QQ = re.compile(r"[48]00\d{6}|[48]008\d{6}")
_CUE_WORDS = {"qq": ("QQ", "qq", "Qq", "扣扣"), "passport": ("护照", "通行证", "回乡证", "签证", "证件")}
_GROUP = re.compile(r"\d+")  # a group of digits
# Words that say a card number follows (the digits within a few characters: 卡号是 6…, 银行卡号码：6…, ASR's
# 卡 号 是 6 …). After one, a card in any grouping is found (卡号 622202 1234567894), in one turn or split
# over two at any point (卡号6217001234 / 567890122).
_CARD_CUE = re.compile(r"(?:卡号|卡 号|银行卡|信用卡|储蓄卡|借记卡)[号码是为:：\s]{0,4}$")
_CUE_CHARS = 10  # how far before a card's first digit a cue is looked for
# The first two digits of a resident ID: a province (GB/T 2260: 11–15 … 65, 71 Taiwan, 81/82 Hong Kong/Macau,
# 83 the Taiwan residents' permit), or 9 and a province digit (the 2023 foreigners' permanent residence ID).
_ID_REGION = re.compile(r"1[1-5]|2[1-3]|3[1-7]|4[1-6]|5[0-4]|6[1-5]|71|8[1-3]|9[1-8]")
_MOBILE_GROUP = re.compile(r"1[3-9]\d{9}")  # a whole mobile number among a card's groups (fullmatch)
# Full-width ASCII (digits, letters, ＠．＋－) and the ideographic space → ASCII, one character for one, so
# offsets in the original still hold.
# The full-width comma stays: between digits it is ASR's pause (a separator), where "," would be thousands.
_HALF_WIDTH = {**{c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F) if c != 0xFF0C}, 0x3000: 0x20}
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # a Luhn digit doubled, its digits summed


def valid_id_card(s: str) -> bool:
    """18-digit resident ID: a province code, a real birth date (1900 on, not in the future) and the MOD 11-2
    check digit. The province code is there for IDs in any grouping: a 6-digit code, then a date-prefixed
    order number (123456 202405120001) has the form of an ID, and the check digit alone passes 1 in 11."""
    body, check = s[:17], s[17].upper()
    if not _ID_REGION.match(body):
        return False
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
    if kind == "qq":  # a company's QQ (企业QQ, 800…/400… as its hotlines are) is kept, as hotlines are
        return _BUSINESS_QQ.fullmatch(text) is None
    return True


def _card_shape(groups: list[int]) -> bool:
    """Whether digit groups (their lengths) read as one card: contiguous, 4-4-4-4 with an optional last group
    (1–3 digits: the pattern allows 19 at most), or spelt digit by digit (every group 1–2 digits, as ASR
    writes it). Was: any grouping whose first group had 4 digits or more, so two ordinary numbers side by
    side (20230501-20240522, 65692582，29668557, 6726978380851，391) were a card whenever Luhn passed (1 in 10)."""
    return len(groups) == 1 or (groups[:4] == [4, 4, 4, 4] and len(groups) <= 5) or max(groups) <= 2


def _card_end(text: str, cued: bool) -> int | None:
    """The end of the longest card a matched run starts with: the run itself, or the run less its last
    groups (6214 8301 0023 4565 12点 — the card, then another number), 16–19 digits passing Luhn, in a card's
    grouping (any grouping when ``cued``), no group a whole mobile number (13912345678 12345 is a phone and
    another number)."""
    found = list(_GROUP.finditer(text))
    groups = [m.group() for m in found]
    sizes = [len(g) for g in groups]
    digits = "".join(groups)
    if digits[0] == "2" and not "2221" <= digits[:4] <= "2720":
        return None  # 2…: a date (20230501-20240522) or a number after one, unless Mastercard's 2-series
    count = len(digits)
    for last in range(len(groups), 0, -1):  # the whole run, then without its last group …
        if count < 16:
            return None
        if count <= 19 and (cued or _card_shape(sizes[:last])) and luhn(digits[:count]) and not (
                last > 1 and any(_MOBILE_GROUP.fullmatch(g) for g in groups[:last])):
            return found[last - 1].end()
        count -= sizes[last - 1]
    return None


def _spans(kind: str, pattern: re.Pattern[str], text: str):
    """``(start, end)`` of each valid match. After a candidate that fails its check the search goes on from
    its next character, not its end: in ``12 1101 0519 8503 1712 31`` the first 18 digits are no ID, but
    the ID starts inside them."""
    pos = 0
    cue = "卡" in text  # most text names no card: no cue to look for before each candidate
    while (m := pattern.search(text, pos)) is not None:
        s, e = m.span()
        if s == e:
            pos = s + 1
            continue
        if kind in _CUED:
            ok = _CUED[kind].search(text, max(0, s - _CUE_CHARS), s) is not None and _valid(kind, m.group())
        elif kind == "bank_card":
            cued = cue and _CARD_CUE.search(text, max(0, s - _CUE_CHARS), s) is not None
            end = _card_end(m.group(), cued)
            ok = end is not None
            e = s + end if end is not None else e
        else:
            ok = _valid(kind, m.group())
        if ok:
            yield s, e
            pos = e
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


def find(text: str, policy: Policy) -> list[tuple[int, int, str]]:
    """Non-overlapping ``(start, end, kind)`` spans, earlier kinds in KINDS winning overlaps."""
    if not (policy.order_patterns or "@" in text or "＠" in text or any(map(str.isdigit, text))):
        return []  # most turns: no digit, no @ (an operator's own patterns may need neither)
    text = text.translate(_HALF_WIDTH)
    taken: list[tuple[int, int, str]] = []
    for kind, pattern in policy.patterns():
        if kind == "email" and "@" not in text:
            continue  # no address without one (and the search is the costliest on long runs of letters)
        if kind in _CUE_WORDS and not any(w in text for w in _CUE_WORDS[kind]):
            continue  # a cued kind without its cue: every number of its form is something else
        for s, e in _spans(kind, pattern, text):
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
    and neither makes alone, is found here. The break between the turns is a separator like any other, so
    a card is found across it only when it is one of the card's group boundaries (卡号6214 8301 / 0023 4565)
    or a card cue ends the first turn's text before the digits (卡号6217001234 / 567890122); an order number
    at the end of one turn and its amount at the start of the next stay as they are. Was (0bb0c34): a card
    split anywhere, so about one in ten such pairs was destroyed as a card."""
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
        # the words just before the tail, for a card cue (none when the tail fills the window: digits before)
        lead = out[i][max(0, end + tail.start() - _CUE_CHARS):end + tail.start()] if tail.start() else ""
        joined = lead.translate(_HALF_WIDTH) + tail.group() + " " + head.group()
        cut = len(lead) + len(tail.group())
        for s, e, kind in find(joined, policy):
            if len(lead) <= s < cut < e - 1:  # across the turn break
                start = end + tail.start() - len(lead) + s
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

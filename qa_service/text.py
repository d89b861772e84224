"""Chinese text handling below both rules/ and scoring/: masking, normalising, tokenising, negation.

Offsets are always into the original utterance text, so evidence quotes can be cut
from what the speaker actually said.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import jieba
import opencc

# Placeholders from desensitised corpora ([订单x], [金额x], [数字]) and emoticon codes
# (#E-s[数字x], Weibo's [呵呵]): kept for display, never matched.
PLACEHOLDER_RE = re.compile(r"#E-s\[[^\[\]]{0,12}\]|\[[^\[\]\s]{1,8}\]")
# ASR pause marks in call transcripts.
PAUSE_RE = re.compile(r"_+")
CLAUSE_BREAKS = frozenset("，。！？；：,.!?;:~～…、\n()（）[]【】\"'“”‘’ ")

# Width folding that keeps every offset: full-width ASCII and the ideographic space.
_WIDE_FIRST, _WIDE_LAST, _WIDE_SPACE = 0xFF01, 0xFF5E, 0x3000
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(_WIDE_FIRST, _WIDE_LAST + 1)}
_FULLWIDTH[_WIDE_SPACE] = 0x20
# The characters that folding changes, as a regular expression's class (PostgreSQL's ~ and Python's re alike):
# finds the ids stored before they were folded (fold_id).
FOLDED_BY_FOLD_ID = f"[{chr(_WIDE_FIRST)}-{chr(_WIDE_LAST)}{chr(_WIDE_SPACE)}]"

NEGATORS = frozenset(
    "不 没 没有 无 非 未 别 莫 勿 甭 不是 并非 并不 并没有 毫不 绝不 决不 从不 从没 从未 "
    "不会 不能 不要 不用 无需 不必 没什么 不太 不怎么 一点也不 一点都不 根本不 根本没有 "
    "无法 没法 没能 未能 不可 不得 不可能 不想 不愿 不愿意 不肯 从来不 从来没有 永远不 绝对不 "
    "不敢 不敢说".split()
)
# Words between a negator and what it negates that do not break the scope (不太满意, 没有很差), among them
# adverbs of degree and certainty: 不能百分百保证 is as hedged as 不能保证.
SCOPE_FILLERS = frozenset(
    "太 很 非常 特别 十分 那么 这么 怎么 算 算是 是 觉得 感到 感觉 会 能 一点 有点 有些 也 都 还 再 "
    "真的 真 好 挺 蛮 够 过 得 到 你们 我 我们 对 "
    "百分百 百分之百 一定 完全 绝对 肯定".split()
)
NEGATION_WINDOW_TOKENS = 4


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    start: int
    end: int


def name_problem(value: str) -> str | None:
    """Why ``value`` cannot name a person, key or team, or None: a name is printed in listings, logs and
    the audit trail, so it may not be blank, and may not hold control characters (a newline or an escape
    sequence forges lines there; a bidirectional override reverses what is shown)."""
    if not value.strip():
        return "is blank"
    bad = next((ch for ch in value if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")), None)
    return f"contains a control character (U+{ord(bad):04X}); use printable text" if bad is not None else None


LABEL_MAX_CHARS = 200  # api_keys.name, team and agent ids are VARCHAR(200)


def label_problem(value: str, max_chars: int = LABEL_MAX_CHARS) -> str | None:
    """Why ``value`` cannot be a label — a key's name, a team, an agent id — or None: printable
    (:func:`name_problem`: no control, bidirectional or zero-width characters), at most ``max_chars``, and no
    space of any kind (a no-break or ideographic space too) at either end. `` after-sales`` prints like
    ``after-sales`` but names a team no key is scoped to; the one check serves keys, conversations and
    webhooks alike, so whatever a conversation is filed under, a key can be made for."""
    if len(value) > max_chars:
        return f"is {len(value)} characters long; at most {max_chars}"
    problem = name_problem(value)
    if problem:
        return problem
    if value != value.strip():
        edge = value[0] if value[0].isspace() else value[-1]
        return f"starts or ends with a space (U+{ord(edge):04X}); remove it"
    return None


def label(value: str | None) -> str | None:
    """A pydantic ``AfterValidator`` for a label (:func:`label_problem`): a ValueError, so a 422 naming the field."""
    problem = label_problem(value) if value is not None else None
    if problem:
        raise ValueError(problem)
    return value


def same_name(a: str, b: str) -> bool:
    """Whether two names are one person's as a reader sees them: width, case and edge spaces aside
    (``Zhao``, ``zhao `` and ``Ｚｈａｏ``)."""
    return unicodedata.normalize("NFKC", a).strip().casefold() == unicodedata.normalize("NFKC", b).strip().casefold()


def fold_id(value: str) -> str:
    """An agent id as the one person's everywhere: full-width ASCII folded to half width (U+FF01–U+FF5E to
    U+0021–U+007E, the ideographic space U+3000 to a space: ``０００１２６`` is ``000126``, ``ＡＢ０１`` is
    ``AB01``), as the figures and dates of a KPI file are read. A conversation's ``agent_id``, a KPI row's
    坐席工号 and an ``agent_id`` asked for are folded alike, so one person typed in either width is one agent.
    Width only, one character for one: case and every other character are kept (``①``, ``Ⅱ``, ``ﬁ`` stay
    what they are, not ``1``, ``II``, ``fi`` as NFKC would make them), so two ids that differ in anything
    but width stay two agents and an id keeps its length."""
    return value.translate(_FULLWIDTH)


def id_forms(value: str) -> tuple[str, ...]:
    """The stored ids an agent id asked for matches: the id as sent and :func:`fold_id` of it, when that differs.
    Ids stored before folding (a release before 2026-11-29) are not rewritten, so ``０００１２６`` may be stored
    as sent beside ``000126``: a filter ``agent_id IN (:sent, :folded)`` finds both, and one asked for in half
    width finds only the half-width one (``000126`` cannot tell which stored ids would fold to it without
    folding the column, which no index serves)."""
    folded = fold_id(value)
    return (value,) if folded == value else (value, folded)


def fold_id_or_none(value: str | None) -> str | None:
    """:func:`fold_id` for an optional id (a query parameter, a pydantic ``AfterValidator``)."""
    return None if value is None else fold_id(value)


def says_nothing(value: str) -> bool:
    """Whether text is blank in practice: only spaces of any kind (a no-break U+00A0 or ideographic U+3000
    space too) and invisible characters (zero-width U+200B, other format and control characters)."""
    return all(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp") for ch in value)


def written(value: str) -> str:
    """A pydantic ``AfterValidator`` for free text that must say something (an appeal's reason, a finding's
    message): one that :func:`says_nothing` is a ValueError, as an empty one is (a 422 naming the field)."""
    if says_nothing(value):
        raise ValueError("is blank (only spaces or invisible characters); write it out")
    return value


def comment_or_none(value: str | None) -> str | None:
    """A pydantic ``AfterValidator`` for an optional comment: one that :func:`says_nothing` is no comment."""
    return None if value is None or says_nothing(value) else value


def decode_file_text(data: bytes) -> str:
    """A user's file as text: UTF-8 (with or without a BOM), else GB18030 (Chinese Windows exports; GBK is a
    subset). Raises UnicodeDecodeError (of the UTF-8 reading) when it is neither."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError:
            raise exc from None


def mask_for_matching(text: str) -> str:
    """Same-length copy of ``text`` with placeholders, emoticons and pause marks blanked out."""
    folded = text.translate(_FULLWIDTH)
    masked = PLACEHOLDER_RE.sub(lambda m: " " * len(m.group()), folded)
    return PAUSE_RE.sub(lambda m: " " * len(m.group()), masked)


# ASR fillers dropped before rule matching (呃/嗯/啊 and whitespace); 哦/唉 carry meaning (哦不对).
FILLERS = frozenset("嗯啊呃")
_T2S: opencc.OpenCC | None = None


@dataclass(frozen=True, slots=True)
class Normalized:
    """Text prepared for rule matching, with the original offset of every character.

    Width-folded, traditional → simplified, placeholders/emoticons/pause marks/fillers/whitespace
    removed, so 您好[姓名x]先生 matches 您好先生 and 请问还_有 matches 请问还有; spans found here map
    back to the verbatim original with :meth:`original_span`.
    """

    text: str
    index: tuple[int, ...]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        if end <= start:
            at = self.index[start] if start < len(self.index) else (self.index[-1] + 1 if self.index else 0)
            return at, at
        return self.index[start], self.index[end - 1] + 1


def to_simplified(text: str) -> str:
    """Traditional → simplified (OpenCC t2s), one character for one so offsets hold."""
    global _T2S
    if _T2S is None:
        _T2S = opencc.OpenCC("t2s")
    if text.isascii():
        return text
    converted = _T2S.convert(text)
    if len(converted) == len(text):
        return converted
    # Rare phrase conversions change the length: fall back to character by character.
    return "".join(c if len(c := _T2S.convert(ch)) == 1 else ch for ch in text)


def normalize(text: str) -> Normalized:
    """:class:`Normalized` ``text``; short texts are remembered (live checks re-read a window of
    turns, and agents' templates repeat), long ones are not (memory stays bounded)."""
    return _normalize_short(text) if len(text) <= 200 else _normalize(text)


def forget_normalized() -> None:
    """Forget the short texts remembered by :func:`normalize` (see ``scoring.pipeline.forget_texts``)."""
    _normalize_short.cache_clear()


@lru_cache(maxsize=16_384)
def _normalize_short(text: str) -> Normalized:
    return _normalize(text)


def _normalize(text: str) -> Normalized:
    masked = mask_for_matching(text)
    simplified = to_simplified(masked)
    chars, index = [], []
    for i, ch in enumerate(simplified):
        if ch.isspace() or ch in FILLERS:
            continue
        chars.append(ch.lower())
        index.append(i)
    return Normalized("".join(chars), tuple(index))


def is_word(token: str) -> bool:
    return any(ch.isalnum() for ch in token)


# jieba's dictionary is 350,000 words (~60 MB once loaded): one tokenizer per set of added words in a process,
# shared by every analyzer that segments with that set (the rule book's and negativity.v1's, by default).
_TOKENIZERS: dict[tuple[str, ...], jieba.Tokenizer] = {}
_TOKENIZERS_LOCK = threading.Lock()
LEXICON_DIR = "lexicons"  # qa_service/lexicons/: the shipped sentiment word lists


def read_words(text: str) -> frozenset[str]:
    """Words of a lexicon file's text: one per line, optional ``<TAB>`` columns, ``#`` comments."""
    words = set()
    for line in text.splitlines():
        word = line.split("\t", 1)[0].strip()
        if word and not word.startswith("#"):
            words.add(word)
    return frozenset(words)


def shipped_lexicon(name: str) -> frozenset[str]:
    """A lexicon shipped in ``qa_service/lexicons/`` (``negative.txt``, ``positive.txt``, ``problem.txt``)."""
    return read_words(resources.files("qa_service").joinpath(LEXICON_DIR, name).read_text(encoding="utf-8"))


def segmentation_words(*lexicons: frozenset[str]) -> tuple[str, ...]:
    """The words an analyzer adds to jieba's dictionary for these lexicons, in the one order (jieba's
    frequency for an added word depends on the words added before it)."""
    return tuple(sorted(frozenset().union(*lexicons)))


@lru_cache(maxsize=1)
def rule_words() -> tuple[str, ...]:
    """The fixed words the rule engine segments with, besides jieba's own: the shipped negative and positive
    lexicons (不耐烦, 不靠谱 are one token). Fixed: neither the configured scorers nor their lexicon settings
    change how a rule's ``tokens:`` and negation read a turn, so ``qa rules check`` reads it as a worker does."""
    return segmentation_words(shipped_lexicon("negative.txt"), shipped_lexicon("positive.txt"))


def _tokenizer_with(words: tuple[str, ...]) -> jieba.Tokenizer:
    """A jieba tokenizer of its own (never jieba's process-wide default) with ``words`` added; the same
    object for the same words. Never changed once made."""
    with _TOKENIZERS_LOCK:
        tokenizer = _TOKENIZERS.get(words)
        if tokenizer is None:
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            # Only words jieba lacks: re-adding a known word (垃圾) raises its frequency and
            # breaks compounds that contain it (垃圾桶).
            for word in words:
                if not tokenizer.FREQ.get(word):
                    tokenizer.add_word(word)
            _TOKENIZERS[words] = tokenizer
        return tokenizer


class Analyzer:
    """A jieba tokenizer with a fixed set of added words (shared with analyzers adding the same ones,
    never jieba's process-wide default); loaded once with ``initialize()``. Its words never change after it is
    made: a consumer that needs other words makes its own analyzer, so no consumer changes another's tokens."""

    CACHE_TEXTS = 50_000  # tokenised texts remembered (agents' templates and short replies repeat a lot)

    def __init__(self, extra_words: tuple[str, ...] = ()):
        self._extra_words = tuple(extra_words)
        self._tokenizer: jieba.Tokenizer | None = None
        self._cache: dict[tuple[str, bool], list[Token]] = {}

    @property
    def words(self) -> tuple[str, ...]:
        """The words added to jieba's dictionary."""
        return self._extra_words

    def initialize(self) -> None:
        if self._tokenizer is None:
            self._tokenizer = _tokenizer_with(self._extra_words)

    def tokens(self, text: str, *, masked: bool = False) -> list[Token]:
        """Tokens of the masked text, with offsets into the original (``masked``: already prepared).

        The list is shared with later calls on the same text: read it, do not change it.
        """
        key = (text, masked)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        if self._tokenizer is None:
            self.initialize()
        masked_text = text if masked else mask_for_matching(text)
        out = [Token(word, start, end) for word, start, end in self._tokenizer.tokenize(masked_text, HMM=True)
               if word.strip()]
        if len(self._cache) >= self.CACHE_TEXTS:
            self._cache.clear()
        self._cache[key] = out
        return out


def is_a_not_a(text: str, start: int) -> bool:
    """能不能 / 是不是 / 有没有 / 可不可以: a question, not a negation (the negator at ``start``)."""
    return 0 < start < len(text) - 1 and text[start] in "不没" and text[start - 1] == text[start + 1]


def negation_count(tokens: list[Token], index: int, text: str) -> int:
    """How many negators govern ``tokens[index]``, scanning back within the clause.

    Only negators and scope fillers (太, 很, 是 ...) may stand between a negator and its word:
    不满意 → 1 (a negated positive), 不太满意 → 1, 没有不满意 → 2 (cancels), 我没说服务差 → 0.
    """
    count = 0
    i = index - 1
    while i >= 0 and index - i <= NEGATION_WINDOW_TOKENS:
        tok = tokens[i]
        gap = text[tok.end : tokens[i + 1].start]
        if any(ch in CLAUSE_BREAKS for ch in gap) or not is_word(tok.text):
            break
        if tok.text in NEGATORS and not is_a_not_a(text, tok.start):
            count += 1
        elif tok.text not in SCOPE_FILLERS:
            break
        i -= 1
    return count


# Bidirectional-text controls (U+202A–U+202E, U+2066–U+2069, the marks) in text shown to a person are
# shown as their code, not obeyed: a customer's or an agent's text with a right-to-left override would
# otherwise be drawn reversed — "退款金额 0001 元" read as "元 1000 额金款退". The pages (ui/render.py),
# the live board (live.js, the same list) and the robot messages (live/delivery.py) all show them so.
BIDI_CONTROLS = {ord(ch): f"[U+{ord(ch):04X}]" for ch in "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                                                          "\u2066\u2067\u2068\u2069"}


def visible_bidi(text: str) -> str:
    """``text`` with every bidirectional control written as its code (``[U+202E]``), so none reorders it."""
    return text.translate(BIDI_CONTROLS)

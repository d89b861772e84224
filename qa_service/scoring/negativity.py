"""Negative-word ratio (负面词汇占比) per role, with Chinese negation applied.

A token counts as negative when it is a negative word not cancelled by an even number of
negators (不满意 yes, 没有不满意 no), or a positive word under an odd number of negators
(不太满意, 不是很好). The agent's negative words cost points; the customer's are evidence
of how the customer feels and raise a flag when they dominate.

Two exceptions keep agents from being charged for good service: words inside an apology or
empathy sentence (很抱歉给您带来了不好的体验) and problem descriptions (是数据线坏了么,
会导致死机) are not counted for the agent; the same words from a customer are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from qa_service.domain import DimensionScore, Finding, Flag, Role, Severity, Transcript, Utterance
from qa_service.rules.engine import PackMatch
from qa_service.scoring.base import ScoringContext, capped
from qa_service.text import (
    NEGATORS,
    SCOPE_FILLERS,
    Analyzer,
    Token,
    is_word,
    negation_count,
    read_words,
    segmentation_words,
    shipped_lexicon,
)

APOLOGY_MARKERS = ("抱歉", "不好意思", "对不起", "歉意", "见谅", "包涵", "给您带来", "让您久等", "理解您")
# jieba sometimes glues a degree adverb to the word it modifies (很无语, 真无语, 超烂).
DEGREE_PREFIXES = ("非常", "特别", "很", "太", "真", "超", "好", "挺", "蛮", "最", "更")
SENTENCE_END = re.compile(r"[。！？!?；;\n]")


def load_lexicon(path: Path | None, default_name: str) -> frozenset[str]:
    """Words from a lexicon file (the shipped ``default_name`` when ``path`` is None): one per line, optional
    ``<TAB>`` columns, ``#`` comments."""
    if path is None:
        return shipped_lexicon(default_name)
    return read_words(Path(path).read_text(encoding="utf-8"))


@dataclass(frozen=True, slots=True)
class PackLexicon:
    """The negative words in force for one pack: the base lexicon plus its ``extra_negative``, less its
    ``ignore``. An extra word is also found where jieba splits it (不给力 as 不 + 给力): the analyzer's
    dictionary is fixed at ``initialize()``, so a pack's words never change how any text is segmented."""

    negative: frozenset[str]
    extra: frozenset[str] = frozenset()
    longest_extra: int = 0


@dataclass(frozen=True, slots=True)
class NegativeHit:
    utterance: Utterance
    start: int
    end: int
    word: str
    negated_positive: bool


class NegativityScorer:
    """负面词汇占比: negative tokens / word tokens, per role."""

    name = "negativity"
    version = "1"
    default_weight = 0.0  # weighed by the pack's scorecard, else not at all

    def __init__(
        self,
        *,
        analyzer: Analyzer | None = None,
        negative_words: frozenset[str],
        positive_words: frozenset[str],
        problem_words: frozenset[str] = frozenset(),
        points_per_agent_word: float = -3.0,
        max_deduction: float = 30.0,
        agent_flag_ratio: float = 0.05,
        customer_flag_ratio: float = 0.08,
        customer_flag_min_words: int = 3,
    ):
        # Its own analyzer, segmenting with its lexicon's words (不耐烦, 不靠谱 one token each), unless one is
        # given (the rule book's, when it segments with the same words: one jieba dictionary in the process).
        self.analyzer = analyzer or Analyzer(segmentation_words(negative_words, positive_words))
        self.negative_words = negative_words
        self.positive_words = positive_words
        self.problem_words = problem_words
        self.points_per_agent_word = points_per_agent_word
        self.max_deduction = max_deduction
        self.agent_flag_ratio = agent_flag_ratio
        self.customer_flag_ratio = customer_flag_ratio
        self.customer_flag_min_words = customer_flag_min_words
        self._base = PackLexicon(negative_words)
        self._pack_lexicons: dict[tuple[str, str], PackLexicon] = {}

    def initialize(self) -> None:
        """Load the analyzer's jieba dictionary (every word set it segments with is fixed here)."""
        self.analyzer.initialize()

    def lexicon_for(self, match: PackMatch | None) -> PackLexicon:
        """The negative words in force: the base lexicon plus the pack's additions, less its ignores."""
        if match is None:
            return self._base
        key = (match.pack.name, match.pack.hash)
        if key not in self._pack_lexicons:
            cfg = match.pack.spec.negativity
            extra = frozenset(cfg.extra_negative) - frozenset(cfg.ignore)
            self._pack_lexicons[key] = PackLexicon((self.negative_words | extra) - frozenset(cfg.ignore), extra,
                                                   max(map(len, extra), default=0))
        return self._pack_lexicons[key]

    def match(self, utterance: Utterance, lexicon: PackLexicon | None = None) -> tuple[list[NegativeHit], int]:
        """Negative hits in one utterance and its word-token count (an extra word jieba split counts as one)."""
        lexicon = self._base if lexicon is None else lexicon
        negative_words = lexicon.negative
        tokens = self.analyzer.tokens(utterance.text)
        excused = _apology_spans(utterance.text) if utterance.role == Role.agent else []
        hits, n_words, skip_to = [], 0, 0
        for i, tok in enumerate(tokens):
            if i < skip_to or not is_word(tok.text):
                continue
            n_words += 1
            run = _extra_run(tokens, i, lexicon) if lexicon.extra else None
            if run is not None:  # a pack's extra word that jieba split: one word, from its first token
                last, word = run
                skip_to = last + 1
                if not (utterance.role == Role.agent and any(a <= tok.start < b for a, b in excused)) \
                        and negation_count(tokens, i, utterance.text) % 2 == 0:
                    hits.append(NegativeHit(utterance, tok.start, tokens[last].end, word, False))
                continue
            if utterance.role == Role.agent and (
                tok.text in self.problem_words or any(a <= tok.start < b for a, b in excused)
            ):
                continue
            word, offset = self._lookup(tok.text, negative_words)
            if word is not None:
                if negation_count(tokens, i, utterance.text) % 2 == 0:
                    hits.append(NegativeHit(utterance, tok.start + offset, tok.end, word, False))
            elif tok.text in self.positive_words and negation_count(tokens, i, utterance.text) % 2 == 1:
                start = _negation_start(tokens, i)
                hits.append(NegativeHit(utterance, start, tok.end, tok.text, True))
        return hits, n_words

    @staticmethod
    def _lookup(token: str, negative_words: frozenset[str]) -> tuple[str | None, int]:
        """The negative word in ``token`` and its offset, allowing a glued degree adverb."""
        if token in negative_words:
            return token, 0
        for prefix in DEGREE_PREFIXES:
            if token.startswith(prefix) and token[len(prefix):] in negative_words:
                return token[len(prefix):], len(prefix)
        return None, 0

    def score(self, transcript: Transcript, context: ScoringContext | None = None) -> DimensionScore:
        """Without a context (no pack), the shipped lexicon, points and cap apply."""
        match = context.match if context is not None else None
        lexicon = self.lexicon_for(match)
        per_word, cap = self.points_per_agent_word, self.max_deduction
        if match is not None:
            per_word, cap = match.pack.spec.negativity.points_per_agent_word, match.pack.spec.negativity.cap
        counts = {role: [0, 0] for role in Role}  # role -> [negative, words]
        findings: list[Finding] = []
        for utt in transcript.utterances:
            hits, n_words = self.match(utt, lexicon)
            counts[utt.role][0] += len(hits)
            counts[utt.role][1] += n_words
            findings += [self._finding(hit, per_word) for hit in hits]
        if context is not None:
            findings = context.settle(transcript, findings)  # before the cap: a word sent to review uses none
        findings = capped(findings, cap)
        deducted = -sum(f.points for f in findings)
        ratios = {
            role.value: round(neg / words, 4) if words else 0.0 for role, (neg, words) in counts.items()
        }
        flags = []
        agent_neg, agent_words = counts[Role.agent]
        if agent_words and agent_neg / agent_words >= self.agent_flag_ratio:
            flags.append(
                Flag("agent_negative_language", Severity.major,
                     f"坐席负面词汇占比 {agent_neg}/{agent_words} = {agent_neg / agent_words:.1%}")
            )
        cust_neg, cust_words = counts[Role.customer]
        if (
            cust_neg >= self.customer_flag_min_words
            and cust_words
            and cust_neg / cust_words >= self.customer_flag_ratio
        ):
            flags.append(
                Flag("customer_negative", Severity.minor,
                     f"客户负面词汇占比 {cust_neg}/{cust_words} = {cust_neg / cust_words:.1%}")
            )
        return DimensionScore(
            name=self.name,
            score=max(0.0, 100.0 - deducted),
            start=100.0,
            version=self.version,
            findings=findings,
            flags=flags,
            metrics={
                "negative_ratio": ratios,
                "negative_words": {r.value: c[0] for r, c in counts.items() if c[1]},
                "words": {r.value: c[1] for r, c in counts.items() if c[1]},
            },
        )

    def _finding(self, hit: NegativeHit, per_word: float) -> Finding:
        utt = hit.utterance
        if utt.role == Role.agent:
            points = min(0.0, per_word)
            severity = Severity.major
            message = "坐席使用负面词汇" + ("（否定褒义词）" if hit.negated_positive else "")
            rule_id = "negativity.agent-negative-word"
        else:
            points = 0.0
            severity = Severity.info
            message = f"{'客户' if utt.role == Role.customer else utt.role.value}表达负面情绪"
            rule_id = f"negativity.{utt.role.value}-negative-word"
        return Finding(
            dimension=self.name,
            rule_id=rule_id,
            utterance_index=utt.index,
            span=(hit.start, hit.end),
            quote=utt.text[hit.start : hit.end],
            points=points,
            severity=severity,
            role=utt.role,
            message=message,
        )


def _extra_run(tokens: list[Token], index: int, lexicon: PackLexicon) -> tuple[int, str] | None:
    """The last token of the longest run of adjacent tokens from ``index`` that spells one of the pack's extra
    words over two tokens or more, and the word (a word jieba keeps whole is one token: the lookup finds it)."""
    found, end, spelled = None, index, tokens[index].text
    while end + 1 < len(tokens) and tokens[end + 1].start == tokens[end].end:
        end += 1
        spelled += tokens[end].text
        if len(spelled) > lexicon.longest_extra:
            break
        if spelled in lexicon.extra:
            found = end, spelled
    return found


def _apology_spans(text: str) -> list[tuple[int, int]]:
    """Sentences of an agent turn that apologise or empathise."""
    spans, start = [], 0
    for m in [*SENTENCE_END.finditer(text), None]:
        end = m.end() if m else len(text)
        if any(marker in text[start:end] for marker in APOLOGY_MARKERS):
            spans.append((start, end))
        start = end
    return spans


def _negation_start(tokens: list[Token], index: int) -> int:
    """Start offset of the negated phrase, so the quote reads 不太满意 rather than 满意."""
    start = tokens[index].start
    i = index - 1
    while i >= 0 and (tokens[i].text in NEGATORS or tokens[i].text in SCOPE_FILLERS):
        if tokens[i].text in NEGATORS:
            start = tokens[i].start
        i -= 1
    return start

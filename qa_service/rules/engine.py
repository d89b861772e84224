"""Compiled rule packs: one Aho-Corasick automaton per pack, conditions evaluated per transcript.

``CompiledPack.match(transcript)`` finds hits (turn → spans) for every rule; turning hits into
findings and points is the dimension scorers' job (compute, then write).

Negation is an operator of every leaf: a phrase under an odd number of negators in its clause
(我们**不**保证收益, **没有**不满意 counts two) is *negated*. The check is lazy: jieba runs only
when a negator character stands just before a hit.

Regular expressions run under a time budget per transcript (``REGEX_BUDGET_S``; see
:mod:`qa_service.rules.patterns`): a pattern that backtracks catastrophically, such as ``^(a|aa)+$``,
raises ``R009`` instead of stalling the API's dry run or a worker.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field

import ahocorasick

from qa_service.domain import Role, Transcript, Utterance
from qa_service.errors import RuleError, RulePackError
from qa_service.rules.loader import PackRule, RulePack
from qa_service.rules.patterns import FAST_STEPS, compile_pattern, steps_per_char
from qa_service.rules.schema import AnchorCount, Condition, Negation, RuleKind, RuleRole
from qa_service.text import (
    CLAUSE_BREAKS,
    NEGATORS,
    SCOPE_FILLERS,
    Analyzer,
    Normalized,
    Token,
    is_a_not_a,
    is_word,
    normalize,
)

Span = tuple[int, int]
TurnHits = dict[int, list[Span]]  # turn index → spans in the normalised text
NEGATOR_CHARS = frozenset("不没无非未别莫勿甭")
NEGATION_LOOKBACK_CHARS = 10
PARTICLES = frozenset("了 的 吧 呢 吗 嘛 着 过 啦 哦 呀 哈 么".split())
# Regex time allowed per transcript and pack: 0.5 s, and 1 ms more per turn (real rules take ~30 µs a turn).
REGEX_BUDGET_S = 0.5
REGEX_BUDGET_PER_TURN_S = 0.001
CLOCK_EVERY = 32  # searches without a timeout between two looks at the clock (each is bounded: patterns.py)
ROLE_OF = {RuleRole.agent: (Role.agent,), RuleRole.customer: (Role.customer,),
           RuleRole.any: (Role.agent, Role.customer, Role.bot)}


@dataclass(slots=True)
class Turn:
    index: int
    utterance: Utterance
    norm: Normalized
    tokens: list[Token] | None = None

    @property
    def role(self) -> Role:
        return self.utterance.role

    def quote(self, span: Span) -> tuple[Span, str]:
        """The verbatim original text behind a normalised span."""
        a, b = self.norm.original_span(*span)
        return (a, b), self.utterance.text[a:b]


@dataclass(slots=True)
class PackMatch:
    """Hits of every rule of a pack on one transcript."""

    pack: RulePack
    turns: list[Turn]
    hits: dict[str, TurnHits]
    scopes: dict[str, list[int]]
    skipped: list[RuleError] = field(default_factory=list)  # R009s passed over (``match(…, skip_slow=True)``)
    not_run: int = 0  # regex conditions not run after that: the budget was spent

    def fired(self, rule: PackRule) -> bool:
        """A hit rule hit; a required rule found nothing in a non-empty window."""
        if rule.spec.kind == RuleKind.required:
            return bool(self.scopes[rule.id]) and not self.hits[rule.id]
        return bool(self.hits[rule.id])

    def missing_turn(self, rule: PackRule) -> Turn:
        """Where a missing requirement was due: the window's last turn for ``last: N``, else its first."""
        scope = self.scopes[rule.id]
        return self.turns[scope[-1] if rule.spec.window and rule.spec.window.last else scope[0]]

    def rules_for(self, dimension: str) -> list[PackRule]:
        return [r for r in self.pack.rules if r.spec.dimension == dimension]

    def tagged(self, prefix: str) -> list[PackRule]:
        return [r for r in self.pack.rules if r.spec.tag and r.spec.tag.startswith(prefix)]


class _Leaf:
    __slots__ = ("id", "cond", "regex", "exclude", "tokens", "fast_chars")

    def __init__(self, leaf_id: int, cond: Condition):
        self.id = leaf_id
        self.cond = cond
        self.regex = compile_pattern(cond.regex) if cond.regex is not None else None
        self.exclude = [compile_pattern(p) for p in cond.exclude]
        # Texts up to this length cannot keep the regexes busy long: searched without a timeout.
        bounds = [steps_per_char(p) for p in ([cond.regex] if cond.regex is not None else []) + list(cond.exclude)]
        self.fast_chars = min((FAST_STEPS // b if b else 0 for b in bounds), default=0)
        self.tokens = [frozenset(alt.split("|")) for alt in cond.tokens] if cond.tokens else None


class CompiledPack:
    def __init__(self, pack: RulePack, analyzer: Analyzer, *, regex_budget_s: float = REGEX_BUDGET_S):
        self.pack = pack
        self.analyzer = analyzer
        self.regex_budget_s = regex_budget_s
        self._leaves: dict[int, _Leaf] = {}  # id(condition) → leaf
        self._automaton = ahocorasick.Automaton()
        phrases: dict[str, list[int]] = {}
        for rule in pack.rules:
            for cond in _leaves_of(rule.spec.match):
                leaf = self._leaves.setdefault(id(cond), _Leaf(len(self._leaves), cond))
                for phrase in cond.phrases or ():
                    key = normalize(phrase).text
                    if key:
                        phrases.setdefault(key, []).append(leaf.id)
        for key, leaf_ids in phrases.items():
            self._automaton.add_word(key, (len(key), tuple(dict.fromkeys(leaf_ids))))
        self._has_phrases = bool(phrases)
        if self._has_phrases:
            self._automaton.make_automaton()

    def uses_tokens(self, rule: PackRule) -> bool:
        """Whether a condition of the rule matches jieba tokens (``tokens:``)."""
        return any(cond.tokens for cond in _leaves_of(rule.spec.match))

    def segmented(self, text: str) -> str:
        """How the rule engine's analyzer reads a turn for ``tokens:``: 你/这个/态度差/得/很."""
        return "/".join(t.text for t in self.analyzer.tokens(normalize(text).text, masked=True))

    # -- preparation -------------------------------------------------------------------------
    def prepare(self, transcript: Transcript) -> list[Turn]:
        return [Turn(i, u, normalize(u.text)) for i, u in enumerate(transcript.utterances)]

    def _phrase_hits(self, turns: list[Turn]) -> dict[int, TurnHits]:
        out: dict[int, TurnHits] = {}
        if not self._has_phrases:
            return out
        for turn in turns:
            if not turn.norm.text:
                continue
            for end, (length, leaf_ids) in self._automaton.iter(turn.norm.text):
                span = (end - length + 1, end + 1)
                for leaf_id in leaf_ids:
                    out.setdefault(leaf_id, {}).setdefault(turn.index, []).append(span)
        return out

    # -- matching ----------------------------------------------------------------------------
    def match(self, transcript: Transcript, rules: Iterable[PackRule] | None = None, *,
              skip_slow: bool = False) -> PackMatch:
        """Hits of ``rules`` (default: all). A regex past the budget raises R009; with ``skip_slow`` (the
        live checks, which must not refuse a turn) it finds nothing and is listed in ``skipped``, and the
        regex conditions after it are not run (counted in ``not_run``); phrases and tokens still are."""
        turns = self.prepare(transcript)
        budget = self.regex_budget_s + REGEX_BUDGET_PER_TURN_S * len(turns)
        ctx = _Context(self, turns, self._phrase_hits(turns), budget, skip_slow)
        for rule in rules if rules is not None else self.pack.rules:
            ctx.rule_hits(rule)
        return PackMatch(self.pack, turns, ctx.hits, ctx.scopes, ctx.skipped, ctx.not_run)

    # -- negation ----------------------------------------------------------------------------
    def negation(self, turn: Turn, span: Span) -> tuple[int, int]:
        """(number of negators governing the span, start of the outermost one)."""
        text = turn.norm.text
        a = span[0]
        lo = a
        while lo > 0 and a - lo < NEGATION_LOOKBACK_CHARS and text[lo - 1] not in CLAUSE_BREAKS:
            lo -= 1
        if not any(ch in NEGATOR_CHARS for ch in text[lo:a]):
            return 0, a
        if turn.tokens is None:
            turn.tokens = self.analyzer.tokens(text, masked=True)
        tokens = turn.tokens
        i = next((k for k, t in enumerate(tokens) if t.start <= a < t.end), None)
        if i is None:
            return 0, a
        count, start = 0, a
        prefix = text[tokens[i].start : a]
        if prefix:
            # jieba glued the negator to the phrase (不满意 for 满意): only a pure negator prefix counts,
            # and not the middle of a question (收没收到 segments as 收/没收/到).
            if is_a_not_a(text, a - 1):
                return 0, a
            if prefix in NEGATORS or (prefix[-1] in NEGATOR_CHARS and prefix[:-1] in SCOPE_FILLERS | NEGATORS):
                count, start = 1, tokens[i].start
            else:
                return 0, a
        k, bridged = i - 1, False
        while k >= 0 and i - k <= 5:
            tok = tokens[k]
            gap = text[tok.end : tokens[k + 1].start]
            if any(ch in CLAUSE_BREAKS for ch in gap) or not is_word(tok.text):
                break
            if tok.text in NEGATORS and not is_a_not_a(text, tok.start):
                count, start = count + 1, tok.start
            elif tok.text in SCOPE_FILLERS:
                pass
            elif k == i - 1 and not prefix and len(tok.text) <= 2 and tok.text not in PARTICLES:
                # One short verb may stand between: 不**卖**假货, 不会**给**差评, 我没**给**差评.
                bridged = True
            else:
                break
            k -= 1
        if bridged and count == 0:
            return 0, a
        return count, start


def _left(deadline: float) -> float:
    """Seconds until the deadline, as a search timeout (TimeoutError when none are left)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _leaves_of(cond: Condition) -> Iterable[Condition]:
    if cond.phrases is not None or cond.regex is not None or cond.tokens is not None:
        yield cond
        return
    for child in [*(cond.any or []), *(cond.all or []), *(cond.none or []), *(cond.of or [])]:
        yield from _leaves_of(child)
    for child in (cond.not_, cond.match):
        if child is not None:
            yield from _leaves_of(child)
    for anchor in (cond.after, cond.before):
        if anchor is not None and anchor.condition is not None:
            yield from _leaves_of(anchor.condition)


@dataclass(slots=True)
class _Context:
    compiled: CompiledPack
    turns: list[Turn]
    phrase_hits: dict[int, TurnHits]
    regex_left: float  # seconds of regex searching this match may still spend (then R009)
    skip_slow: bool = False
    skipped: list[RuleError] = field(default_factory=list)
    not_run: int = 0  # regex conditions passed over once the budget was spent
    hits: dict[str, TurnHits] = field(default_factory=dict)
    scopes: dict[str, list[int]] = field(default_factory=dict)
    _by_role: dict[RuleRole, list[int]] = field(default_factory=dict)

    def role_turns(self, role: RuleRole) -> list[int]:
        if role not in self._by_role:
            roles = ROLE_OF[role]
            self._by_role[role] = [t.index for t in self.turns if t.role in roles and t.norm.text]
        return self._by_role[role]

    def rule_hits(self, rule: PackRule) -> TurnHits:
        if rule.id in self.hits:
            return self.hits[rule.id]
        spec = rule.spec
        scope = self.role_turns(spec.role)
        if spec.window is not None:
            scope = scope[: spec.window.first] if spec.window.first else scope[-spec.window.last :]
        self.scopes[rule.id] = scope
        self.hits[rule.id] = {}  # guards against loops (the loader rejects them anyway)
        result = self.eval(spec.match, scope, rule) if scope else {}
        self.hits[rule.id] = result
        return result

    def eval(self, cond: Condition, scope: list[int], rule: PackRule) -> TurnHits:
        if cond.phrases is not None or cond.regex is not None or cond.tokens is not None:
            return self.leaf(cond, scope, rule)
        if cond.any is not None:
            out: TurnHits = {}
            for child in cond.any:
                for t, spans in self.eval(child, scope, rule).items():
                    out.setdefault(t, []).extend(spans)
            return out
        if cond.all is not None:
            out = {t: [] for t in scope}
            for child in cond.all:
                got = self.eval(child, list(out), rule)
                out = {t: out[t] + got[t] for t in out if t in got}
                if not out:
                    break
            return out
        if cond.none is not None:
            remaining = list(scope)
            for child in cond.none:
                got = self.eval(child, remaining, rule)
                remaining = [t for t in remaining if t not in got]
            return {t: [] for t in remaining}
        if cond.not_ is not None:
            got = self.eval(cond.not_, scope, rule)
            return {t: [] for t in scope if t not in got}
        if cond.at_least is not None:
            counts: dict[int, int] = {}
            out = {}
            for child in cond.of or []:
                for t, spans in self.eval(child, scope, rule).items():
                    counts[t] = counts.get(t, 0) + 1
                    out.setdefault(t, []).extend(spans)
            return {t: out[t] for t in out if counts[t] >= cond.at_least}
        anchor = cond.after or cond.before
        if anchor.rule is not None:
            anchor_turns = self.rule_hits(self.compiled.pack.anchor(rule, anchor.rule))
        else:
            anchor_turns = self.eval(anchor.condition, self.role_turns(anchor.role), rule)
        near = self._near(cond, scope, sorted(anchor_turns))
        return self.eval(cond.match, near, rule) if near else {}

    def _near(self, cond: Condition, scope: list[int], anchors: list[int]) -> list[int]:
        """The turns of ``scope`` after (before) an anchor hit with fewer than ``within`` counted turns between
        them: every utterance (``count: utterances``, the default: ``0 < t - a <= within``), or only one
        role's non-filler turns (``count: agent`` …), so the other side's lines and 嗯 turns do not use it up."""
        if cond.count == AnchorCount.utterances:
            counted = range(len(self.turns))
        else:
            counted = self.role_turns(RuleRole(cond.count.value))

        def between(lo: int, hi: int) -> int:  # counted turns strictly between lo and hi
            return max(0, bisect_left(counted, hi) - bisect_right(counted, lo))

        if cond.after is not None:
            return [t for t in scope if any(a < t and between(a, t) < cond.within for a in anchors)]
        return [t for t in scope if any(t < a and between(t, a) < cond.within for a in anchors)]

    def leaf(self, cond: Condition, scope: list[int], rule: PackRule) -> TurnHits:
        leaf = self.compiled._leaves[id(cond)]
        out: TurnHits = {}
        if cond.phrases is not None:
            found = self.phrase_hits.get(leaf.id, {})
            candidates = ((t, found[t]) for t in scope if t in found)
        elif cond.regex is not None:
            try:
                candidates = self._regex_scan(leaf, scope, rule)
            except RulePackError as exc:
                if not self.skip_slow:
                    raise
                self.skipped += exc.errors
                return {}
        else:
            candidates = [(t, s) for t in scope if (s := self._token_spans(self.turns[t], leaf.tokens, cond.gap))]
        for t, spans in candidates:
            kept = self._by_negation(self.turns[t], spans, cond.negation)
            if kept:
                out[t] = kept
        return out

    def _regex_scan(self, leaf: _Leaf, scope: list[int], rule: PackRule) -> list[tuple[int, list[Span]]]:
        """Turns where the leaf's regex matches (and no exclusion does), within the match's regex budget.
        A text the pattern cannot keep busy (``fast_chars``) is searched without a timeout, and the clock
        is read every ``CLOCK_EVERY`` such turns; any other search gets the time left as its timeout."""
        found: list[tuple[int, list[Span]]] = []
        if self.regex_left <= 0:  # an earlier leaf spent the budget (only when skipping): not run
            self.not_run += 1
            return found
        deadline = time.monotonic() + self.regex_left
        try:
            for k, t in enumerate(scope):
                text = self.turns[t].norm.text
                if len(text) <= leaf.fast_chars:
                    spans = [m.span() for m in leaf.regex.finditer(text) if m.end() > m.start()]
                    excluded = spans and any(x.search(text) for x in leaf.exclude)
                    if k % CLOCK_EVERY == CLOCK_EVERY - 1 and time.monotonic() > deadline:
                        raise TimeoutError
                else:
                    spans = [m.span() for m in leaf.regex.finditer(text, timeout=_left(deadline))
                             if m.end() > m.start()]
                    excluded = spans and any(x.search(text, timeout=_left(deadline)) for x in leaf.exclude)
                if spans and not excluded:
                    found.append((t, spans))
        except TimeoutError:
            self.regex_left = 0.0
            raise self._timed_out(leaf.cond, rule, t) from None
        self.regex_left = deadline - time.monotonic()
        if self.regex_left <= 0:
            raise self._timed_out(leaf.cond, rule, t)
        return found

    def _timed_out(self, cond: Condition, rule: PackRule, turn: int) -> RulePackError:
        ms = round((self.compiled.regex_budget_s + REGEX_BUDGET_PER_TURN_S * len(self.turns)) * 1000)
        patterns = " / ".join(repr(p) for p in [cond.regex, *cond.exclude])
        return RulePackError([RuleError(
            "R009", rule.path,
            f"match: regex {patterns} ran past the {ms} ms budget on turn {turn} "
            f"({len(self.turns[turn].norm.text)} characters); it backtracks catastrophically",
            "rewrite the pattern without a repeated group that can match the same text two ways, "
            "such as (a+)+ or (a|aa)+ — or use phrases: / tokens:", rule.id)])

    def _by_negation(self, turn: Turn, spans: list[Span], mode: Negation) -> list[Span]:
        if mode == Negation.any:
            return spans
        kept = []
        for span in spans:
            count, start = self.compiled.negation(turn, span)
            if mode == Negation.affirmed and count % 2 == 0:
                kept.append(span)
            elif mode == Negation.negated and count % 2 == 1:
                kept.append((start, span[1]))
        return kept

    def _token_spans(self, turn: Turn, seq: list[frozenset[str]], gap: int) -> list[Span]:
        text = turn.norm.text
        if not all(any(alt in text for alt in wanted) for wanted in seq):
            return []  # a listed token is missing from the text: no need to segment it
        if turn.tokens is None:
            turn.tokens = self.compiled.analyzer.tokens(turn.norm.text, masked=True)
        toks = turn.tokens
        spans = []
        for i, tok in enumerate(toks):
            if tok.text not in seq[0]:
                continue
            pos, ok = i, True
            for wanted in seq[1:]:
                nxt = next((j for j in range(pos + 1, min(pos + 2 + gap, len(toks))) if toks[j].text in wanted), None)
                if nxt is None:
                    ok = False
                    break
                pos = nxt
            if ok:
                spans.append((tok.start, toks[pos].end))
        return spans

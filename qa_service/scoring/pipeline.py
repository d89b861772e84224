"""Pipeline: choose the transcript's rule pack, run every scorer, combine them by the pack's scorecard.

The scorecard (per scenario) gives each dimension a weight; dimensions that do not apply
(timing without timestamps) are left out and the rest renormalised. The weights actually used
are written into the report with the pack's name, version and content hash. A fatal rule's hit
zeroes the score; a score under the scorecard's ``flag_below`` raises ``low_score``.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Sequence

from qa_service.config import ScoringSettings
from qa_service.domain import DimensionScore, Flag, QAReport, Role, Severity, Transcript
from qa_service.rules.book import RuleBook
from qa_service.rules.engine import CompiledPack
from qa_service.scoring.base import BatchScorer, Gate, Scorer, ScoringContext
from qa_service.scoring.detectors import features
from qa_service.scoring.detectors.detector import Detector
from qa_service.errors import ScorerInvalid
from qa_service.scoring.registry import ScorerSetup, build, dimension_names, scorer_problems
from qa_service.text import forget_normalized


def freeze_heap() -> None:
    """For a process that scores until it exits, once its pipeline is loaded: move every object alive
    now (the models, jieba's dictionary, the compiled rule packs: millions of objects that live as
    long as the process) out of the garbage collector's reach, so its full collections stop walking
    them. Scoring makes many short-lived objects and so triggers full collections often; on 3,000
    real dialogues a worker spent 10–20% less time per chunk (`gc.freeze`, Python ≥ 3.7)."""
    gc.collect()
    gc.freeze()


def forget_texts() -> None:
    """Empty the process-wide caches of texts already seen (normalised turns, their hashed n-grams).

    For benchmarks: scoring the same dialogues twice in one process is faster the second time, which
    real traffic (new conversations, with templates repeating) does not get. A pipeline's own caches
    (its analyzer's tokens) start empty with the pipeline."""
    features.ngram_ids.cache_clear()
    forget_normalized()


def speakers_flag(transcript: Transcript) -> Flag | None:
    """A conversation in which the agent never spoke is not a judgement of the agent's service: a customer
    left without a reply (``no_agent_reply``) or nothing said by either (``nothing_to_judge``) goes to review.
    A bot's answer is an answer (a chat the bot handled alone is not an abandoned one)."""
    spoke = [u for u in transcript.utterances if u.text.strip() and u.role in (Role.agent, Role.customer)]
    if any(u.role == Role.agent for u in spoke) or any(u.role == Role.bot and u.text.strip()
                                                         for u in transcript.utterances):
        return None
    if spoke:
        return Flag("no_agent_reply", Severity.major, f"客户发言 {len(spoke)} 次，坐席没有回复（{spoke[0].text[:30]}）")
    return Flag("nothing_to_judge", Severity.minor, "会话中没有坐席或客户的发言，无可质检内容")


class Pipeline:
    def __init__(self, scorers: list[Scorer], rulebook: RuleBook, weights: dict[str, float] | None = None, *,
                 detector: Detector | None = None, gate: Gate | None = None):
        if not scorers:
            raise ValueError("a pipeline needs at least one scorer")
        for scorer in scorers:  # at start-up, not as an AttributeError on every transcript
            if problems := scorer_problems(scorer):
                raise ScorerInvalid(f"scorer {type(scorer).__qualname__} does not keep the Scorer protocol "
                                    f"(qa_service/scoring/base.py): {'; '.join(problems)}")
        names = [s.name for s in scorers]
        if len(set(names)) < len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise ScorerInvalid(f"two scorers report the dimension {', '.join(twice)}: configure one of them")
        self.scorers = scorers
        self._fixed_weights = weights
        self.rulebook = rulebook
        self.detector = detector
        self.gate = gate or Gate()
        self._initialized = False
        self._init_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: ScoringSettings, rulebook: RuleBook | None = None) -> Pipeline:
        """The configured scorers (``QA_SCORING__SCORERS``) over ``rulebook`` (default: the settings' packs)."""
        if rulebook is None:
            rulebook = RuleBook(settings.pack_dir, default_pack=settings.default_pack,
                                dimensions=dimension_names(settings.scorers))
        setup = ScorerSetup(settings=settings, analyzer=rulebook.analyzer)
        detector = None if settings.detector_model == "none" else Detector(settings.detector_model)
        gate = Gate(min_asr_confidence=settings.min_asr_confidence, band=settings.uncertain_band)
        return cls([build(name, setup) for name in settings.scorers], rulebook=rulebook, detector=detector,
                   gate=gate)

    @property
    def versions(self) -> dict[str, str]:
        return {s.name: f"{s.name}.v{s.version}" for s in self.scorers}

    def initialize(self) -> Pipeline:
        """Load the rule packs and every scorer's resources once (the worker does this before taking jobs)."""
        with self._init_lock:
            if not self._initialized:
                self.rulebook.ready()
                if self.detector is not None:
                    self.detector.initialize()
                for scorer in self.scorers:
                    scorer.initialize()
                self._initialized = True
        return self

    def weights_for(self, pack: CompiledPack | None, dims: dict[str, DimensionScore]) -> dict[str, float]:
        """Normalised weights of the applicable dimensions: those the scorecard (fixed weights, else the pack's)
        names, in its proportions; one it does not name takes its scorer's ``default_weight`` as its share of
        the score (0 to 1: the built-in scorers declare 0), the named ones sharing the rest."""
        card = self._fixed_weights if self._fixed_weights is not None else (
            pack.pack.spec.scorecard.weights if pack is not None else {})
        raw = {s.name: 0.0 for s in self.scorers}
        applicable = [s for s in self.scorers if dims[s.name].applicable]
        named = {s.name: card[s.name] for s in applicable if s.name in card}
        shares = {s.name: s.default_weight for s in applicable if s.name not in card}
        share = sum(shares.values())
        if share and sum(named.values()) > 0:  # the named ones share what the unnamed ones leave, if anything
            rest = max(0.0, 1.0 - share) / sum(named.values())
            named = {name: w * rest for name, w in named.items()}
        raw |= named | shares
        total = sum(raw.values())
        if total <= 0:
            return {name: 0.0 for name in raw}
        return {name: round(w / total, 6) for name, w in raw.items()}

    def context(self, transcript: Transcript, pack: CompiledPack | None = None) -> ScoringContext:
        """The pack for the transcript (its scenario's, unless one is given: a draft in a dry run), its match
        and the learned detections."""
        return self.contexts([transcript], [pack])[0]

    def contexts(self, transcripts: Sequence[Transcript], packs: Sequence[CompiledPack | None] | None = None
                 ) -> list[ScoringContext]:
        """Contexts for several transcripts: the detector runs once over all of them."""
        packs = [p if p is not None else self.rulebook.pack_for(t)
                 for t, p in zip(transcripts, packs or [None] * len(transcripts))]
        matches = [p.match(t) for p, t in zip(packs, transcripts)]
        detections = (self.detector.detect(transcripts, matches) if self.detector is not None
                      else [None] * len(transcripts))
        return [ScoringContext(pack=p, match=m, detections=d, gate=self.gate)
                for p, m, d in zip(packs, matches, detections)]

    def score(self, transcript: Transcript, context: ScoringContext | None = None) -> QAReport:
        return self.score_many([transcript], [context] if context is not None else None)[0]

    def score_many(self, transcripts: Sequence[Transcript],
                   contexts: Sequence[ScoringContext] | None = None) -> list[QAReport]:
        """Score several transcripts; batch scorers (the model ones) take them all in one call."""
        self.initialize()
        self.rulebook.reload_if_changed()
        n = max(len(transcripts), 1)
        t0 = time.perf_counter()
        if contexts is None:
            contexts = self.contexts(transcripts)
        stage_ms: dict[str, float] = {"rules+detectors": (time.perf_counter() - t0) * 1000 / n}
        per_scorer: dict[str, list[DimensionScore]] = {}
        for scorer in self.scorers:
            t = time.perf_counter()
            if isinstance(scorer, BatchScorer):
                per_scorer[scorer.name] = scorer.score_batch(transcripts, contexts)
            else:
                per_scorer[scorer.name] = [scorer.score(x, c) for x, c in zip(transcripts, contexts)]
            stage_ms[scorer.name] = (time.perf_counter() - t) * 1000 / n
        duration_ms = (time.perf_counter() - t0) * 1000 / n
        return [
            self._report(c.pack, {name: results[i] for name, results in per_scorer.items()}, duration_ms, stage_ms,
                         speakers_flag(transcripts[i]))
            for i, c in enumerate(contexts)
        ]

    def _report(self, pack: CompiledPack, dimensions: dict[str, DimensionScore], duration_ms: float,
                stage_ms: dict[str, float], speakers: Flag | None = None) -> QAReport:
        weights = self.weights_for(pack, dimensions)
        overall = sum(weights[name] * dimensions[name].score for name in weights)
        score = round(max(0.0, min(100.0, overall)), 2)
        fatal = [f for d in dimensions.values() for f in d.findings if f.fatal and not f.uncertain]
        uncertain = [f for d in dimensions.values() for f in d.findings if f.uncertain]
        report_flags = [speakers] if speakers is not None else []
        if uncertain:
            worst = max((f.severity for f in uncertain), key=list(Severity).index)
            report_flags.append(Flag("uncertain", worst if worst != Severity.info else Severity.minor,
                                     f"{len(uncertain)} 条机检结果置信度不足，需人工复核（{uncertain[0].rule_id}：{uncertain[0].quote[:30]}）"))
        if fatal:
            score = 0.0
            report_flags.append(Flag("fatal_rule", Severity.critical,
                                     f"致命项：{fatal[0].message}（{fatal[0].rule_id}：{fatal[0].quote}）"))
        card = pack.pack.spec.scorecard
        if score < card.flag_below:
            report_flags.append(Flag("low_score", Severity.critical if fatal else Severity.major,
                                     f"质检得分 {score:g} 低于 {card.flag_below:g}"))
        return QAReport(
            score=score, dimensions=dimensions, weights=weights, scorer_versions=self.versions,
            rule_pack=pack.pack.name, rule_pack_version=pack.pack.version, rule_pack_hash=pack.pack.hash,
            duration_ms=duration_ms, stage_ms=dict(stage_ms), fatal=bool(fatal), report_flags=report_flags,
            pass_mark=card.flag_below, scorecard_version=card.version,
        )

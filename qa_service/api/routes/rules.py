"""/v1/rules: the active rule packs, and a dry run of a pack (or one draft rule) on a posted transcript.

The dry run scores with the rule dimensions only (politeness, compliance, objection, negativity,
timing): a QA lead gets the hits and the score in milliseconds, and nothing is stored.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field, model_validator

from qa_service.api.auth import QARead
from qa_service.api.deps import SettingsDep
from qa_service.api.schemas import FindingRead, FlagRead, UtteranceCreate
from qa_service.config import Settings
from qa_service.domain import Channel, Role, Transcript, Utterance
from qa_service.errors import RulePackError
from qa_service.rules.check import run_examples
from qa_service.rules.engine import CompiledPack
from qa_service.rules.book import RuleBook
from qa_service.rules.loader import pack_from_spec, pack_with_rule, parse_pack_text, parse_rule
from qa_service.rules.schema import RuleKind
from qa_service.scoring.pipeline import Pipeline
from qa_service.scoring.registry import ScoringContext, resolve
from qa_service.scoring.serialize import finding_dict

router = APIRouter(prefix="/v1/rules", tags=["rules"])
DRY_RUN_SCORERS = ("politeness.v1", "compliance.v1", "objection.v1", "negativity.v1", "timing.v1")
_lock = threading.Lock()


class RuleSummary(BaseModel):
    id: str
    dimension: str
    role: str
    kind: str
    severity: str
    points: float
    cap: float | None
    fatal: bool
    tag: str | None
    message: str


class PackRead(BaseModel):
    name: str
    version: str
    scenario: str
    title: str
    hash: str
    include: list[str]
    weights: dict[str, float]
    flag_below: float
    rules: list[RuleSummary]


class DryRunTranscript(BaseModel):
    channel: Channel = Channel.chat
    scenario: str | None = None
    utterances: list[UtteranceCreate] = Field(min_length=1, max_length=5000)


class RuleTestRequest(BaseModel):
    """Which pack to try: an active one by name, a whole draft pack as YAML, or one draft rule in a pack."""

    pack: str | None = Field(None, description="an active pack (default: the transcript's scenario, else the default)")
    pack_yaml: str | None = Field(None, max_length=500_000, description="a draft pack, as the YAML file would be")
    rule: dict[str, Any] | None = Field(None, description="one draft rule (YAML keys), added to or replacing one in `pack`")
    transcript: DryRunTranscript

    @model_validator(mode="after")
    def _one_source(self) -> RuleTestRequest:
        if self.pack_yaml is not None and (self.pack is not None or self.rule is not None):
            raise ValueError("give pack_yaml alone, or pack and/or rule")
        return self


class RuleHit(BaseModel):
    rule_id: str
    dimension: str
    kind: str
    utterance_index: int
    role: str | None
    span: tuple[int, int]
    quote: str
    message: str


class ExampleCheck(BaseModel):
    rule_id: str
    example: str | list[str]
    expected: str
    ok: bool


class RuleTestResult(BaseModel):
    pack: str
    version: str
    hash: str
    hits: list[RuleHit]
    score: float
    dimensions: dict[str, float]
    weights: dict[str, float]
    findings: list[FindingRead]
    flags: list[FlagRead]
    metrics: dict[str, dict[str, Any]]
    examples: list[ExampleCheck]


def _pipeline(request: Request, settings: Settings) -> Pipeline:
    with _lock:
        pipeline = getattr(request.app.state, "rule_pipeline", None)
        if pipeline is None:
            base = Pipeline.from_settings(settings.scoring)
            ctx = ScoringContext(settings=settings.scoring, analyzer=base.rulebook.analyzer)
            pipeline = Pipeline([resolve(name)(ctx) for name in DRY_RUN_SCORERS], rulebook=base.rulebook)
            try:
                pipeline.initialize()
            except RulePackError as exc:
                raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                                    detail=[{"loc": ["rules"], "type": "rule_pack", "msg": str(e)} for e in exc.errors])
            request.app.state.rule_pipeline = pipeline
    pipeline.rulebook.reload_if_changed()
    return pipeline


def rulebook(request: Request, settings: Settings) -> RuleBook:
    """The API's rule book (loaded once, reloaded when the files change)."""
    return _pipeline(request, settings).rulebook


def _unprocessable(exc: RulePackError, field: str) -> HTTPException:
    return HTTPException(422, detail=[
        {"loc": ["body", field], "type": "rule_pack", "msg": str(e), "code": e.code} for e in exc.errors
    ])


@router.get("", response_model=list[PackRead])
def list_packs(request: Request, settings: SettingsDep, _principal: QARead) -> list[PackRead]:
    """Active packs with version, content hash and rules."""
    book = _pipeline(request, settings).rulebook
    return [_pack_read(c) for _, c in sorted(book.packs.items())]


@router.get("/{name}", response_model=PackRead, responses={404: {"description": "No such pack"}})
def get_pack(name: str, request: Request, settings: SettingsDep, _principal: QARead) -> PackRead:
    book = _pipeline(request, settings).rulebook
    if name not in book.packs:
        raise HTTPException(404, detail=f"no rule pack {name!r}; active: {', '.join(sorted(book.packs))}")
    return _pack_read(book.packs[name])


@router.post("/test", response_model=RuleTestResult)
def test_rules(body: RuleTestRequest, request: Request, settings: SettingsDep, _principal: QARead
               ) -> RuleTestResult:
    """Dry-run a pack (or one draft rule) on a posted transcript: hits, findings and score; nothing stored."""
    pipeline = _pipeline(request, settings)
    book = pipeline.rulebook
    transcript = Transcript(
        utterances=tuple(Utterance(i, Role(u.role), u.text, u.start_ms, u.end_ms, u.asr_confidence)
                         for i, u in enumerate(body.transcript.utterances)),
        channel=body.transcript.channel, scenario=body.transcript.scenario,
    )
    if body.pack is not None and body.pack not in book.packs:
        raise HTTPException(422, detail=[{"loc": ["body", "pack"], "type": "unknown_pack",
                                          "msg": f"no active pack {body.pack!r}; active: {', '.join(sorted(book.packs))}"}])
    try:
        if body.pack_yaml is not None:
            spec = parse_pack_text(body.pack_yaml)
            available = {n: c.pack for n, c in book.packs.items() if n != spec.name}
            compiled = CompiledPack(pack_from_spec(spec, available=available), book.analyzer)
            tested = {r.id for r in compiled.pack.rules if r.pack == spec.name}
        else:
            base = book.packs[body.pack] if body.pack else book.pack_for(transcript)
            compiled, tested = base, set()
            if body.rule is not None:
                rule = parse_rule(body.rule, base.pack.name)
                compiled = CompiledPack(pack_with_rule(base.pack, rule), book.analyzer)
                tested = {f"{base.pack.name}.{rule.id}"}
    except RulePackError as exc:
        raise _unprocessable(exc, "pack_yaml" if body.pack_yaml is not None else "rule") from None

    match = compiled.match(transcript)
    report = pipeline.score_with(transcript, compiled, match)
    hits = []
    for rule in compiled.pack.rules:
        if not match.fired(rule):
            continue
        if rule.spec.kind == RuleKind.required:
            turn = match.missing_turn(rule)
            hits.append(RuleHit(rule_id=rule.id, dimension=rule.spec.dimension, kind="missing",
                                utterance_index=turn.index, role=turn.role.value, span=(0, 0), quote="",
                                message=rule.spec.message))
            continue
        for t, spans in sorted(match.hits[rule.id].items()):
            turn = match.turns[t]
            span, quote = turn.quote(spans[0] if spans else (0, len(turn.norm.text)))
            hits.append(RuleHit(rule_id=rule.id, dimension=rule.spec.dimension, kind=rule.spec.kind.value,
                                utterance_index=t, role=turn.role.value, span=span, quote=quote,
                                message=rule.spec.message))
    examples = [
        ExampleCheck(rule_id=r.rule, example=r.example, expected="match" if r.expected else "no_match", ok=r.ok)
        for r in run_examples(compiled, own_only=False) if r.rule in tested
    ]
    return RuleTestResult(
        pack=compiled.pack.name, version=compiled.pack.version, hash=compiled.pack.hash, hits=hits,
        score=report.score, dimensions={n: round(d.score, 2) for n, d in report.dimensions.items()},
        weights=report.weights, findings=[FindingRead(**finding_dict(f)) for f in report.findings],
        flags=[FlagRead(reason=f.reason, severity=f.severity.value, detail=f.detail) for f in report.flags],
        metrics={n: d.metrics for n, d in report.dimensions.items()}, examples=examples,
    )


def _pack_read(c: CompiledPack) -> PackRead:
    spec = c.pack.spec
    return PackRead(
        name=c.pack.name, version=c.pack.version, scenario=c.pack.scenario, title=spec.title, hash=c.pack.hash,
        include=spec.include, weights=spec.scorecard.weights, flag_below=spec.scorecard.flag_below,
        rules=[RuleSummary(id=r.id, dimension=r.spec.dimension, role=r.spec.role.value, kind=r.spec.kind.value,
                           severity=r.spec.severity, points=r.spec.points, cap=r.spec.cap, fatal=r.spec.fatal,
                           tag=r.spec.tag, message=r.spec.message) for r in c.pack.rules],
    )

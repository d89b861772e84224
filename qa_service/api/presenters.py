"""Rows and domain objects → the public ``…Read`` shapes; the one place each mapping is written.

Used by the JSON routes and the web UI alike.
"""

from __future__ import annotations

from typing import Any

from qa_service.api.schemas import (
    AgreementRead,
    AppealRead,
    AuditRead,
    CalibrationRead,
    DimensionTally,
    ExampleCheck,
    FindingRead,
    FlagRead,
    KeyRead,
    KpiRead,
    ManualFindingRead,
    PackRead,
    ReportRead,
    ReviewedFinding,
    ReviewRead,
    ReviewSummary,
    RuleHit,
    RuleSummary,
    RuleTally,
    RuleTestResult,
    TranscriptRead,
    TranscriptSummary,
    UtteranceRead,
)
from qa_service.api.schemas.live import AlertRead, DeliveryRead, WebhookRead
from qa_service.config import ReviewSettings
from qa_service.domain import QAReport, TranscriptStatus
from qa_service.live import delivery
from qa_service.review.calibration_report import CalibrationReport
from qa_service.review.service import appeal_deadline
from qa_service.rules.check import ExampleResult
from qa_service.rules.engine import CompiledPack, PackMatch
from qa_service.rules.loader import RulePack
from qa_service.rules.schema import RuleKind
from qa_service.storage.alert_tables import AlertDelivery, LiveAlert, Webhook
from qa_service.storage.tables import (
    AgentKpi,
    ApiKey,
    Appeal,
    AuditEvent,
    Report,
    Review,
    Transcript,
)

# --- transcripts and reports ---------------------------------------------------------------------------------

def report_read(report: Report) -> ReportRead:
    return ReportRead(
        score=report.score, fatal=report.fatal,
        dimensions={name: d["score"] for name, d in report.dimensions.items()},
        dimension_details=report.dimensions, weights=report.weights, scorer_versions=report.scorer_versions,
        rule_pack=report.rule_pack, rule_pack_version=report.rule_pack_version,
        rule_pack_hash=report.rule_pack_hash, scorecard_version=report.scorecard_version,
        created_at=report.created_at,
        findings=[FindingRead.model_validate(f) for f in report.findings],
        flags=[FlagRead.model_validate(f) for f in report.flags],
    )


def transcript_read(row: Transcript) -> TranscriptRead:
    return TranscriptRead(
        id=row.id, source=row.source, external_id=row.external_id, channel=row.channel, agent_id=row.agent_id,
        team=row.team_id, queue=row.queue, scenario=row.scenario, started_at=row.started_at,
        received_at=row.received_at, status=row.status, attempts=row.attempts, last_error=row.last_error,
        metadata=row.meta or {},
        utterances=[UtteranceRead(seq=u.index, role=u.role, text=u.text, start_ms=u.start_ms, end_ms=u.end_ms,
                                  asr_confidence=u.asr_confidence) for u in row.utterances],
        report=report_read(row.report) if row.report and row.status == TranscriptStatus.scored.value else None,
    )


def transcript_summary(row: Transcript) -> TranscriptSummary:
    return TranscriptSummary(
        id=row.id, source=row.source, external_id=row.external_id, channel=row.channel, agent_id=row.agent_id,
        team=row.team_id, status=row.status, started_at=row.started_at, received_at=row.received_at,
        score=row.report.score if row.report else None,
        flags=sorted({f.reason for f in row.report.flags}) if row.report else [],
    )


# --- reviews ---------------------------------------------------------------------------------------------------

def review_summary(review: Review, transcript: Transcript) -> ReviewSummary:
    return ReviewSummary(
        id=review.id, transcript_id=review.transcript_id, agent_id=transcript.agent_id, team=transcript.team_id,
        channel=transcript.channel, started_at=transcript.started_at, status=review.status,
        reasons=list(review.reasons or []), severity=review.severity, priority=review.priority,
        assigned_to=review.assigned_to, machine_score=review.machine_score, machine_fatal=review.machine_fatal,
        final_score=review.final_score, final_fatal=review.final_fatal, created_at=review.created_at,
        completed_at=review.completed_at,
    )


def appeal_read(a: Appeal, review: Review, transcript: Transcript) -> AppealRead:
    return AppealRead(
        id=a.id, review_id=a.review_id, transcript_id=review.transcript_id, agent_id=transcript.agent_id,
        team=transcript.team_id, finding_id=a.finding_id, manual_finding_id=a.manual_finding_id, rule_id=a.rule_id,
        quote=a.quote, points=a.points, reason=a.reason, appellant=a.appellant, status=a.status,
        decided_by=a.decided_by, decision_comment=a.decision_comment, created_at=a.created_at,
        decided_at=a.decided_at,
    )


def review_read(review: Review, settings: ReviewSettings) -> ReviewRead:
    t = review.transcript
    report = t.report
    verdicts = {v.finding_id: v for v in review.verdicts if v.finding_id is not None}
    findings = []
    for f in report.findings if report else []:
        v = verdicts.get(f.id)
        findings.append(ReviewedFinding(
            **FindingRead.model_validate(f).model_dump(), verdict=v.verdict if v else None,
            verdict_comment=v.comment if v else None, verdict_by=v.reviewer if v else None,
            overturned_by_appeal=v.appeal_id if v else None))
    dims = report.dimensions if report else {}
    return ReviewRead(
        **review_summary(review, t).model_dump(),
        sample_week=review.sample_week, comment=review.comment, completed_by=review.completed_by,
        appeal_deadline=appeal_deadline(review, settings.appeal_window_days),
        machine_dimensions={n: d.get("score") for n, d in dims.items()},
        final_dimensions=review.final_dims,
        weights=report.weights if report else {},
        pass_mark=(report.pass_mark if report and report.pass_mark is not None else settings.pass_mark),
        findings=findings,
        manual_findings=[ManualFindingRead.model_validate(m) for m in review.manual_findings],
        appeals=[appeal_read(a, review, t) for a in review.appeals],
    )


def audit_read(e: AuditEvent) -> AuditRead:
    return AuditRead.model_validate(e)


def calibration_read(report: CalibrationReport, settings: ReviewSettings) -> CalibrationRead:
    cal, owners = report.calibration, report.owners

    def rule(rule_id: str) -> RuleTally:
        t = cal.rules[rule_id]
        return RuleTally(rule_id=rule_id, owner=owners.get(rule_id), reviewed=t.reviewed, confirmed=t.confirmed,
                         rejected=t.rejected, missed=t.missed, precision=t.precision)

    rules = sorted((rule(rid) for rid in cal.rules),
                   key=lambda x: (x.precision if x.precision is not None else 2, -x.reviewed, x.rule_id))
    a = cal.agreement
    return CalibrationRead(
        period=report.period, team=report.team, reviews=report.reviews, reviews_open=report.reviews_open,
        precision_threshold=settings.precision_threshold,
        min_reviewed=settings.min_reviewed, rules=rules,
        dimensions=[DimensionTally(dimension=d, reviewed=t.reviewed, confirmed=t.confirmed, rejected=t.rejected,
                                   missed=t.missed, precision=t.precision) for d, t in sorted(cal.dimensions.items())],
        agreement=AgreementRead(n=a.n, both_fail=a.tp, both_pass=a.tn, machine_only_fail=a.fp,
                                human_only_fail=a.fn, observed=a.accuracy if a.n else None,
                                expected=a.expected, kappa=a.kappa),
        low_precision=[rule(rid) for rid in cal.low_precision(settings.precision_threshold, settings.min_reviewed)],
    )


# --- rules -----------------------------------------------------------------------------------------------------

def pack_read(c: CompiledPack | RulePack, reload_error: str | None = None, warnings: list[str] | None = None
              ) -> PackRead:
    """A loaded pack (compiled or not: ``qa rules list --format json`` reads one as it stands on disk)."""
    pack = c.pack if isinstance(c, CompiledPack) else c
    spec = pack.spec
    return PackRead(
        name=pack.name, version=pack.version, scenario=pack.scenario, title=spec.title, hash=pack.hash,
        include=spec.include, exclude=sorted(pack.excluded), weights=spec.scorecard.weights,
        flag_below=spec.scorecard.flag_below, scorecard_version=spec.scorecard.version, flag_labels=spec.flag_labels,
        reload_error=reload_error, warnings=warnings or [],
        rules=[RuleSummary(id=r.id, dimension=r.spec.dimension, role=r.spec.role.value, kind=r.spec.kind.value,
                           severity=r.spec.severity, points=r.spec.points, cap=r.spec.cap, fatal=r.spec.fatal,
                           tag=r.spec.tag, flag=r.spec.flag, message=r.spec.message) for r in pack.rules],
    )


def rule_hits(compiled: CompiledPack, match: PackMatch) -> list[RuleHit]:
    """Every rule that fired, where (a missing requirement points at the turn it was expected in)."""
    hits = []
    for rule in compiled.pack.rules:
        if not match.fired(rule):
            continue
        spec = rule.spec
        if spec.kind == RuleKind.required:
            turn = match.missing_turn(rule)
            hits.append(RuleHit(rule_id=rule.id, dimension=spec.dimension, kind="missing",
                                utterance_index=turn.index, role=turn.role.value, span=(0, 0), quote="",
                                message=spec.message))
            continue
        for t, spans in sorted(match.hits[rule.id].items()):
            turn = match.turns[t]
            span, quote = turn.quote(spans[0] if spans else (0, len(turn.norm.text)))
            hits.append(RuleHit(rule_id=rule.id, dimension=spec.dimension, kind=spec.kind.value, utterance_index=t,
                                role=turn.role.value, span=span, quote=quote, message=spec.message))
    return hits


def dry_run_read(compiled: CompiledPack, match: PackMatch, report: QAReport,
                 examples: list[ExampleResult]) -> RuleTestResult:
    return RuleTestResult(
        pack=compiled.pack.name, version=compiled.pack.version, hash=compiled.pack.hash,
        hits=rule_hits(compiled, match), score=report.score,
        dimensions={n: round(d.score, 2) for n, d in report.dimensions.items()}, weights=report.weights,
        findings=[FindingRead(**f.as_dict()) for f in report.findings],
        flags=[FlagRead(reason=f.reason, severity=f.severity.value, detail=f.detail) for f in report.flags],
        metrics={n: d.metrics for n, d in report.dimensions.items()},
        examples=[ExampleCheck(rule_id=r.rule, example=r.example, expected="match" if r.expected else "no_match",
                               ok=r.ok) for r in examples],
    )


# --- access and KPIs -------------------------------------------------------------------------------------------

def key_read(row: ApiKey) -> KeyRead:
    return KeyRead(id=row.id, prefix=row.prefix, name=row.name, role=row.role, team=row.team_id,
                   created_at=row.created_at, created_by=row.created_by, last_used_at=row.last_used_at,
                   revoked_at=row.revoked_at)


def kpi_read(row: AgentKpi, fields: tuple[str, ...]) -> KpiRead:
    values: dict[str, Any] = {f: getattr(row, f) for f in fields if getattr(row, f) is not None}
    return KpiRead(agent_id=row.agent_id, team=row.team_id, date_from=row.date_from.isoformat(),
                   date_to=row.date_to.isoformat(), source=row.source, values=values)


# --- live QA -------------------------------------------------------------------------------------------------

def alert_read(a: LiveAlert) -> AlertRead:
    return AlertRead(alert_id=a.id, conversation_id=a.conversation_id, source=a.source, external_id=a.external_id,
                     team=a.team_id, agent_id=a.agent_id, rule=a.rule, severity=a.severity, message=a.message,
                     utterance_index=a.utterance_index, quote=a.quote, matched=a.matched, created_at=a.created_at, value=a.value,
                     transcript_id=a.transcript_id, status=a.status, acknowledged_at=a.acknowledged_at,
                     acknowledged_by=a.acknowledged_by, closed_at=a.closed_at,
                     note="\n".join(x for x in (a.note, a.close_note) if x) or None, ack_note=a.note,
                     close_note=a.close_note)


def webhook_read(w: Webhook, refused: str | None = None) -> WebhookRead:
    return WebhookRead(id=w.id, url=delivery.masked_url(w.url), format=w.format, teams=w.teams, signed=bool(w.secret),
                       created_at=w.created_at, created_by=w.created_by, refused=refused)


def delivery_read(d: AlertDelivery) -> DeliveryRead:
    return DeliveryRead(id=d.id, alert_id=d.alert_id, webhook_id=d.webhook_id, status=d.status, attempts=d.attempts,
                        next_attempt_at=d.next_attempt_at, last_error=d.last_error, delivered_at=d.delivered_at)

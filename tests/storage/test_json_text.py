"""JSON columns hold Chinese as itself: a ``LIKE '%建国路%'`` over them finds what it finds in the text columns.

A DPO answering "where is this person's data" searched ``audit_events.after`` with LIKE and found nothing,
although the six appeals holding the address were there: JSON was written with ``\\u5efa\\u56fd\\u8def``
(a probe, 2026-11-29). Each JSON write path is taken: the ingest's bulk insert (``transcripts.metadata``:
PostgreSQL's ``unnest``), a scored chunk's reports (``reports.dimensions``: PostgreSQL's ``COPY``) and the
ORM (``audit_events``, ``alert_deliveries``).
"""

from __future__ import annotations

from sqlalchemy import Text, cast, func, select

from qa_service.domain import DimensionScore
from qa_service.review import service as review_service
from qa_service.storage import alerts as alert_repo
from qa_service.storage.alert_tables import AlertDelivery, Webhook
from qa_service.storage.tables import AuditEvent, Report, Transcript
from tests.api.test_review_api import finding, report
from tests.storage.test_rollups import _store

ADDRESS = "北京市朝阳区建国路88号3单元502室"


def _like(rt, column, text: str) -> int:
    with rt.session() as s:
        return s.scalar(select(func.count()).where(cast(column, Text).like(f"%{text}%")))


def test_json_columns_are_found_by_like_in_chinese(rt):
    rep = report(  # a low score: flagged, so a review opens
        {"politeness": (40, 1.0, [finding("politeness", "rude", -10)])})
    rep.dimensions["objection"] = DimensionScore("objection", 90, "2", metrics={"quote": f"我住{ADDRESS}"})
    tid = _store(rt, "c1", rep, agent_id="a1", team="t", started_at="2026-10-01T10:00:00+08:00",
                 metadata={"customer": f"张伟，{ADDRESS}"})
    with rt.session() as s:
        review = review_service.for_transcript(session=s, transcript_id=tid)
        review_service.complete(session=s, review_id=review.id, by="r1", comment=None, confirm_rest=True)
        rude = review.transcript.report.findings[0].id
    with rt.session() as s:
        review_service.create_appeal(session=s, review_id=review.id, finding_id=rude, manual_finding_id=None,
                                     reason=f"客户住{ADDRESS}，不是辱骂", by="a1", window_days=7)
        s.add(Webhook(id=1, url="http://127.0.0.1:9/hook", format="json"))
        s.flush()
        [alert], _ = alert_repo.insert_alerts(session=s, rows=[{
            "conversation_id": 1, "source": "s", "external_id": "live-1", "team_id": "t", "agent_id": "a1",
            "rule": "complaint-threat", "severity": "critical", "message": "m", "utterance_index": 0,
            "quote": "打12315", "value": 0.9}])
        s.add(AlertDelivery(alert_id=alert.id, webhook_id=1, payload={"quote": f"我住{ADDRESS}"}))
    assert _like(rt, Transcript.meta, "建国路") == 1
    assert _like(rt, Report.dimensions, "建国路") == 1
    assert _like(rt, AuditEvent.after, "建国路") == 1  # the appeal's reason
    assert _like(rt, AlertDelivery.payload, "建国路") == 1
    with rt.session() as s:  # and they read back as written
        assert s.get(Transcript, tid).meta == {"customer": f"张伟，{ADDRESS}"}
        assert s.scalar(select(Report.dimensions).where(Report.transcript_id == tid))["objection"]["metrics"]["quote"] == f"我住{ADDRESS}"

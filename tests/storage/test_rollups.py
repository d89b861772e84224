"""The rollups kept current as reports and reviews are written equal the ones derived from scratch.

Stored as the worker and the review service store them: new reports (with findings), re-scores of a
transcript (new score, other findings), a review closed with a rejected finding, an accepted appeal,
a re-score after the review closed. Then ``qa_daily``, ``finding_counts``, ``qa_daily_versions`` and the
reviews' scope are compared with what :func:`storage.facts.rebuild` derives from the stored reports and reviews.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from qa_service.domain import AppealStatus
from qa_service.ingest.schema import TranscriptCreate
from qa_service.ingest.service import ingest
from qa_service.queue.tasks import record_report
from qa_service.review import service as review_service
from qa_service.storage import facts
from qa_service.storage.fact_tables import FindingCount, QaDaily, QaDailyVersion, QaFact
from qa_service.storage.tables import ManualFinding, Review, Verdict
from tests.api.test_review_api import UTTERANCES, finding, report
from tests.conftest import transcript


def _store(rt, external_id, rep, **fields):
    body = TranscriptCreate.model_validate(transcript(external_id, utterances=UTTERANCES, **fields))
    [outcome], _ = ingest([(0, body)], runtime=rt)
    with rt.session() as s:
        record_report(session=s, transcript_id=outcome.id, report=rep)
    return outcome.id


def _snapshot(rt):
    with rt.session() as s:
        daily = {(r.day, r.agent_key, r.team_key): {c: round(getattr(r, c), 6) for c in facts.rollups.SUMS}
                 for r in s.scalars(select(QaDaily)) if r.n}
        counts = {(r.day, r.team_key, r.rule_id): r.n for r in s.scalars(select(FindingCount)) if r.n}
        fact_rows = {r.transcript_id: (r.day, r.score, r.final_score) for r in s.scalars(select(QaFact))}
        scope = sorted((r.id, r.day, r.team_id, r.pass_mark) for r in s.scalars(select(Review)))
        scope += sorted((v.id, v.day, v.team_id, None) for v in s.scalars(select(Verdict)))
        scope += sorted((m.id, m.day, m.team_id, None) for m in s.scalars(select(ManualFinding)))
        versions = {(r.day, r.team_key, r.rule_pack, r.rule_pack_version, r.scorecard_version): r.n
                    for r in s.scalars(select(QaDailyVersion)) if r.n}
    return daily, counts, fact_rows, scope, versions


def test_rollups_kept_current_equal_rollups_derived_again(rt):
    rude, greet = finding("politeness", "rude", -10), finding("politeness", "greeting-missing", -10, seq=0)
    fatal = finding("compliance", "guarantee", -50, fatal=True)
    t1 = _store(rt, "t1", report({"politeness": (80, .5, [rude, greet]), "compliance": (50, .5, [fatal])}),
                agent_id="a1", team="sales", started_at="2026-10-01T23:30:00+08:00")
    t2 = _store(rt, "t2", report({"politeness": (90, 1.0, [rude])}), agent_id="a2", team="sales",
                started_at="2026-10-02T10:00:00+08:00")
    t3 = _store(rt, "t3", report({"politeness": (95, 1.0, [])}), agent_id="a2",
                started_at="2026-10-02T11:00:00+08:00")  # no team
    with rt.session() as s:  # a re-score: new score and findings replace the old ones in the rollups
        record_report(session=s, transcript_id=t2, report=report({"politeness": (40, 1.0, [greet, greet])}))
    with rt.session() as s:
        review = review_service.for_transcript(session=s, transcript_id=t1)
        fatal_id = next(f.id for f in review.transcript.report.findings if f.rule_id == "guarantee")
        review_service.set_verdict(session=s, review_id=review.id, finding_id=fatal_id, verdict="rejected",
                                   comment=None, by="r1")
        review_service.complete(session=s, review_id=review.id, by="r1", comment=None, confirm_rest=True)
        rude_id = next(f.id for f in review.transcript.report.findings if f.rule_id == "rude")
    with rt.session() as s:
        appeal = review_service.create_appeal(session=s, review_id=review.id, finding_id=rude_id,
                                              manual_finding_id=None, reason="不是辱骂", by="a1", window_days=7)
    with rt.session() as s:
        review_service.decide_appeal(session=s, appeal_id=appeal.id, decision=AppealStatus.accepted,
                                     comment=None, by="lead")
    with rt.session() as s:  # a re-score after the review closed keeps its final figures
        record_report(session=s, transcript_id=t1, report=report({"politeness": (70, 1.0, [rude])}))
    kept = _snapshot(rt)
    with rt.session() as s:
        facts.rebuild(s, rt.derivation)
    derived = _snapshot(rt)
    assert kept == derived
    daily, counts, fact_rows, _, versions = kept
    assert fact_rows[t1][2] is not None and fact_rows[t3][2] is None  # t1 reviewed, t3 not
    assert sum(n for (_, _, rule), n in counts.items() if rule == "greeting-missing") == 2  # t2's two; t1's went
    assert sum(v["n"] for v in daily.values()) == 3 and sum(versions.values()) == 3


def test_dashboard_reads_the_rollups(rt):
    from qa_service.period import parse_period
    from qa_service.storage.dashboard import dashboard

    rude = finding("politeness", "rude", -10)
    for i, (agent, score) in enumerate([("a1", 90), ("a1", 70), ("a2", 60)]):
        _store(rt, f"d{i}", report({"politeness": (score, 1.0, [rude] if score < 80 else [])}), agent_id=agent,
               team="sales", started_at=f"2026-10-0{i + 1}T09:00:00+08:00")
    with rt.session() as s:
        data = dashboard(session=s, period=parse_period("2026-10"), tz=rt.timezone)
    assert data["transcripts"] == 3
    assert [(a["agent_id"], a["mean"], a["n"]) for a in data["agents"]] == [("a1", 80.0, 2), ("a2", 60.0, 1)]
    assert data["trend"] == [{"team": "sales", "days": ["2026-10-01", "2026-10-02", "2026-10-03"],
                              "mean": [90.0, 70.0, 60.0], "n": [1, 1, 1]}]
    assert data["top_findings"] == [{"rule_id": "rude", "message": "问题", "dimension": "politeness", "count": 2}]
    assert data["radar"]["agent"] == [80.0] and data["radar"]["team_mean"] == [pytest.approx(73.33)]


def test_the_dashboards_frequent_findings_follow_done_reviews(rt):
    """A probe's case: two abuse findings, one rejected by a reviewer and one overturned by an accepted
    appeal, still showed as 2 on the dashboard; a miss a reviewer added never showed."""
    from qa_service.period import parse_period
    from qa_service.review.service import ManualFindingSpec
    from qa_service.storage.dashboard import top_findings

    rude = finding("politeness", "rude", -10)
    ids = [_store(rt, f"f{i}", report({"politeness": (50, 1.0, [rude])}), agent_id="a1", team="sales",
                  started_at=f"2026-10-0{i + 1}T09:00:00+08:00") for i in range(3)]
    period = parse_period("2026-10")
    with rt.session() as s:
        assert [(f["rule_id"], f["count"]) for f in top_findings(session=s, period=period)] == [("rude", 3)]
    with rt.session() as s:  # rejected, but the review is not done yet: still counted
        review = review_service.for_transcript(session=s, transcript_id=ids[0])
        fid = review.transcript.report.findings[0].id
        review_service.set_verdict(session=s, review_id=review.id, finding_id=fid, verdict="rejected",
                                   comment=None, by="r1")
        review_service.add_manual(session=s, review_id=review.id, by="r1", spec=ManualFindingSpec(
            dimension="politeness", utterance_index=1, points=-5, message="漏检：推诿", rule_id="shirk",
            quote="肯定保本"))
    with rt.session() as s:
        assert [(f["rule_id"], f["count"]) for f in top_findings(session=s, period=period)] == [("rude", 3)]
        review_service.complete(session=s, review_id=review.id, by="r1", comment=None, confirm_rest=True)
    with rt.session() as s:
        review = review_service.for_transcript(session=s, transcript_id=ids[1])
        fid = review.transcript.report.findings[0].id
        review = review_service.complete(session=s, review_id=review.id, by="r1", comment=None, confirm_rest=True)
        appeal = review_service.create_appeal(session=s, review_id=review.id, finding_id=fid, manual_finding_id=None,
                                              reason="不是", by="a1", window_days=7)
    with rt.session() as s:
        review_service.decide_appeal(session=s, appeal_id=appeal.id, decision=AppealStatus.accepted, comment=None,
                                     by="lead")
    with rt.session() as s:
        top = top_findings(session=s, period=period)
        assert [(f["rule_id"], f["count"]) for f in top] == [("rude", 1), ("shirk", 1)]
        assert top[1]["message"] == "漏检：推诿"
        assert top_findings(session=s, period=period, team="other") == []
    with rt.session() as s:  # re-scored without the rejected finding: its verdict no longer takes one off
        record_report(session=s, transcript_id=ids[0], report=report({"politeness": (50, 1.0, [])}))
    with rt.session() as s:
        assert [(f["rule_id"], f["count"]) for f in top_findings(session=s, period=period)] == [("rude", 1), ("shirk", 1)]

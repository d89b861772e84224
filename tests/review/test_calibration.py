"""Calibration counts done reviews only, and names an owner for findings no rule defines — through
the service, the API and ``qa eval --from-reviews``, on a real database."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from qa_service.app import create_app
from qa_service.config import ReviewSettings
from qa_service.evaluation.run import from_reviews
from qa_service.ingest.schema import TranscriptCreate
from qa_service.ingest.service import ingest
from qa_service.period import parse_period
from qa_service.queue.tasks import record_report
from qa_service.review import service
from qa_service.review.calibration import pack_owners
from qa_service.review.service import ManualFindingSpec
from tests.api.test_review_api import UTTERANCES, finding, report
from tests.conftest import make_settings, transcript

OCTOBER = parse_period("2026-10")


@pytest.fixture
def api(tmp_path, db_url, redis_url, redis_conn):
    with TestClient(create_app(make_settings(tmp_path, db_url, redis_url, review=ReviewSettings(min_reviewed=2)))) as c:
        yield c


def _scored(rt, external_id: str, rep) -> int:
    body = TranscriptCreate.model_validate(transcript(external_id, utterances=UTTERANCES))
    [outcome], _ = ingest([(0, body)], runtime=rt)
    with rt.session() as s:
        record_report(session=s, transcript_id=outcome.id, report=rep)
    return outcome.id


def _two_findings(pack: str = "general"):
    return replace(report({"politeness": (70, 1.0, [
        finding("politeness", "general.rude-dismissive", -20),
        finding("politeness", "detector.no-empathy", -10, span=(0, 3))])}), rule_pack=pack)


def _judge(rt, tid: int, verdicts: dict[str, str], *, miss: bool = False, done: bool = True) -> int:
    with rt.session() as s:
        review, _ = service.open_review(session=s, transcript_id=tid, by="qa-li")
        ids = {f.rule_id: f.id for f in review.transcript.report.findings}
        for rule_id, verdict in verdicts.items():
            service.set_verdict(session=s, review_id=review.id, finding_id=ids[rule_id], verdict=verdict,
                                comment=None, by="qa-li")
        if miss:
            service.add_manual(session=s, review_id=review.id, by="qa-li", spec=ManualFindingSpec(
                dimension="politeness", utterance_index=1, points=-5, message="漏检：未致歉",
                rule_id="detector.no-empathy", quote="稳赚不赔"))
        if done:
            service.complete(session=s, review_id=review.id, by="qa-li", comment=None, confirm_rest=False)
        return review.id


def test_calibration_counts_an_open_reviews_verdicts_only_once_it_is_done(api):
    """Found by a probe: a reviewer's rejection on a review still in progress moved
    ``detector.no-empathy`` from 3/3 to 3/4 (precision 0.75) in ``GET /v1/calibration`` and ``qa eval
    --from-reviews``, while κ beside it counted done reviews only; ``reviews`` said 17 over κ's n=13."""
    rt = api.app.state.runtime
    first = _scored(rt, "D1", _two_findings())
    _judge(rt, first, {"general.rude-dismissive": "confirmed", "detector.no-empathy": "confirmed"})
    second = _scored(rt, "D2", _two_findings())
    open_id = _judge(rt, second, {"general.rude-dismissive": "rejected", "detector.no-empathy": "rejected"},
                     miss=True, done=False)

    def figures() -> tuple:
        cal = api.get("/v1/calibration", params={"period": "2026-10"}).json()
        rules = {r["rule_id"]: r for r in cal["rules"]}
        pol = next(d for d in cal["dimensions"] if d["dimension"] == "politeness")
        emp = rules["detector.no-empathy"]
        return (cal["reviews"], cal["reviews_open"], cal["agreement"]["n"],
                (emp["reviewed"], emp["confirmed"], emp["rejected"], emp["missed"], emp["precision"]),
                (pol["reviewed"], pol["confirmed"], pol["rejected"], pol["missed"]))

    # The open review's two rejections and its miss move nothing: one done review, two confirmations.
    assert figures() == (1, 1, 1, (1, 1, 0, 0, 1.0), (2, 2, 0, 0))
    with rt.session() as s:
        out = from_reviews(session=s, period=OCTOBER)
    assert (out["reviews"], out["reviews_open"], out["done"]) == (1, 1, 1)
    assert out["rules"]["detector.no-empathy"] == {"reviewed": 1, "confirmed": 1, "rejected": 0, "missed": 0,
                                                   "precision": 1.0, "recall": 1.0}
    page = api.get("/ui/calibration", params={"period": "2026-10"}).text
    assert "1 条已完成复核（另有 1 条未完成，不计入）" in page

    # Completed: now they count (the rejection and the miss), and κ covers the same two reviews.
    with rt.session() as s:
        service.complete(session=s, review_id=open_id, by="qa-li", comment=None, confirm_rest=False)
    assert figures() == (2, 0, 2, (2, 1, 1, 1, 0.5), (4, 2, 2, 1))
    with rt.session() as s:
        out = from_reviews(session=s, period=OCTOBER)
    assert (out["reviews"], out["reviews_open"], out["done"]) == (2, 0, 2)
    assert out["rules"]["general.rude-dismissive"]["precision"] == 0.5
    assert "2 条已完成复核" in api.get("/ui/calibration", params={"period": "2026-10"}).text


def test_calibration_names_the_scoring_packs_owner_for_detector_findings(api):
    """Found by a probe: every ``detector.*`` rule in the low-precision list had ``"owner": null``, though
    its points come from the ``detectors:`` section of a pack that has an owner."""
    rt = api.app.state.runtime
    for i, pack in enumerate(["after_sales", "after_sales", "general"]):
        tid = _scored(rt, f"O{i}", _two_findings(pack))
        _judge(rt, tid, {"general.rude-dismissive": "confirmed", "detector.no-empathy": "rejected"})
    cal = api.get("/v1/calibration", params={"period": "2026-10"}).json()
    rules = {r["rule_id"]: r for r in cal["rules"]}
    # Two verdicts from after_sales (售后质检组), one from general (质检规则组): both named, most first.
    assert rules["detector.no-empathy"]["owner"] == "售后质检组、质检规则组"
    assert rules["general.rude-dismissive"]["owner"] == "质检规则组"  # a rule's own pack, as before
    low = {r["rule_id"]: r["owner"] for r in cal["low_precision"]}
    assert low == {"detector.no-empathy": "售后质检组、质检规则组"}
    assert "售后质检组、质检规则组" in api.get("/ui/calibration", params={"period": "2026-10"}).text


def test_pack_owners_falls_back_to_the_default_pack():
    owners = {"general": "质检规则组", "after_sales": "售后质检组", "presale": None}
    rows = [("detector.rude", "presale", 3), ("detector.rude", "after_sales", 1), ("detector.unresolved", None, 2),
            ("objection.unhandled", "gone_pack", 1)]
    assert pack_owners(rows, owners, "general") == {"detector.rude": "质检规则组、售后质检组",
                                                    "detector.unresolved": "质检规则组",
                                                    "objection.unhandled": "质检规则组"}
    assert pack_owners(rows, {}, "general") == {}

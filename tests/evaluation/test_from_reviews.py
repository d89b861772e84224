"""``qa eval --from-reviews``: the machine against a site's own reviewers, from the review workflow."""

from __future__ import annotations


import pytest

from qa_service.domain import Flag, Severity
from qa_service.evaluation.run import from_reviews
from qa_service.ingest.schema import TranscriptCreate
from qa_service.ingest.service import ingest
from qa_service.period import parse_period
from qa_service.queue.tasks import record_report
from qa_service.review import service
from qa_service.review.service import ManualFindingSpec
from qa_service.runtime import Runtime
from tests.api.test_review_api import UTTERANCES, finding, report
from tests.conftest import make_settings, transcript


@pytest.fixture
def rt(tmp_path, db_url, redis_url, redis_conn):
    runtime = Runtime(make_settings(tmp_path, db_url, redis_url))
    yield runtime
    runtime.close()


def _scored(rt, external_id: str, rep) -> int:
    [outcome], _ = ingest([(0, TranscriptCreate.model_validate(transcript(external_id, utterances=UTTERANCES)))],
                          runtime=rt)
    with rt.session() as s:
        record_report(session=s, transcript_id=outcome.id, report=rep)
    return outcome.id


def test_uncertain_findings_put_the_transcript_in_the_review_queue(rt):
    rep = report({"politeness": (95, 1.0, [])})
    rep.report_flags.append(Flag("uncertain", Severity.minor, "1 条机检结果置信度不足"))
    tid = _scored(rt, "U1", rep)
    with rt.session() as s:
        assert service.for_transcript(session=s, transcript_id=tid).reasons == ["uncertain"]


def test_from_reviews_counts_kept_rejected_and_missed_findings(rt):
    two = report({"politeness": (70, 1.0, [finding("politeness", "general.rude-dismissive", -20),
                                           finding("politeness", "detector.no-empathy", -10, span=(0, 3))])})
    tid = _scored(rt, "R1", two)
    with rt.session() as s:
        review, _ = service.open_review(session=s, transcript_id=tid, by="qa-li")  # unflagged: queued by hand
        rude, empathy = sorted(review.transcript.report.findings, key=lambda f: f.rule_id)[1], \
            sorted(review.transcript.report.findings, key=lambda f: f.rule_id)[0]
        service.set_verdict(session=s, review_id=review.id, finding_id=rude.id, verdict="confirmed", comment=None,
                            by="qa-li")
        service.set_verdict(session=s, review_id=review.id, finding_id=empathy.id, verdict="rejected",
                            comment="已安抚", by="qa-li")
        service.add_manual(session=s, review_id=review.id, by="qa-li", spec=ManualFindingSpec(
            dimension="politeness", utterance_index=1, points=-5, message="漏检：未致歉",
            rule_id="detector.no-empathy", quote="稳赚不赔"))
        service.complete(session=s, review_id=review.id, by="qa-li", comment=None, confirm_rest=True)
    with rt.session() as s:
        out = from_reviews(session=s, period=parse_period("2026-01-01..2026-12-31"))
    assert out["reviews"] == 1 and out["done"] == 1
    pol = out["dimensions"]["politeness"]  # 2 judged, 1 kept, 1 rejected; 1 added by the reviewer
    assert (pol["reviewed"], pol["confirmed"], pol["rejected"], pol["missed"]) == (2, 1, 1, 1)
    assert pol["precision"] == 0.5 and pol["recall"] == 0.5
    assert out["rules"]["detector.no-empathy"]["precision"] == 0.0


def _done_review(rt, external_id: str = "R2") -> None:
    tid = _scored(rt, external_id, report({"politeness": (70, 1.0, [finding("politeness", "general.rude-dismissive",
                                                                             -20)])}))
    with rt.session() as s:
        review, _ = service.open_review(session=s, transcript_id=tid, by="qa-li")
        service.complete(session=s, review_id=review.id, by="qa-li", comment=None, confirm_rest=True)


def _eval(*args: str):
    from typer.testing import CliRunner

    from qa_service.cli import app

    return CliRunner().invoke(app, ["eval", "--from-reviews", *args])


def test_from_reviews_refuses_a_data_dir_with_no_database_and_creates_none(tmp_path, monkeypatch, fresh_settings):
    """Was: run where the service's data is not (or without its QA_DB__URL), it made an empty ./qa-data/qa.sqlite3
    and reported zero reviews, exit 0."""
    monkeypatch.delenv("QA_DB__URL", raising=False)
    empty = tmp_path / "elsewhere"
    out = _eval("--period", "2026-10", "--data-dir", str(empty))
    assert out.exit_code == 2, out.output
    message = " ".join(out.stderr.split())
    assert f"no database at sqlite:///{(empty / 'qa.sqlite3').resolve()}" in message and "nothing was created" in message
    assert not empty.exists()
    empty.mkdir()
    (empty / "qa.sqlite3").touch()  # a file, but never a database of the service's
    out = _eval("--period", "2026-10", "--data-dir", str(empty))
    assert out.exit_code == 2 and "has no schema" in out.stderr


def test_from_reviews_names_the_database_and_refuses_an_unknown_team_or_a_period_with_no_review(
        rt, monkeypatch, fresh_settings):
    """Was: a mistyped team and a period with no review both gave zeros, exit 0, naming no database."""
    _done_review(rt)
    monkeypatch.setenv("QA_DB__URL", rt.settings.db.url)
    typo = _eval("--period", "2026-10", "--team", "aftersales")
    assert typo.exit_code == 2, typo.output
    assert "no team 'aftersales' in the database" in typo.stderr and "its teams: after-sales" in typo.stderr
    none = _eval("--period", "2025-10")
    assert none.exit_code == 1, none.output
    said = " ".join(none.stderr.split())
    assert "no review of a conversation of 2025-10 (2025-10-01..2025-10-31) in the database" in said
    assert "which holds 1 conversation(s) and 1 review(s) in all" in said
    out = _eval("--period", "2026-10", "--team", "after-sales")
    assert out.exit_code == 0, out.output
    import json

    from qa_service.config import masked_url

    got = json.loads(out.stdout)
    assert got["reviews"] == 1 and got["team"] == "after-sales" and got["database"] == masked_url(rt.settings.db.url)
    # κ's 2×2 table, as GET /v1/calibration gives it (was: κ alone): the machine's 70 passes, and so does the
    # final score with the rude finding confirmed
    assert got["pass_fail"] == {"both_pass": 1, "both_fail": 0, "machine_only_fail": 0, "human_only_fail": 0}

"""``qa purge --before``: conversations of earlier local days go with everything derived from them; later
ones, and the rollups of their days, stay exactly as they were."""

from __future__ import annotations

from sqlalchemy import func, select
from typer.testing import CliRunner

from qa_service.cli import app
from qa_service.config import get_settings
from qa_service.performance import service as performance
from qa_service.performance.kpi import parse_records
from qa_service.storage import facts
from qa_service.storage.fact_tables import FindingCount, QaDaily, QaFact
from qa_service.storage.tables import AgentKpi, Review, Transcript, Utterance, Verdict
from tests.api.test_review_api import finding, report
from tests.storage.test_rollups import _snapshot, _store


def _count(rt, table) -> int:
    with rt.session() as s:
        return s.scalar(select(func.count()).select_from(table))


def test_purge_deletes_what_is_older_and_keeps_the_rest(rt, monkeypatch, tmp_path, request):
    rude = finding("politeness", "rude", -10)
    old = _store(rt, "old", report({"politeness": (40, 1.0, [rude])}), agent_id="a1", team="t",
                 started_at="2026-09-30T23:59:00+08:00")  # the last minute of 30 September in Shanghai
    _store(rt, "new", report({"politeness": (90, 1.0, [rude])}), agent_id="a1", team="t",
           started_at="2026-10-01T00:01:00+08:00")
    from qa_service.review import service as review_service

    with rt.session() as s:
        review = review_service.for_transcript(session=s, transcript_id=old)
        review_service.complete(session=s, review_id=review.id, by="r1", comment=None, confirm_rest=True)
        parsed = parse_records([{"agent_id": "a1", "date": d, "team": "t", "contacts": 5}
                                for d in ("2026-09-30", "2026-10-01")])
        performance.import_kpis(session=s, records=parsed.records, source="t", known=rt.known_ids)
    assert _count(rt, Verdict) == 1 and _count(rt, AgentKpi) == 2
    for name in ("QA_DB__URL", "QA_REDIS__URL"):
        monkeypatch.setenv(name, getattr(rt.settings, name.split("__")[0][3:].lower()).url)
    monkeypatch.setenv("QA_DATA_DIR", str(tmp_path / "cli"))
    get_settings.cache_clear()  # the CLI reads the environment set here, not settings cached before
    request.addfinalizer(get_settings.cache_clear)
    runner = CliRunner()
    dry = runner.invoke(app, ["purge", "--before", "2026-10-01", "--dry-run"])
    assert dry.exit_code == 0 and "1 transcript(s), 1 KPI record(s)" in dry.output, dry.output
    assert _count(rt, Transcript) == 2
    done = runner.invoke(app, ["purge", "--before", "2026-10-01", "--yes"])
    assert done.exit_code == 0 and "purged 1 transcript(s) and 1 KPI record(s)" in done.output, done.output
    with rt.session() as s:
        assert [t.external_id for t in s.scalars(select(Transcript))] == ["new"]
        assert {u.transcript_id for u in s.scalars(select(Utterance))} == {old + 1}
    assert (_count(rt, Review), _count(rt, Verdict), _count(rt, QaFact), _count(rt, AgentKpi)) == (0, 0, 1, 1)
    with rt.session() as s:
        assert [str(d.day) for d in s.scalars(select(QaDaily))] == ["2026-10-01"]
        assert [str(c.day) for c in s.scalars(select(FindingCount))] == ["2026-10-01"]
    kept = _snapshot(rt)
    with rt.session() as s:
        facts.rebuild(s, rt.derivation)
    assert _snapshot(rt) == kept
    assert runner.invoke(app, ["purge", "--before", "1 October"]).exit_code == 2


def _cli_env(rt, monkeypatch, tmp_path, request) -> CliRunner:
    for name in ("QA_DB__URL", "QA_REDIS__URL"):
        monkeypatch.setenv(name, getattr(rt.settings, name.split("__")[0][3:].lower()).url)
    monkeypatch.setenv("QA_DATA_DIR", str(tmp_path / "cli"))
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)
    return CliRunner()


def test_purge_takes_live_alerts_with_their_conversations_and_counts_a_rescore_once(rt, monkeypatch, tmp_path,
                                                                                      request):
    from qa_service.storage import alerts as alert_repo
    from qa_service.storage.alert_tables import AlertDelivery, LiveAlert, Webhook

    old = _store(rt, "old", report({"politeness": (90, 1.0, [])}), agent_id="a1", team="t",
                 started_at="2026-09-20T10:00:00+08:00")
    keep = _store(rt, "keep", report({"politeness": (90, 1.0, [])}), agent_id="a1", team="t",
                  started_at="2026-10-02T10:00:00+08:00")
    alert = {"source": "s", "team_id": "t", "agent_id": "a1", "rule": "complaint-threat", "severity": "critical",
             "message": "m", "utterance_index": 0, "quote": "打12315", "value": 0.9}
    with rt.session() as s:
        s.add(Webhook(id=1, url="http://127.0.0.1:9/hook", format="json"))
        s.flush()
        stored, _ = alert_repo.insert_alerts(session=s, rows=[
            {**alert, "conversation_id": 1, "external_id": "old"}, {**alert, "conversation_id": 2, "external_id": "keep"},
            {**alert, "conversation_id": 3, "external_id": "never-ended"}])
        for a, tid in zip(stored, (old, keep, None)):
            s.get(LiveAlert, a.id).transcript_id = tid
        s.get(LiveAlert, stored[2].id).created_at = stored[2].created_at.replace(year=2026, month=9, day=21)
        s.get(Transcript, old).status = "scoring"  # being scored again: its facts say 20 September
    runner = _cli_env(rt, monkeypatch, tmp_path, request)
    dry = runner.invoke(app, ["purge", "--before", "2026-10-01", "--dry-run"])
    assert "1 transcript(s)" in dry.output, dry.output  # counted once, by its facts' day
    done = runner.invoke(app, ["purge", "--before", "2026-10-01", "--yes"])
    assert done.exit_code == 0 and "purged 1 transcript(s)" in done.output, done.output
    with rt.session() as s:
        assert [a.external_id for a in s.scalars(select(LiveAlert))] == ["keep"]
        assert s.scalar(select(func.count()).select_from(AlertDelivery)) == 1


def test_an_interrupted_purge_leaves_no_figures_of_what_it_deleted(rt):
    from datetime import date

    from qa_service.storage import retention

    _store(rt, "old", report({"politeness": (90, 1.0, [])}), agent_id="a1", team="t",
           started_at="2026-09-20T10:00:00+08:00")
    with rt.session() as s:  # the first step of a purge: the purged days' rollups go before any transcript
        retention.purge_rollups(session=s, before=date(2026, 10, 1))
    assert _count(rt, QaDaily) == 0 and _count(rt, FindingCount) == 0


def test_purge_refuses_a_day_not_written_yyyy_mm_dd(rt, monkeypatch, tmp_path, request):
    runner = _cli_env(rt, monkeypatch, tmp_path, request)
    for day in ("20261010", "2026-W43", "2026-10-1"):
        out = runner.invoke(app, ["purge", "--before", day, "--dry-run"])
        assert out.exit_code == 2 and "YYYY-MM-DD" in out.output, (day, out.output)


def test_purge_refuses_a_day_after_today_and_takes_today(rt, monkeypatch, tmp_path, request):
    """A mistyped year (``--before 2030-01-01``) would delete every conversation, today's and those not yet
    scored among them (found by an operator probe, 2026-11-29): a day after today (in
    ``QA_PERFORMANCE__TIMEZONE``) is refused, nothing deleted; today itself purges every day before it."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo("Asia/Shanghai"))
    _store(rt, "today", report({"politeness": (90, 1.0, [])}), agent_id="a1", team="t",
           started_at=today.isoformat())
    runner = _cli_env(rt, monkeypatch, tmp_path, request)
    for day in ("2030-01-01", (today.date() + timedelta(days=1)).isoformat()):
        out = runner.invoke(app, ["purge", "--before", day, "--yes"])
        assert out.exit_code == 2 and f"refuses --before {day}" in out.output, out.output
        assert f"the latest is --before {today.date()}" in out.output and "Nothing was deleted" in out.output
    assert _count(rt, Transcript) == 1
    out = runner.invoke(app, ["purge", "--before", today.date().isoformat(), "--yes"])
    assert out.exit_code == 0 and "purged 0 transcript(s)" in out.output, out.output
    assert _count(rt, Transcript) == 1


def test_purge_drops_what_redis_keeps_of_a_purged_live_conversation(rt, monkeypatch, tmp_path, request):
    """Was (a DPO probe, 2026-11-29): an ended live conversation's hash (its fields, the last customer turn) and
    its key stayed in Redis for up to a day after its transcript was purged, and opening it again answered
    ``ended`` with a transcript that was gone. Purge and erasure now share one deletion, which returns the live
    conversations to drop from Redis."""
    from qa_service.storage import live as live_repo
    from qa_service.storage.alerts import record_transcript

    old = _store(rt, "old", report({"politeness": (90, 1.0, [])}), agent_id="a1", team="t",
                 started_at="2026-09-20T10:00:00+08:00")
    keep = _store(rt, "keep", report({"politeness": (90, 1.0, [])}), agent_id="a1", team="t",
                  started_at="2026-10-02T10:00:00+08:00")
    cids = {}
    for name, tid in (("old", old), ("keep", keep)):
        cids[name], _ = live_repo.create(rt.redis, ("jd-chat", name), {"source": "jd-chat"}, {}, 0.0)
        live_repo.mark_ended(rt.redis, cids[name], tid, ("jd-chat", name))
        with rt.session() as s:
            record_transcript(session=s, conversation_id=cids[name], transcript_id=tid)
    runner = _cli_env(rt, monkeypatch, tmp_path, request)
    done = runner.invoke(app, ["purge", "--before", "2026-10-01", "--yes"])
    assert done.exit_code == 0 and "purged 1 transcript(s)" in done.output, done.output
    assert live_repo.find(rt.redis, ("jd-chat", "old")) is None and live_repo.load(rt.redis, cids["old"]) is None
    assert rt.redis.get("qa:live:key:jd-chat\x1fold") is None
    assert live_repo.find(rt.redis, ("jd-chat", "keep")) == cids["keep"]  # the kept one's stays

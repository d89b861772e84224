"""A period whose reports come from more than one scoring (rule pack version, scorecard version) says so beside
its figures, and ``qa rescore --outdated`` scores again only the reports the current packs would score otherwise.

Found by an upgrade probe (2026-11-29): after f2bff0e → HEAD the same conversations averaged 99.47 under the old
scoring and 85.23 under the new; until re-scored, a period mixed both and every after-sales agent's grade moved
with the share of their conversations scored after the upgrade. ``GET /v1/appraisals`` said ``"warnings": []``.
"""

from __future__ import annotations

import io
import logging
from dataclasses import replace

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import delete, func, select

from qa_service.app import create_app
from qa_service.queue.tasks import record_report
from qa_service.queue.worker import run_worker
from qa_service.storage import facts, scoring_versions
from qa_service.storage import transcripts as repo
from qa_service.storage.db import session_scope
from qa_service.storage.fact_tables import QaDailyVersion
from tests.api.test_review_api import report
from tests.conftest import make_settings, transcript
from tests.test_cli_ops import _env, _invoke

OLD = ("general", "1.1.0", "golden-oof-2026-11-27")  # what 9e19816 recorded


def _store(client, external_id: str, version, score: float = 90.0, **fields) -> int:
    r = client.post("/v1/transcripts", json=transcript(external_id, **fields))
    assert r.status_code == 202, r.text
    tid = r.json()["id"]
    pack, pack_version, card = version
    rep = replace(report({"politeness": (score, 1.0, [])}), rule_pack=pack, rule_pack_version=pack_version,
                  scorecard_version=card)
    with session_scope(client.app.state.runtime.sessions) as s:
        record_report(session=s, transcript_id=tid, report=rep)
    return tid


def _warnings(client, **params) -> tuple[list[str], list[str]]:
    perf = client.get("/v1/performance", params={"period": "2026-10", **params})
    appraisal = client.get("/v1/appraisals", params={"period": "2026-10", **params})
    assert perf.status_code == 200 and appraisal.status_code == 200, perf.text + appraisal.text
    return perf.json()["warnings"], appraisal.json()["warnings"]


def test_a_period_mixing_scorings_warns_and_rescore_outdated_takes_only_the_older_ones(tmp_path, db_url, redis_url,
                                                                                       redis_conn):
    settings = make_settings(tmp_path, db_url, redis_url)
    env = _env(settings)
    with TestClient(create_app(settings)) as client:
        rt = client.app.state.runtime
        rt.sync_facts()
        now, _ = rt.rulebook.recorded_versions()  # general 1.3.3 / golden-oof-2026-11-28c today
        assert now != OLD and now[0] == "general"
        old_ids = [_store(client, f"old-{i}", OLD, 99.0, started_at=f"2026-10-0{i + 1}T10:00:00+08:00")
                   for i in range(3)]
        presale_old = _store(client, "old-p", OLD, 99.0, agent_id="a8", team="presale")
        assert _warnings(client) == ([], [])  # one scoring: nothing to say
        new_ids = [_store(client, f"new-{i}", now, 85.0, started_at=f"2026-10-1{i}T10:00:00+08:00") for i in range(2)]

        perf, appraisal = _warnings(client)
        assert perf == appraisal and len(perf) == 1, perf
        said = perf[0]
        assert (f"general 1.1.0 / scorecard golden-oof-2026-11-27: 4; general {now[1]} / scorecard {now[2]}: 2"
                in said), said
        assert "`qa rescore --period 2026-10 --outdated`" in said and "本期质检报告来自多个评分版本" in said
        perf, _ = _warnings(client, team="presale")  # that team's reports are of one scoring
        assert perf == []
        perf, _ = _warnings(client, team="after-sales")
        assert len(perf) == 1 and "for team after-sales" in perf[0] and ": 3;" in perf[0], perf
        assert "--period 2026-10 --team after-sales --outdated" in perf[0]
        xlsx = client.get("/v1/appraisals", params={"period": "2026-10", "format": "xlsx"})
        info = load_workbook(io.BytesIO(xlsx.content))["说明"]
        assert any(row[0] == "注意" and "more than one scoring version" in row[1]
                   for row in info.iter_rows(values_only=True)), "no warning on the 说明 sheet"
        with rt.session() as s:  # read from the rollup: the same as derived from the reports
            kept = scoring_versions.in_period(session=s, start=_day(1), end=_day(31))
            facts.rebuild(s, rt.derivation)
            assert scoring_versions.in_period(session=s, start=_day(1), end=_day(31)) == kept == [
                (*OLD, 4), (*now, 2)]

        result = _invoke(["rescore", "--period", "2026-10", "--team", "after-sales", "--outdated", "--dry-run"], env)
        out = " ".join(result.output.split())
        assert result.exit_code == 0, out
        assert "the current rule packs record: " in out and f"general {now[1]} / scorecard {now[2]}" in out, out
        assert "scored otherwise than the current rule packs would: 3 scored transcript(s) to score again" in out, out
        assert "3 scored with general 1.1.0 / scorecard golden-oof-2026-11-27" in out, out
        result = _invoke(["rescore", "--outdated", "--dry-run"], env)  # alone: every period, every team
        out = " ".join(result.output.split())
        assert "all periods, scored otherwise than the current rule packs would: 4 scored transcript(s)" in out, out
        result = _invoke(["rescore", "--period", "2026-10", "--team", "after-sales", "--outdated", "--yes"], env)
        assert result.exit_code == 0 and "3 transcript(s) marked to be scored again" in " ".join(result.output.split())
        with rt.session() as s:
            status = {t: repo.get(session=s, transcript_id=t).status for t in [*old_ids, presale_old, *new_ids]}
        assert [status[t] for t in old_ids] == ["queued"] * 3
        assert status[presale_old] == "scored" and [status[t] for t in new_ids] == ["scored"] * 2

        run_worker(settings, burst=True, reconcile=False)  # scored again by the current packs
        assert _warnings(client, team="after-sales") == ([], [])
        perf, _ = _warnings(client)  # the presale one is still of the old scoring, beside the new ones
        assert len(perf) == 1 and "general 1.1.0 / scorecard golden-oof-2026-11-27: 1" in perf[0], perf
        result = _invoke(["rescore", "--period", "2026-10", "--team", "after-sales", "--outdated", "--dry-run"], env)
        assert "0 scored transcript(s) to score again" in " ".join(result.output.split())


def _day(d: int):
    from datetime import date

    return date(2026, 10, d)


def test_rescore_refuses_period_with_all(client, settings):
    result = _invoke(["rescore", "--period", "2026-10", "--all", "--outdated"], _env(settings))
    assert result.exit_code == 2 and "give --period or --all" in result.output, result.output


def test_a_rollup_an_older_worker_left_behind_is_said_by_status_and_derived_again_by_upgrade(
        tmp_path, db_url, redis_url, redis_conn, caplog, monkeypatch):
    """A worker of a release before 0015 left running after the upgrade stores a report with its facts but not in
    qa_daily_versions; a current worker scoring it again takes back a count never added (-1). Found by a review:
    every period's warning then named ``general 1.1.0 / …: -1`` for good, and neither qa db upgrade nor qa status
    saw it."""
    settings = make_settings(tmp_path, db_url, redis_url)
    env = _env(settings)
    with TestClient(create_app(settings)) as client:
        rt = client.app.state.runtime
        rt.sync_facts()
        now, _ = rt.rulebook.recorded_versions()
        kept = _store(client, "new-0", now, 85.0, started_at="2026-10-02T10:00:00+08:00")
        tid = _store(client, "old-0", OLD, 99.0)  # 2026-10-01
        with rt.session() as s:  # as that worker stored it: facts and qa_daily, no version counted
            s.execute(delete(QaDailyVersion).where(QaDailyVersion.rule_pack_version == OLD[1]))
        rep = replace(report({"politeness": (85.0, 1.0, [])}), rule_pack=now[0], rule_pack_version=now[1],
                      scorecard_version=now[2])
        with session_scope(rt.sessions) as s:  # scored again by a current worker
            record_report(session=s, transcript_id=tid, report=rep)
        assert kept and rt.derive_missing_facts() == 0 and rt.sync_facts() is None  # neither sees it

        monkeypatch.setattr(scoring_versions, "_said_below_zero", False)
        monkeypatch.setattr(logging.getLogger("qa_service.storage.scoring_versions"), "disabled", False)
        with caplog.at_level(logging.WARNING, logger="qa_service.storage.scoring_versions"):
            assert _warnings(client) == ([], [])  # the -1 is left out: one scoring, nothing to say
            assert _warnings(client) == ([], [])
        assert caplog.text.count("qa_daily_versions counts a scoring version below zero") == 1, caplog.text
        with rt.session() as s:
            assert scoring_versions.in_period(session=s, start=_day(1), end=_day(31)) == [(*now, 2)]
            assert scoring_versions.drift(s.connection()) == scoring_versions.Drift(days=1, below_zero=1)

        redis_conn.flushdb()  # ingest's jobs: no worker here to take them
        status = _invoke(["status"], env)
        said = " ".join(status.output.split())
        assert status.exit_code == 1 and ("qa_daily_versions disagrees with the facts: 1 day(s) whose "
                                          "scoring-version counts differ from their scored transcripts, 1 count(s) "
                                          "below zero (written by a worker of a release before 0015?): run qa db upgrade") in said, said
        upgrade = _invoke(["db", "upgrade"], env)
        said = " ".join(upgrade.output.split())
        assert upgrade.exit_code == 0 and "qa_daily_versions derived again from the stored reports: 1 day(s)" in said
        with rt.session() as s:
            assert scoring_versions.drift(s.connection()) == scoring_versions.Drift()
            assert s.scalar(select(func.min(QaDailyVersion.n))) == 1
            assert scoring_versions.in_period(session=s, start=_day(1), end=_day(31)) == [(*now, 2)]
        assert _invoke(["status"], env).exit_code == 0
        again = _invoke(["db", "upgrade"], env)
        assert again.exit_code == 0 and "qa_daily_versions" not in again.output, again.output

"""Scored transcripts without facts: a worker of a release before revision 0008 left running after the upgrade
stores reports but no ``qa_facts`` row and no rollups, and every period figure leaves those conversations out.
``qa status`` says how many (exit 1) and ``qa db upgrade`` derives them, every time it runs, not only the first
(found by an upgrade probe from f2bff0e, 2026-11-29: reports 241, qa_facts 200, ``qa status`` exit 0 and ``qa db
upgrade`` "already at 0014: nothing to do")."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import delete, select, update

from qa_service.period import parse_period
from qa_service.performance import service as perf_service
from qa_service.review import service as review_service
from qa_service.storage import facts, rollups, scoring_versions
from qa_service.storage.fact_tables import QaFact
from qa_service.storage.tables import Review
from tests.api.test_review_api import finding, report
from tests.storage.test_rollups import _snapshot, _store


def _qa(rt, *args: str) -> subprocess.CompletedProcess:
    s = rt.settings
    env = {**os.environ, "QA_DATA_DIR": str(s.data_dir), "QA_DB__URL": s.database_url, "QA_REDIS__URL": s.redis.url,
           "QA_REDIS__QUEUE": s.redis.queue, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "qa_service.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def _a1(rt) -> tuple[int, float]:
    with rt.session() as s:
        agents, _ = perf_service.records(session=s, settings=rt.settings, period=parse_period("2026-10"))
    qa = next(a for a in agents if a.agent_id == "a1").as_dict()["qa"]
    return qa["n"], qa["mean"]


def test_db_upgrade_derives_the_facts_a_worker_of_an_older_release_left_out(rt, redis_conn):
    rt.sync_facts()  # an installation whose facts were derived (qa_meta.derived_under) before that worker ran
    rude = finding("politeness", "rude", -10)
    ids = [_store(rt, f"r{i}", report({"politeness": (score, 1.0, [rude] if score < 80 else [])}), agent_id="a1",
                  team="sales", started_at=f"2026-10-0{i + 1}T10:00:00+08:00")
           for i, score in enumerate([90, 70, 50, 85, 40])]
    with rt.session() as s:  # one of those to lose its facts has a done review: its final figures come back too
        review = review_service.for_transcript(session=s, transcript_id=ids[2])
        review_service.complete(session=s, review_id=review.id, by="r1", comment=None, confirm_rest=True)
    want, figures = _snapshot(rt), _a1(rt)
    assert figures == (5, 67.0)
    lost = ids[1:4]
    with rt.session() as s:  # as that worker leaves them: reports, no facts, rollups without them, reviews unscoped
        s.execute(delete(QaFact).where(QaFact.transcript_id.in_(lost)))
        rollups.rebuild(s.connection(), rt.derivation.frt_target_ms)
        scoring_versions.rebuild(s.connection())
        s.execute(update(Review).where(Review.transcript_id.in_(lost)).values(day=None, team_id=None))
    assert _a1(rt) == (2, 65.0)  # three scored conversations missing from every figure
    redis_conn.flushdb()  # ingest's jobs: no worker here to take them

    status = _qa(rt, "status")
    assert status.returncode == 1, status.stdout + status.stderr
    assert ("3 scored transcripts have no qa_facts row (written by a worker of an older release?): run qa db "
            "upgrade") in " ".join(status.stdout.split()), status.stdout
    with rt.session() as s:
        assert facts.count_missing(session=s) == 3

    out = _qa(rt, "db", "upgrade")  # at the newest revision, its facts derived long ago: repairs anyway
    said = " ".join(out.stdout.split())
    assert out.returncode == 0 and "already at" in said, said
    assert "qa_facts derived for 3 scored transcript(s) that had none" in said, said
    assert _snapshot(rt) == want and _a1(rt) == figures
    with rt.session() as s:
        assert facts.count_missing(session=s) == 0
        assert s.scalar(select(QaFact.final_score).where(QaFact.transcript_id == ids[2])) == 50.0
    assert _qa(rt, "status").returncode == 0
    again = _qa(rt, "db", "upgrade")
    assert again.returncode == 0 and "qa_facts derived" not in again.stdout, again.stdout

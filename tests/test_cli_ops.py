"""``qa status`` and ``qa requeue`` when things are down: readable, quick, non-zero, no password printed."""

from __future__ import annotations

import time

from typer.testing import CliRunner

from qa_service import metrics
from qa_service.cli import app
from qa_service.config import get_settings
from qa_service.storage import transcripts as repo
from qa_service.storage.tables import utcnow
from tests.api.test_metrics import _value
from tests.conftest import transcript

runner = CliRunner()


def _env(settings, **extra):
    return {"QA_DB__URL": settings.database_url, "QA_REDIS__URL": settings.redis.url,
            "QA_REDIS__QUEUE": settings.redis.queue, "QA_DB__AUTO_MIGRATE": "false", **extra}


def _invoke(args, env):
    get_settings.cache_clear()
    try:
        return runner.invoke(app, args, env=env)
    finally:
        get_settings.cache_clear()


def test_status_reads_as_lines_and_fails_fast_when_redis_or_the_database_is_down(client, settings):
    tid = client.post("/v1/transcripts", json=transcript("s1")).json()["id"]
    with client.app.state.runtime.session() as s:
        repo.claim_many(session=s, ids=[tid], max_attempts=3, stale_before=utcnow())
    with client.app.state.runtime.session() as s:
        repo.record_error(session=s, transcript_id=tid, error="ValueError: bad turn\n  trace", final=True)
    result = _invoke(["status"], _env(settings))
    out = " ".join(result.output.split())
    assert result.exit_code == 1, result.output  # ingest's job waits, and no worker takes that queue
    assert "transcripts: 1 (1 failed)" in out and "most common error (1×): ValueError: bad turn" in out
    assert "job(s) waiting" in out and "workers registered: 0" in out and "{" not in out
    assert "no registered worker takes jobs from qa-test: its 1 job(s) wait (start qa worker)" in out, out

    t0 = time.monotonic()
    result = _invoke(["status"], _env(settings, QA_REDIS__URL="redis://:S3cretPW@127.0.0.1:18406/0"))
    assert result.exit_code == 1 and "does not answer" in result.output and "S3cretPW" not in result.output
    assert time.monotonic() - t0 < 3  # no retry backoff for a check

    result = _invoke(["status"], _env(settings, QA_DB__URL="postgresql+psycopg://qa:S3cretPW@127.0.0.1:18407/qa"))
    assert result.exit_code == 1 and "does not answer" in result.output and "S3cretPW" not in result.output


def test_status_says_when_no_registered_worker_takes_the_backlog(settings, redis_conn):
    """A re-score queued on the backlog while only workers of a release before the backlog queue run waits for
    ever; ``qa status`` said ``0 job(s) waiting, 3 in its backlog … workers registered: 1``, exit 0 (an upgrade
    probe, 2026-11-29). Workers here are rq's own, registered in Redis as a running worker registers itself."""
    from rq import Worker

    from qa_service.queue.outbox import enqueue_jobs, make_queue

    main, backlog = make_queue(settings, redis_conn), make_queue(settings, redis_conn, backlog=True)
    old = Worker([main], connection=redis_conn, name="old-release")  # takes the first queue only
    old.register_birth()
    try:
        assert enqueue_jobs({"rescore-1": [1, 2, 3]}, settings=settings, connection=redis_conn, backlog=True)
        result = _invoke(["status"], _env(settings))
        out = " ".join(result.output.split())
        assert result.exit_code == 1, out
        assert "0 job(s) waiting, 1 in its backlog" in out and "workers registered: 1, 0 of them taking" in out, out
        assert ("no registered worker takes jobs from qa-test-backlog: its 1 job(s) wait (1 worker(s) of a release "
                "before the backlog queue take only qa-test: upgrade them)") in out, out
        new = Worker([main, backlog], connection=redis_conn, name="this-release")
        new.register_birth()
        try:
            result = _invoke(["status"], _env(settings))
            out = " ".join(result.output.split())
            assert result.exit_code == 0 and "workers registered: 2, 1 of them taking the backlog" in out, out
        finally:
            new.register_death()
    finally:
        old.register_death()


def test_requeue_with_the_queue_down_says_so_exits_1_and_counts_nothing(client, settings):
    client.post("/v1/transcripts", json=transcript("r1"))
    with client.app.state.runtime.session() as s:
        ids = [t.id for t in repo.list_filtered(session=s, flt=repo.TranscriptFilter(), limit=10, offset=0)[0]]
        repo.mark_received(session=s, ids=ids)
    before = metrics.exposition("worker")[0].decode()
    result = _invoke(["requeue"], _env(settings, QA_REDIS__URL="redis://127.0.0.1:18408/0"))
    assert result.exit_code == 1 and "queued nothing" in " ".join(result.output.split()), result.output
    after = metrics.exposition("worker")[0].decode()
    series = 'qa_reconciler_requeued_total{reason="received"}'
    assert _value(after, series) == _value(before, series)
    result = _invoke(["requeue"], _env(settings))
    assert result.exit_code == 0 and "queued: 1 received" in result.output
    assert _value(metrics.exposition("worker")[0].decode(), series) - _value(before, series) == 1


def test_status_masks_a_password_given_as_a_query_parameter(client, settings):
    """Found by a probe: only ``user:password@`` was masked, so ``?password=`` (how a password holding ``@``,
    ``/`` or ``:`` is often given, to libpq and redis-py alike) was printed and logged in clear."""
    result = _invoke(["status"], _env(settings, QA_REDIS__URL="redis://127.0.0.1:18406/0?password=RedisPw123"))
    assert result.exit_code == 1 and "does not answer" in result.output
    assert "RedisPw123" not in result.output and "password=***" in result.output
    result = _invoke(["status"], _env(settings, QA_DB__URL="postgresql+psycopg://qa@127.0.0.1:18407/qa?"
                                                           "sslmode=disable&sslpassword=KeyPw77&password=S3cretDbPw99"))
    assert result.exit_code == 1 and "does not answer" in result.output
    out = " ".join(result.output.split())
    assert "S3cretDbPw99" not in out and "KeyPw77" not in out
    assert "sslmode=disable&sslpassword=***&password=***" in out.replace(" ", "")


def test_masked_url_masks_every_password_a_database_or_redis_url_can_carry():
    from qa_service.config import masked_url

    assert masked_url("postgresql+psycopg://postgres@db:5432/qa?password=S3cret&passfile=/run/pgpass") == \
        "postgresql+psycopg://postgres@db:5432/qa?password=***&passfile=/run/pgpass"
    assert masked_url("postgresql://qa:pw@db/qa?sslpassword=k") == "postgresql://qa:***@db/qa?sslpassword=***"
    assert masked_url("rediss://:pw@r:6380/0?ssl_password=k&db=1") == "rediss://:***@r:6380/0?ssl_password=***&db=1"
    assert masked_url("redis://r:6379?PASSWORD=a%40b") == "redis://r:6379?PASSWORD=***"
    assert masked_url("sqlite:////var/qa/qa.sqlite3") == "sqlite:////var/qa/qa.sqlite3"
    # a password holding a / (SQLAlchemy reads it as the password: it was printed whole)
    assert masked_url("postgresql+psycopg://u:pa/ss@h/db") == "postgresql+psycopg://u:***@h/db"
    assert masked_url("postgresql://qa:p%40w@db/qa@x") == "postgresql://qa:***@db/qa@x"
    assert masked_url("sqlite:////data/a@b/qa.sqlite3") == "sqlite:////data/a@b/qa.sqlite3"

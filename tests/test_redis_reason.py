"""A Redis that answers with an error (a database number it does not have, a user or password it refuses) is
said so, with its answer, by ``qa worker``, ``qa status`` and ``/readyz``. Was: "does not answer" and
"unreachable", as if nothing listened, the reason only in the API's log (an operator probe, 2026-12)."""

from __future__ import annotations

import subprocess
from urllib.parse import urlsplit, urlunsplit

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from qa_service.app import create_app
from qa_service.cli import app
from qa_service.config import get_settings
from tests.conftest import WORKER_CMD, make_settings, worker_env

OUT_OF_RANGE = "DB index is out of range"


def _db_99(redis_url: str) -> str:
    """The test's Redis, asking for database 99 (a default server has 16)."""
    parts = urlsplit(redis_url)
    if parts.scheme == "unix":  # urlunsplit would drop the empty netloc's "//" (unix:/path: no scheme redis knows)
        return redis_url.split("?")[0] + "?db=99"
    return urlunsplit(parts._replace(path="/99"))


def _with_user(redis_url: str) -> str | None:
    parts = urlsplit(redis_url)
    return None if parts.scheme == "unix" else urlunsplit(parts._replace(netloc=f"nobody:S3cretPW@{parts.netloc}"))


def _status(settings, redis_url: str):
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, ["status"], env={
            "QA_DB__URL": settings.database_url, "QA_REDIS__URL": redis_url, "QA_DB__AUTO_MIGRATE": "false"})
    finally:
        get_settings.cache_clear()


def test_qa_status_gives_redis_answer_not_does_not_answer(sqlite_settings, redis_url):
    result = _status(sqlite_settings, _db_99(redis_url))
    out = " ".join(result.output.split())
    assert result.exit_code == 1 and f"answers with an error: {OUT_OF_RANGE}" in out, out
    assert "does not answer" not in out
    wrong_user = _with_user(redis_url)
    if wrong_user:  # an ACL user the server does not know: its refusal, and no password printed
        result = _status(sqlite_settings, wrong_user)
        out = " ".join(result.output.split())
        assert result.exit_code == 1 and "answers with an error: invalid username-password pair" in out, out
        assert "S3cretPW" not in out


def test_qa_worker_refusing_to_start_gives_redis_answer(sqlite_settings, redis_url):
    proc = subprocess.run([*WORKER_CMD, "--burst"], env=worker_env(sqlite_settings, QA_REDIS__URL=_db_99(redis_url)),
                          capture_output=True, text=True, timeout=120)
    err = " ".join(proc.stderr.split())
    assert proc.returncode == 2 and f"answers with an error: {OUT_OF_RANGE} (QA_REDIS__URL)" in err, proc.stderr
    assert "Traceback" not in proc.stderr


def test_readyz_gives_redis_answer(tmp_path, sqlite_url, redis_url):
    with TestClient(create_app(make_settings(tmp_path, sqlite_url, _db_99(redis_url)))) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["redis"] == f"error: {OUT_OF_RANGE}", ready.text
    with TestClient(create_app(make_settings(tmp_path, sqlite_url, "redis://127.0.0.1:18409/0"))) as client:
        redis_check = client.get("/readyz").json()["checks"]["redis"]
    # nothing answering: the error's type, not the host and port (/readyz is public; the log names them)
    assert redis_check.startswith("unreachable: ") and "18409" not in redis_check, redis_check

"""A bad ``QA_*`` setting is one line naming the variable as it was written, exit 2, no traceback, from every
command; a variable that sets nothing, or settings that work against each other, a warning line (found by an
operator probe, 2026-11-29: 50–75-line tracebacks naming ``worker.max_attempts``, or no variable at all;
``QA_PERFORMANCE__TIMEZONE=Mars/Base`` recorded by ``qa db upgrade`` so that no correctly configured
process could start)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from qa_service.config import Settings
from qa_service.config_env import SettingsInvalid, load, resolve
from tests.conftest import REPO


def _qa(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.upper().startswith("QA_")}
    full.update({"QA_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1",
                 "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), **env})
    return subprocess.run([sys.executable, "-m", "qa_service.cli", *args], capture_output=True, text=True,
                          env=full, timeout=120)


@pytest.mark.parametrize("variable, value, says", [
    ("QA_WORKER__MAX_ATTEMPTS", "abc", "QA_WORKER__MAX_ATTEMPTS: input should be a valid integer, got 'abc'"),
    ("QA_PII__KINDS", "mobile", "QA_PII__KINDS: 'mobile' is not JSON"),
    ("QA_PII__KINDS", '["phone"]', "QA_PII__KINDS: unknown kind(s) ['phone']"),
    ("QA_REDIS__URL", "http://x", "QA_REDIS__URL: a Redis URL starts with redis://"),
    ("QA_REDIS__CONNECT_TIMEOUT_S", "-1", "QA_REDIS__CONNECT_TIMEOUT_S: input should be greater than 0"),
    ("QA_PERFORMANCE__TIMEZONE", "Mars/Base", "QA_PERFORMANCE__TIMEZONE: no time zone 'Mars/Base'"),
    ("QA_PERFORMANCE__TIMEZONE", "Asia", "QA_PERFORMANCE__TIMEZONE: no time zone 'Asia'"),  # a folder: OSError
    ("qa_worker__chunk_size", "0", "qa_worker__chunk_size: input should be greater than or equal to 1"),
    ("QA_API__PAGE_SIZE_MAX", "0", "QA_API__PAGE_SIZE_MAX: input should be greater than or equal to 1"),
    ("QA_PII__SOURCES", '{"crm": {"redact": "z"}}', "QA_PII__SOURCES: crm.redact: input should be a valid boolean"),
    ("QA_WORKER__RETRY_BACKOFF_S", '[5, "a"]',
     "QA_WORKER__RETRY_BACKOFF_S: [1]: input should be a valid integer, got 'a'"),
])
def test_a_bad_setting_is_one_line_naming_the_variable_exit_2(tmp_path, variable, value, says):
    out = _qa(tmp_path, "status", **{variable: value})
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr and says in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


@pytest.mark.parametrize("command", [["worker", "--burst"], ["serve", "--workers", "0"], ["db", "upgrade"],
                                     ["requeue"], ["purge", "--before", "2020-01-01", "--dry-run"]])
def test_every_command_refuses_bad_settings_before_doing_anything(tmp_path, command):
    out = _qa(tmp_path, *command, QA_WORKER__MAX_ATTEMPTS="abc", QA_REDIS__URL="http://x")
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.strip().splitlines() == [
        ("qa: QA_REDIS__URL: a Redis URL starts with redis://, rediss://, unix:// (got http://), e.g. "
         "redis://redis:6379/0"),
        "qa: QA_WORKER__MAX_ATTEMPTS: input should be a valid integer, got 'abc'"]
    assert not (tmp_path / "data" / "qa.sqlite3").exists()  # nothing was created, nor started


def test_db_upgrade_never_records_a_time_zone_that_does_not_exist(tmp_path):
    out = _qa(tmp_path, "db", "upgrade", QA_PERFORMANCE__TIMEZONE="Mars/Base")
    assert out.returncode == 2 and "QA_PERFORMANCE__TIMEZONE" in out.stderr, out.stderr
    assert not (tmp_path / "data" / "qa.sqlite3").exists()
    assert _qa(tmp_path, "db", "upgrade").returncode == 0  # the default zone: nothing recorded to clash with


def test_a_variable_that_sets_nothing_and_a_stale_window_inside_the_job_timeout_are_warned_about(tmp_path):
    out = _qa(tmp_path, "db", "upgrade", QA_REDIS__QEUE="q", QA_DB_URL="sqlite://", QA_WORKER__STALE_SCORING_S="10",
              QA_PII__SOURCES__CRM__REDACT="false", QA_API_KEY="k", QA_TEST_REDIS_URL="redis://x")
    assert out.returncode == 0, out.stderr
    warnings = [line for line in out.stderr.splitlines() if line.startswith("qa: warning:")]
    assert len(warnings) == 3, out.stderr
    assert "QA_DB_URL matches no setting" in warnings[0] and "QA_REDIS__QEUE matches no setting" in warnings[1]
    assert "QA_WORKER__STALE_SCORING_S (10) is not above QA_WORKER__JOB_TIMEOUT_S (300)" in warnings[2]


def test_names_resolve_to_the_settings_they_set(monkeypatch):
    assert resolve(Settings, "QA_WORKER__MAX_ATTEMPTS") is int
    assert resolve(Settings, "QA_PII__SOURCES__CRM__REDACT") is True  # below a mapping: anything goes
    for typo in ("QA_REDIS__QEUE", "QA_DB_URL", "QA_WORKER__MAX_ATTEMPTS__X", "QA_"):
        assert resolve(Settings, typo) is None
    monkeypatch.setenv("QA_WORKER__NICE", "20")
    with pytest.raises(SettingsInvalid) as err:
        load(Settings)
    assert err.value.problems == ["QA_WORKER__NICE: input should be less than or equal to 19, got '20'"]


@pytest.mark.postgres
def test_a_postgres_url_naming_no_driver_is_read_with_psycopg(tmp_path, postgres_engine):
    """Was: ``postgres://…`` (Heroku's, libpq's) "does not answer: Can't load plugin: sqlalchemy.dialects:postgres",
    and ``postgresql://…`` wanted psycopg2, which is not installed (an operator probe, 2026-12)."""
    from sqlalchemy import text

    from qa_service.config import DBSettings
    from qa_service.storage.db import create_db_engine
    from tests.conftest import TEST_POSTGRES_URL

    rest = postgres_engine.url.render_as_string(hide_password=False).split("://", 1)[1]
    assert TEST_POSTGRES_URL.endswith(rest)
    for scheme in ("postgres", "postgresql", "POSTGRES"):
        settings = Settings(db=DBSettings(url=f"{scheme}://{rest}", read_url=f"{scheme}://{rest}"))
        assert settings.database_url == settings.db.read_url == f"postgresql+psycopg://{rest}"
        engine = create_db_engine(settings)
        try:
            with engine.connect() as conn:
                assert conn.execute(text("SELECT 1")).scalar() == 1
        finally:
            engine.dispose()
    out = _qa(tmp_path, "keys", "list", QA_DB__URL=f"postgres://{rest}")  # from the environment, as operators set it
    assert out.returncode == 0, out.stdout + out.stderr
    assert DBSettings(url="postgres+psycopg://u@h/db").url == "postgresql+psycopg://u@h/db"
    assert DBSettings(url="postgresql+psycopg2://u@h/db").url == "postgresql+psycopg2://u@h/db"  # a driver named: kept
    assert DBSettings(url="sqlite:///x.db").url == "sqlite:///x.db"

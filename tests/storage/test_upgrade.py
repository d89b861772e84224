"""Upgrading an installation: what a start does with a database at another revision, from a newer
release, or derived under other settings; ``qa db upgrade`` reaching the newest revision however it is
named; a database the CLI cannot use said in one line (found by an independent probe, 2026-11-28)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import text

from qa_service.config import DBSettings, PerformanceSettings, Settings
from qa_service.errors import ConfigError
from qa_service.runtime import Runtime
from qa_service.storage import facts
from qa_service.storage.db import create_db_engine, current_revision, known_revisions, upgrade
from qa_service.storage.fact_tables import Meta


def _settings(tmp_path, **db) -> Settings:
    return Settings(data_dir=tmp_path, db=DBSettings(**db))


def _qa(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    import os

    full = {**os.environ, "QA_DATA_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1", **env}
    return subprocess.run([sys.executable, "-m", "qa_service.cli", *args], capture_output=True, text=True, env=full,
                          timeout=120)


def test_a_start_with_auto_migrate_off_refuses_a_schema_behind_this_release(tmp_path):
    engine = create_db_engine(_settings(tmp_path))
    upgrade(engine, "0008")
    head, _ = known_revisions(engine)
    with pytest.raises(ConfigError, match=f"at revision 0008, this release needs {head}.*qa db upgrade"):
        Runtime(_settings(tmp_path, auto_migrate=False)).migrate()
    assert current_revision(engine) == "0008"  # nothing changed
    Runtime(_settings(tmp_path)).migrate()  # auto-migrate on: brought up to date, facts derived
    assert current_revision(engine) == head
    with Runtime(_settings(tmp_path)).sessions() as s:
        assert s.get(Meta, facts.VERSION_KEY) is not None


def test_a_database_a_newer_release_migrated_is_refused_unchanged(tmp_path):
    engine = create_db_engine(_settings(tmp_path))
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    for auto in (True, False):
        with pytest.raises(ConfigError, match="revision 0099, which this release does not know"):
            Runtime(_settings(tmp_path, auto_migrate=auto)).migrate()
    out = _qa(tmp_path, "db", "upgrade")
    assert out.returncode == 2 and "newer release" in out.stderr and "Traceback" not in out.stderr
    assert current_revision(engine) == "0099"
    status = _qa(tmp_path, "status")
    assert status.returncode == 1 and "0099" in status.stdout + status.stderr


def test_a_process_with_other_settings_does_not_rederive_everyones_figures(tmp_path):
    shanghai = _settings(tmp_path)
    Runtime(shanghai).migrate()
    la = Settings(data_dir=tmp_path, performance=PerformanceSettings(timezone="America/Los_Angeles"))
    with pytest.raises(ConfigError, match="derived under tz=Asia/Shanghai.*America/Los_Angeles.*qa db upgrade"):
        Runtime(la).migrate()
    out = _qa(tmp_path, "db", "upgrade", QA_PERFORMANCE__TIMEZONE="America/Los_Angeles")  # the change, meant
    assert out.returncode == 0 and "America/Los_Angeles" in out.stdout, out.stdout + out.stderr
    Runtime(la).migrate()  # now every process starts with the new settings
    with pytest.raises(ConfigError):
        Runtime(shanghai).migrate()


def test_db_upgrade_derives_the_facts_however_the_newest_revision_is_named(tmp_path):
    engine = create_db_engine(_settings(tmp_path))
    upgrade(engine, "0008")
    head, _ = known_revisions(engine)
    out = _qa(tmp_path, "db", "upgrade", "--revision", head)
    assert out.returncode == 0 and "qa_facts derived" in out.stdout, out.stdout + out.stderr


def test_a_file_that_is_not_a_database_is_one_line_not_a_traceback(tmp_path):
    bad = tmp_path / "not-a-db.sqlite3"
    bad.write_bytes(b"these are not the bytes of a database" * 100)
    out = _qa(tmp_path, "db", "upgrade", QA_DB__URL=f"sqlite:///{bad}")
    assert out.returncode == 2 and "cannot use the database" in out.stderr and "Traceback" not in out.stderr

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


def test_only_the_commands_that_start_work_upgrade_an_older_schema(tmp_path, caplog, monkeypatch):
    """Was: every command that opened the database upgraded it, silently (``qa keys list`` or an HR export
    run before the planned backup upgraded production, found by an upgrade probe, 2026-11-29)."""
    engine = create_db_engine(_settings(tmp_path))
    upgrade(engine, "0011")
    head, _ = known_revisions(engine)
    for command in (["keys", "list"], ["export-appraisals", "--period", "2026-10"]):
        out = _qa(tmp_path, *command)
        assert out.returncode == 2, out.stdout + out.stderr
        said = " ".join(out.stderr.split())
        assert f"at revision 0011, this release needs {head}" in said and "qa db upgrade" in said, said
        assert current_revision(engine) == "0011"  # nothing changed
    with pytest.raises(ConfigError, match="only qa serve, worker, demo and import upgrade it"):
        Runtime(_settings(tmp_path)).migrate(starting=False)
    from qa_service import runtime

    monkeypatch.setattr(runtime.log, "disabled", False)  # a logging setup run before (import-linter's) turns it off
    caplog.set_level("INFO", logger="qa_service.runtime")
    Runtime(_settings(tmp_path)).migrate()  # a start (serve, worker, demo, import) upgrades, and says so
    assert current_revision(engine) == head
    said = [r for r in caplog.records if r.name == "qa_service.runtime"]
    assert len(said) == 1 and said[0].levelname == "WARNING"
    message = said[0].getMessage()
    assert f"upgraded 0011 → {head} (" in message and "\n  0012 live alerts keep the words a rule matched\n" in message
    caplog.clear()
    Runtime(_settings(tmp_path)).migrate()  # nothing to do: nothing said
    assert not [r for r in caplog.records if r.name == "qa_service.runtime"]
    assert _qa(tmp_path, "keys", "list").returncode == 0  # at this release's schema, any command runs


def test_a_command_that_never_upgrades_does_not_point_at_auto_migrate(tmp_path):
    """With QA_DB__AUTO_MIGRATE=false, ``qa keys list`` on a schema behind said "QA_DB__AUTO_MIGRATE is off: run
    qa db upgrade first", as if turning it on would help; it does not (an upgrade probe, 2026-11-29)."""
    engine = create_db_engine(_settings(tmp_path))
    upgrade(engine, "0011")
    out = _qa(tmp_path, "keys", "list", QA_DB__AUTO_MIGRATE="false")
    said = " ".join(out.stderr.split())
    assert out.returncode == 2 and "take a backup, then run `qa db upgrade` first" in said, said
    assert "AUTO_MIGRATE" not in said and "upgrade it at start" not in said, said
    assert current_revision(engine) == "0011"


def test_a_new_database_is_created_by_any_command_that_needs_one(tmp_path):
    """A fresh install whose first command is ``qa keys create`` (access control before the first start)."""
    out = _qa(tmp_path, "keys", "create", "--role", "admin", "--name", "ops")
    assert out.returncode == 0, out.stdout + out.stderr
    head, _ = known_revisions(create_db_engine(_settings(tmp_path)))
    assert current_revision(create_db_engine(_settings(tmp_path))) == head


def test_db_upgrade_says_which_migrations_it_applied(tmp_path):
    """Was: ``database at 0013: <url>`` whether it applied two migrations or none; then one line, ``(5 migrations:
    0010 live alerts by transcript … 0014 live alerts keep the closing note apart from the acknowle``, the titles
    cut at 60 characters and the migrations between left out (an upgrade probe, 2026-11-29)."""
    engine = create_db_engine(_settings(tmp_path))
    upgrade(engine, "0009")
    head, _ = known_revisions(engine)
    out = _qa(tmp_path, "db", "upgrade")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"upgraded 0009 → {head} ({int(head) - 9} migrations): sqlite:///"), out.stdout
    assert lines[1:6] == ["  0010 live alerts by transcript", "  0011 qa_facts read by index",
                          "  0012 live alerts keep the words a rule matched", "  0013 live transcripts",
                          "  0014 live alerts keep the closing note apart from the acknowledgement's"], out.stdout
    again = _qa(tmp_path, "db", "upgrade")
    assert again.returncode == 0 and f"already at {head}: nothing to do" in again.stdout, again.stdout


def test_a_refused_empty_schema_names_the_database(tmp_path):
    """Was: "the database is at revision none (empty) … run `qa db upgrade` first" whichever database it was: with
    a mistyped QA_DB_URL (ignored, with a warning) it read as if PostgreSQL were empty, and `qa db upgrade` in the
    same environment would have made an SQLite file in the data dir (an operator probe, 2026-12)."""
    out = _qa(tmp_path, "keys", "list", QA_DB_URL="postgresql+psycopg://qa:S3cretPW@db.example/qa",
              QA_DB__AUTO_MIGRATE="false")
    said = " ".join(out.stderr.split())
    assert out.returncode == 2, out.stdout + out.stderr
    assert (f"the embedded SQLite database at {(tmp_path / 'qa.sqlite3').resolve()} (QA_DB__URL is unset) is at "
            "revision none (empty)") in said and "qa db upgrade" in said, said
    other = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    with pytest.raises(ConfigError, match=f"the database {other} is at revision none"):
        Runtime(_settings(tmp_path, url=other, auto_migrate=False)).migrate()


def test_status_on_a_schema_behind_exits_1_naming_qa_db_upgrade(tmp_path, redis_url, redis_conn):
    """Was: `schema: the database is at revision 0007, this release needs …`, no hint, exit 0 (cli.md said it
    named `qa db upgrade`; an operator probe, 2026-12)."""
    engine = create_db_engine(_settings(tmp_path))
    upgrade(engine, "0007")
    head, _ = known_revisions(engine)
    out = _qa(tmp_path, "status", QA_REDIS__URL=redis_url, QA_DB__AUTO_MIGRATE="false")
    said = " ".join(out.stdout.split())
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"at revision 0007, this release needs {head}; take a backup, then run `qa db upgrade`" in said, said
    assert "transcripts: 0" in said and "workers registered: 0" in said  # the rest is still shown
    upgrade(engine)
    out = _qa(tmp_path, "status", QA_REDIS__URL=redis_url)
    assert out.returncode == 0 and f"schema: this release’s ({head})" in out.stdout, out.stdout + out.stderr

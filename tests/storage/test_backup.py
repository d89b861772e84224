"""The embedded-mode backup docs/production.md gives works on a database in use: ``sqlite3 … ".backup …"`` and
``VACUUM INTO`` copy the commits still in the write-ahead log (a ``cp`` of ``qa.sqlite3`` alone misses them),
and the copy, put back as ``qa.sqlite3``, is a database this release serves."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from qa_service.config import Settings
from qa_service.storage.db import create_db_engine, session_factory, session_scope
from qa_service.storage.tables import Team
from tests.conftest import REPO


def _teams(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return conn.execute("SELECT count(*) FROM teams").fetchone()[0]


@pytest.mark.parametrize("how", ["dot-backup", "vacuum-into"])
def test_a_sqlite_backup_taken_while_the_database_is_in_use_holds_the_latest_commits(tmp_path, sqlite_url, how):
    live = Path(sqlite_url.removeprefix("sqlite:///"))
    engine = create_db_engine(Settings(data_dir=live.parent, db={"url": sqlite_url}))
    try:  # committed, and left in the log (the engine holds its connection open: no checkpoint yet)
        with session_scope(session_factory(engine)) as s:
            s.add_all(Team(id=f"t{i}") for i in range(50))
        assert (live.parent / "qa.sqlite3-wal").stat().st_size > 0
        shutil.copy(live, tmp_path / "cp-only.sqlite3")
        assert _teams(tmp_path / "cp-only.sqlite3") == 0  # what the docs warn against: the file alone
        copy = tmp_path / "qa-backup.sqlite3"
        if how == "dot-backup":
            if not shutil.which("sqlite3"):
                pytest.skip("no sqlite3 command line here")
            subprocess.run(["sqlite3", str(live), f".backup {copy}"], check=True, timeout=60)
        else:
            with sqlite3.connect(live) as conn:
                conn.execute("VACUUM INTO ?", (str(copy),))
        assert _teams(copy) == 50
    finally:
        engine.dispose()
    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copy(copy, restored / "qa.sqlite3")  # no -wal or -shm beside it
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("QA_")}
    env.update({"QA_DATA_DIR": str(restored), "HF_HUB_OFFLINE": "1", "QA_DB__AUTO_MIGRATE": "false",
                "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])})
    out = subprocess.run([sys.executable, "-m", "qa_service.cli", "db", "upgrade"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0 and "already at " in out.stdout, out.stdout + out.stderr  # a backup of this release
    assert _teams(restored / "qa.sqlite3") == 50

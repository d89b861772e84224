"""An API whose database refuses its writes (a role without the grant, a read-only SQLite file): a JSON 503
saying so and one log line naming the refusal — not a bare 500 with the statement's parameters in a traceback."""

from __future__ import annotations

import logging
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from qa_service.api import errors as api_errors
from qa_service.app import create_app
from tests.conftest import make_settings, transcript


def _read_only_url(request, db_url: str) -> str:
    """``db_url`` as a connection that may read but not write."""
    if db_url.startswith("sqlite"):
        return db_url  # made read-only once the app has opened it (_query_only)
    engine = request.getfixturevalue("postgres_engine")
    role = f"qa_ro_{uuid.uuid4().hex[:8]}"
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
            conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {role}")
            conn.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    except Exception as exc:
        pytest.skip(f"cannot create a PostgreSQL role here ({type(exc).__name__}): the test role needs CREATEROLE")
    request.addfinalizer(lambda: _drop_role(engine, role))
    return make_url(db_url).set(username=role, password=None).render_as_string(hide_password=False)


def _query_only(engine) -> None:
    """SQLite refusing every write on this engine's connections, as a file the service's user may not write
    (the tests run as root, whom file modes do not stop): "attempt to write a readonly database"."""
    event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA query_only = ON"))
    engine.dispose()


def _drop_role(engine, role: str) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP OWNED BY {role}")
        conn.exec_driver_sql(f"DROP ROLE {role}")


def test_a_write_the_database_refuses_is_a_503_saying_so(request, tmp_path, db_url, redis_url, redis_conn, caplog,
                                                         monkeypatch):
    monkeypatch.setattr(api_errors.log, "disabled", False)  # alembic's fileConfig disables existing loggers
    settings = make_settings(tmp_path, _read_only_url(request, db_url), redis_url)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        if db_url.startswith("sqlite"):
            _query_only(c.app.state.runtime.engine)
        assert c.get("/v1/transcripts").status_code == 200  # reading is fine
        with caplog.at_level(logging.ERROR, logger=api_errors.log.name):
            r = c.post("/v1/transcripts", json=transcript("ro-1"))
    assert r.status_code == 503 and r.headers["content-type"] == "application/json", r.text
    assert "the database refused the request" in r.json()["detail"] and r.headers["retry-after"] == "30"
    [line] = [rec.getMessage() for rec in caplog.records if "refused" in rec.getMessage()]
    assert ("permission denied for table" in line or "readonly database" in line) and "ro-1" not in line
    assert not any(rec.exc_info for rec in caplog.records)
    with make_app_session(db_url) as conn:  # nothing stored
        assert conn.execute(text("SELECT count(*) FROM transcripts")).scalar() == 0


def make_app_session(db_url: str):
    from qa_service.config import DBSettings, Settings
    from qa_service.storage.db import create_db_engine

    return create_db_engine(Settings(db=DBSettings(url=db_url))).connect()

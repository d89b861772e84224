"""A request's session closed after the database dropped its connection: a warning, not a traceback after
the answer (an operator saw "Exception in ASGI application … response already started" once)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import text

from qa_service.api import deps


@pytest.mark.postgres
def test_a_session_whose_connection_the_database_dropped_closes_quietly(postgres_engine, monkeypatch, caplog):
    from sqlalchemy.orm import sessionmaker

    sessions = sessionmaker(postgres_engine)
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(runtime=SimpleNamespace(sessions=sessions))))
    monkeypatch.setattr(deps.log, "disabled", False)  # alembic's fileConfig disables loggers it finds
    caplog.set_level("WARNING", logger=deps.log.name)
    dependency = deps.get_session(request)
    session = next(dependency)
    pid = session.execute(text("SELECT pg_backend_pid()")).scalar()  # in a transaction, as a route leaves it
    with postgres_engine.connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    dependency.close()  # FastAPI ends the dependency after the answer: this raised OperationalError
    assert "connection was lost while a request ended" in caplog.text
    with sessions() as fresh:  # the pool gave the dead connection up
        assert fresh.execute(text("SELECT 1")).scalar() == 1

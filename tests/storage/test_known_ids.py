"""The agent and team ids a process remembers (``KnownIds``) follow the transaction that created them, whatever
session commits it: storage.transcripts hooks the session itself.

Was: the generic ``session_scope`` imported ``storage.transcripts.remember_committed`` inside the function and
called it after each commit, so a session committed any other way (an API request's) never remembered them,
and the ingest service caught SQLAlchemy's IntegrityError to clear the cache itself.
"""

from __future__ import annotations

import ast

from qa_service.storage.transcripts import KnownIds, NewTranscript, create_many
from tests.conftest import REPO


def _new(external_id: str, agent: str) -> NewTranscript:
    return NewTranscript(source="known", external_id=external_id, content_hash=external_id, channel="chat",
                         agent_id=agent, team=f"team-{agent}", queue=None, scenario=None, started_at=None, meta={},
                         utterances=[{"role": "agent", "text": "您好", "start_ms": None, "end_ms": None,
                                      "asr_confidence": None}])


def test_ids_are_remembered_when_any_session_commits_and_forgotten_when_it_rolls_back(rt):
    known = KnownIds()
    session = rt.sessions()  # a plain session, committed by hand as an API request's is
    try:
        url = str(session.get_bind().url)
        create_many(session=session, items=[_new("x1", "a1")], known=known)
        session.rollback()  # a1 and its team were never created
        create_many(session=session, items=[_new("x2", "a2")], known=known)
        assert known.for_table(url, "agents") == set()  # not before the commit
        session.commit()
    finally:
        session.close()
    assert known.for_table(url, "agents") == {"a2"} and known.for_table(url, "teams") == {"team-a2"}
    with rt.session() as s:  # a1 is created this time: the rollback left it unknown
        create_many(session=s, items=[_new("x3", "a1")], known=known)
    assert known.for_table(url, "agents") == {"a1", "a2"}


def test_the_session_helper_and_the_ingest_service_know_nothing_of_the_cache():
    db = ast.parse((REPO / "qa_service" / "storage" / "db.py").read_text(encoding="utf-8"))
    assert not [n for n in ast.walk(db) if isinstance(n, ast.ImportFrom) and n.module == "qa_service.storage.transcripts"]
    ingest = (REPO / "qa_service" / "ingest" / "service.py").read_text(encoding="utf-8")
    assert "IntegrityError" not in ingest and "known_ids.forget" not in ingest

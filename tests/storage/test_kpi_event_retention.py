"""Retention of the KPI audit events: when ``qa purge`` deletes the KPI records ending before its day, the audit
events of imports and deletions whose rows all end before the day go with them, and a deletion's event keeps no
figure of a purged row. Found by a review: a deletion's event lists the deleted rows with their figures, and
events went only with a transcript, so those figures outlived the KPI retention without limit."""

from __future__ import annotations

from datetime import date, datetime, timezone

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from qa_service.app import create_app
from qa_service.performance import audit
from qa_service.storage import retention
from qa_service.storage import reviews as audit_repo
from qa_service.storage.tables import AgentKpi, AuditEvent
from tests.conftest import make_settings

BEFORE = date(2026, 1, 1)
CUTOFF = datetime(2025, 12, 31, 16, tzinfo=timezone.utc)  # local midnight of BEFORE in Asia/Shanghai


def _kpis(client, *rows: tuple[str, str, int]) -> None:
    r = client.post("/v1/kpis", json={"records": [{"agent_id": a, "date": d, "contacts": n} for a, d, n in rows]})
    assert r.status_code == 200 and not r.json()["rejected"], r.text


def _trail(client) -> list[tuple[str, str | None, list[str], int | None]]:
    """(action, agent or file, the days of the rows listed, rows_purged) of each KPI event."""
    return [(e["action"], e["after"].get("agent_id") or e["after"].get("to"),
             [row["date_to"] for row in (e["before"] or {}).get("rows", [])], (e["before"] or {}).get("rows_purged"))
            for e in client.get("/v1/audit", params={"entity": "kpis"}).json()]


def test_purge_takes_the_kpi_events_whose_rows_it_deletes(tmp_path, db_url, redis_url, redis_conn):
    assert (retention.KPI_EVENTS, retention.KPI_IMPORTED, retention.KPI_DELETED) == (
        audit.KPIS, audit.IMPORTED, audit.DELETED)
    with TestClient(create_app(make_settings(tmp_path, db_url, redis_url))) as client:
        rt = client.app.state.runtime
        _kpis(client, ("a1", "2025-01-01", 40), ("a1", "2025-01-31", 41))  # wholly before the day
        _kpis(client, ("a2", "2026-10-01", 42))
        _kpis(client, ("a3", "2025-02-01", 43), ("a3", "2026-10-02", 44))  # one row either side
        for params in ({"agent_id": "a1", "period": "2025-01"}, {"agent_id": "a3", "all": "true"}):
            assert client.delete("/v1/kpis", params=params).json()["deleted"] == 2
        before = _trail(client)
        assert before == [("kpis_imported", "2025-01-31", [], None), ("kpis_imported", "2026-10-01", [], None),
                          ("kpis_imported", "2026-10-02", [], None),
                          ("kpis_deleted", "a1", ["2025-01-01", "2025-01-31"], None),
                          ("kpis_deleted", "a3", ["2025-02-01", "2026-10-02"], None)]

        with rt.session() as s:  # --keep-kpis: the records stay, and so does their account
            assert retention.purge_rest(session=s, before=BEFORE, cutoff=CUTOFF, keep_kpis=True) == 0
        assert _trail(client) == before
        with rt.session() as s:
            assert retention.purge_rest(session=s, before=BEFORE, cutoff=CUTOFF, keep_kpis=False) == 0
        assert _trail(client) == [
            ("kpis_imported", "2026-10-01", [], None), ("kpis_imported", "2026-10-02", [], None),
            ("kpis_deleted", "a3", ["2026-10-02"], 1)]
        [a3] = [e for e in client.get("/v1/audit", params={"action": "kpis_deleted"}).json()
                if e["after"]["agent_id"] == "a3"]
        assert [row["contacts"] for row in a3["before"]["rows"]] == [44]  # 43, of the purged row, is gone

        with rt.session() as s:  # a second purge changes nothing more
            assert retention.purge_kpi_events(session=s, before=BEFORE, cutoff=CUTOFF) == 0
            assert s.scalar(select(func.count()).select_from(AuditEvent)) == 3
            assert s.scalar(select(func.count()).select_from(AgentKpi)) == 1  # a2's


def test_a_kpi_event_of_no_row_goes_by_when_it_was_written(tmp_path, db_url, redis_url, redis_conn):
    with TestClient(create_app(make_settings(tmp_path, db_url, redis_url))) as client:
        rt = client.app.state.runtime
        with rt.session() as s:  # an import that stored no row, as releases before c7cde42 recorded one
            audit_repo.add_audit_event(s, actor="feed", action=audit.IMPORTED, review=None, entity=audit.KPIS,
                                       entity_id=None, after={"file": "x.csv", "inserted": 0, "rejected": 3,
                                                              "from": None, "to": None, "agents": 0})
        assert _trail(client) == [("kpis_imported", None, [], None)]
        now = datetime.now(timezone.utc)
        later = now.replace(year=now.year + 1)
        with rt.session() as s:  # written after the day: kept
            assert retention.purge_kpi_events(session=s, before=BEFORE, cutoff=CUTOFF) == 0
        with rt.session() as s:
            assert retention.purge_kpi_events(session=s, before=later.date(), cutoff=later) == 1
        assert _trail(client) == []

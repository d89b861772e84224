"""The audit trail of performance data: KPI imports and deletions, appraisal exports — by key through the API,
by ``cli:<os user>`` through the commands — read back with ``GET /v1/audit?entity=…&action=…``. An export
whose audit event cannot be written is still answered (found by a probe: ``audit_events`` stayed empty after
exports, imports and deletions by four keys)."""

from __future__ import annotations

import getpass
import logging

from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from qa_service.app import create_app
from qa_service.cli import app as cli
from qa_service.config import AuthSettings, get_settings
from qa_service.storage.db import create_db_engine
from tests.conftest import bearer_keys, make_settings, transcript

CSV = {"Content-Type": "text/csv"}
KPIS = ("坐席工号,日期,班组,接待量,一次解决数\n"
        "a1,2026-10-01,t-a,40,30\n"
        "a1,2026-10-02,t-a,50,40\n"
        "a2,2026-10-31,t-a,10,20\n")  # line 4: more resolved than contacts, rejected


def _events(client, headers, **params) -> list[dict]:
    r = client.get("/v1/audit", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_kpi_imports_deletions_and_appraisal_exports_are_audited_by_key(tmp_path, db_url, redis_url, redis_conn):
    settings = make_settings(tmp_path, db_url, redis_url, auth=AuthSettings(enabled=True))
    with TestClient(create_app(settings)) as client:
        keys = bearer_keys(client.app.state.runtime.sessions, [
            ("crm-feed", "ingest", None), ("hr.li", "hr", None), ("lead.a", "supervisor", "t-a"),
            ("admin", "admin", None)])
        r = client.post("/v1/kpis", headers={**keys["crm-feed"], **CSV}, content=KPIS.encode(),
                        params={"source": "kpi_oct.csv"})
        assert (r.status_code, r.json()["inserted"], r.json()["rejected"]) == (200, 2, 1)
        r = client.post("/v1/kpis", headers={**keys["crm-feed"], **CSV}, content=KPIS.encode(),
                        params={"source": "kpi_oct.csv"})  # again: 2 replaced, both unchanged
        assert r.json()["replaced"] == 2
        r = client.delete("/v1/kpis", headers=keys["crm-feed"], params={"agent_id": "a1", "period": "2026-10-02"})
        assert r.json()["deleted"] == 1
        for fmt in ("json", "csv", "xlsx"):
            r = client.get("/v1/appraisals", headers=keys["hr.li"], params={"period": "2026-10", "format": fmt})
            assert r.status_code == 200
        assert client.get("/v1/appraisals", headers=keys["lead.a"], params={"period": "2026Q4"}).status_code == 200

        kpis = _events(client, keys["admin"], entity="kpis")
        assert [(e["actor"], e["action"], e["entity"]) for e in kpis] == [
            ("crm-feed", "kpis_imported", "kpis"), ("crm-feed", "kpis_imported", "kpis"),
            ("crm-feed", "kpis_deleted", "kpis")]
        first, again, deleted = (e["after"] for e in kpis)
        key_id = first["key_id"]
        assert isinstance(key_id, int)
        assert first == {"file": "kpi_oct.csv", "inserted": 2, "replaced": 0, "unchanged": 0, "rejected": 1,
                         "replace": False, "from": "2026-10-01", "to": "2026-10-02", "agents": 1, "key_id": key_id}
        assert (again["inserted"], again["replaced"], again["unchanged"]) == (0, 2, 2)
        assert deleted == {"agent_id": "a1", "period": "2026-10-02", "from": "2026-10-02", "to": "2026-10-02",
                           "all": False, "team": None, "deleted": 1, "key_id": key_id}
        assert kpis[2]["before"] == {"rows": [{"date_from": "2026-10-02", "date_to": "2026-10-02", "team": "t-a",
                                               "source": "kpi_oct.csv", "contacts": 50, "fcr_resolved": 40}]}

        exports = _events(client, keys["admin"], action="appraisals_exported")
        assert [(e["actor"], e["entity"], e["after"]["format"], e["after"]["period"], e["after"]["team"],
                 e["after"]["rows"]) for e in exports] == [
            ("hr.li", "appraisals", "json", "2026-10", None, 1), ("hr.li", "appraisals", "csv", "2026-10", None, 1),
            ("hr.li", "appraisals", "xlsx", "2026-10", None, 1), ("lead.a", "appraisals", "json", "2026-Q4", "t-a", 1)]
        assert exports[0]["after"]["from"] == "2026-10-01" and exports[0]["after"]["to"] == "2026-10-31"
        assert _events(client, keys["admin"], entity="appraisals") == exports
        assert _events(client, keys["lead.a"], entity="kpis") == []  # scoped: its team's transcripts' events only
        r = client.get("/v1/audit", headers=keys["admin"], params={"entity": "kpi"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "entity"]


def test_an_export_is_answered_when_its_audit_event_cannot_be_written(tmp_path, db_url, redis_url, redis_conn,
                                                                      caplog, monkeypatch):
    """A primary that refuses the write (read-only, a trigger here): the export still answers 200, and the
    failure is logged."""
    settings = make_settings(tmp_path, db_url, redis_url)
    engine = create_db_engine(settings)
    postgres = engine.dialect.name == "postgresql"
    refuse = ([text("CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit_events is "
                    "read-only'; END $$ LANGUAGE plpgsql"),
               text("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION "
                    "refuse_audit()")] if postgres else
              [text("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events BEGIN "
                    "SELECT RAISE(ABORT, 'audit_events is read-only'); END")])
    try:
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            r = client.post("/v1/kpis", json={"records": [{"agent_id": "a1", "date": "2026-10-01", "contacts": 4}]})
            assert r.status_code == 200
            with engine.begin() as c:
                for statement in refuse:
                    c.execute(statement)
            # import-linter, run in-process by test_architecture, configures logging and so disables every logger
            # that exists by then: this one is enabled again here, as it is in a server.
            monkeypatch.setattr(logging.getLogger("qa_service.performance.audit"), "disabled", False)
            with caplog.at_level(logging.WARNING, logger="qa_service.performance.audit"):
                for fmt in ("json", "xlsx"):
                    r = client.get("/v1/appraisals", params={"period": "2026-10", "format": fmt})
                    assert r.status_code == 200, r.text
            assert r.content.startswith(b"PK")
            assert "appraisal export by anonymous (2026-10, team all, xlsx, 1 rows) answered but not recorded in " \
                   "the audit trail: " in caplog.text and "read-only" in caplog.text
            # a KPI import is audited in its own transaction: refused together, nothing half-stored
            r = client.post("/v1/kpis", json={"records": [{"agent_id": "a9", "date": "2026-10-01", "contacts": 4}]})
            assert r.status_code >= 500
            assert client.get("/v1/kpis", params={"period": "2026-10", "agent_id": "a9"}).json() == []
    finally:
        with engine.begin() as c:
            c.execute(text("DROP TRIGGER IF EXISTS refuse_audit" + (" ON audit_events" if postgres else "")))
            if postgres:
                c.execute(text("DROP FUNCTION IF EXISTS refuse_audit()"))
        engine.dispose()


def test_the_commands_audit_imports_deletions_and_exports_as_the_os_user(tmp_path, settings, fresh_settings):
    env = {"QA_DB__URL": settings.database_url, "QA_REDIS__URL": settings.redis.url, "QA_DB__AUTO_MIGRATE": "false"}
    runner = CliRunner()

    def qa(*args, code=0, input=None):
        get_settings.cache_clear()
        result = runner.invoke(cli, list(args), env=env, input=input)
        assert result.exit_code == code, result.output
        return result

    kpis = tmp_path / "kpi_oct.csv"
    kpis.write_bytes(KPIS.replace("\n", "\r\n").encode("gbk"))
    qa("import-kpis", str(kpis), code=1)  # line 4 rejected, the rest stored
    qa("delete-kpis", "--agent", "ａ1", "--period", "2026-10-01", "--yes")  # full width: agent a1
    qa("export-appraisals", "--period", "2026-10", "--format", "csv", "--team", "t-a")
    engine = create_db_engine(settings)
    try:
        with engine.connect() as c:
            rows = c.execute(text("SELECT actor, action, entity FROM audit_events ORDER BY id")).all()
    finally:
        engine.dispose()
    me = f"cli:{getpass.getuser()}"
    assert [tuple(r) for r in rows] == [(me, "kpis_imported", "kpis"), (me, "kpis_deleted", "kpis"),
                                        (me, "appraisals_exported", "appraisals")]
    with TestClient(create_app(settings)) as client:
        imported, deleted, exported = (e["after"] for e in client.get("/v1/audit").json())
    assert (imported["file"], imported["inserted"], imported["rejected"], imported["from"], imported["to"]) == (
        "kpi_oct.csv", 2, 1, "2026-10-01", "2026-10-02")
    assert "key_id" not in imported
    assert (deleted["agent_id"], deleted["deleted"]) == ("a1", 1)
    assert (exported["format"], exported["team"], exported["rows"], exported["period"]) == ("csv", "t-a", 1, "2026-10")


def test_kpi_and_appraisal_events_are_read_by_the_roles_that_read_kpis(tmp_path, db_url, redis_url, redis_conn):
    """Found by a review: a KPI deletion's event lists the deleted rows with their figures, and any reviewer key
    read them (``GET /v1/kpis`` is a 403 for it) while hr got a 403 on the whole trail."""
    settings = make_settings(tmp_path, db_url, redis_url, auth=AuthSettings(enabled=True))
    with TestClient(create_app(settings)) as client:
        keys = bearer_keys(client.app.state.runtime.sessions, [
            ("feed", "ingest", None), ("rev", "reviewer", None), ("hr", "hr", None), ("hr.b", "hr", "t-b"),
            ("lead.a", "supervisor", "t-a"), ("admin", "admin", None)])
        csv = "坐席工号,日期,班组,接待量,主管评分\na1,2026-10-01,t-a,40,2\na2,2026-10-01,t-a,30,3\n"
        assert client.post("/v1/kpis", headers={**keys["feed"], **CSV}, content=csv.encode()).status_code == 200
        for params in ({"agent_id": "a1", "all": "true"}, {"agent_id": "a2", "all": "true", "team": "t-a"}):
            assert client.delete("/v1/kpis", headers=keys["feed"], params=params).json()["deleted"] == 1
        for who in ("hr", "lead.a"):
            assert client.get("/v1/appraisals", headers=keys[who], params={"period": "2026-10"}).status_code == 200
        tid = client.post("/v1/transcripts", headers=keys["feed"], json=transcript("e1")).json()["id"]
        assert client.delete(f"/v1/transcripts/{tid}", headers=keys["admin"]).status_code == 204

        def seen(who, **params) -> list[tuple[str, str | None]]:
            return [(e["action"], e["after"].get("team")) for e in _events(client, keys[who], **params)]

        everything = seen("admin")
        assert everything == [("kpis_imported", None), ("kpis_deleted", None), ("kpis_deleted", "t-a"),
                              ("appraisals_exported", None), ("appraisals_exported", "t-a"),
                              ("transcripts_erased", None)]
        assert seen("rev") == [("transcripts_erased", None)]  # the KPI and appraisal events left out
        r = client.get("/v1/audit", headers=keys["rev"])
        assert "contacts" not in r.text and "supervisor_rating" not in r.text
        for entity in ("kpis", "appraisals"):
            r = client.get("/v1/audit", headers=keys["rev"], params={"entity": entity})
            assert r.status_code == 403 and "hr, supervisor and admin" in r.json()["detail"], r.text
        assert seen("rev", action="kpis_deleted") == []

        assert seen("hr") == everything[:-1]  # hr: the KPI and appraisal events, nothing else
        [first, _] = _events(client, keys["hr"], action="kpis_deleted")
        assert first["before"]["rows"][0]["contacts"] == 40 and first["before"]["rows"][0]["supervisor_rating"] == 2
        for params in ({"entity": "transcripts"}, {"entity": "review"}, {"transcript_id": tid}):
            r = client.get("/v1/audit", headers=keys["hr"], params=params)
            assert r.status_code == 403 and "entity=kpis or entity=appraisals" in r.json()["detail"], r.text
        # team-scoped: the events that record the key's team (a deletion or export for it), no import
        assert seen("lead.a") == [("kpis_deleted", "t-a"), ("appraisals_exported", "t-a")]
        assert seen("lead.a", entity="kpis") == [("kpis_deleted", "t-a")]
        assert seen("hr.b") == [] and seen("hr.b", entity="appraisals") == []

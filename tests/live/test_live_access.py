"""Live QA with access control on: live ingest takes an ``ingest`` key; the board, alerts and their
acknowledgement are the supervisor's, within their team; webhooks are an admin's."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from qa_service.access import service as key_repo
from qa_service.app import create_app
from qa_service.config import AuthSettings, LiveSettings
from qa_service.storage.db import session_scope
from tests.conftest import make_settings
from tests.live.conftest import SAMPLE

ANGRY = next(d for d in SAMPLE if d["id"] == "stc3-3739797266715000")["utterances"]


@pytest.fixture
def world(tmp_path, db_url, redis_url, redis_conn):
    settings = make_settings(tmp_path, db_url, redis_url, auth=AuthSettings(enabled=True), live=LiveSettings())
    with TestClient(create_app(settings)) as client:
        keys = {}
        with session_scope(client.app.state.runtime.sessions) as s:
            for label, role, team in [("admin", "admin", None), ("ingest", "ingest", None),
                                      ("sup_a", "supervisor", "team-a"), ("sup_b", "supervisor", "team-b"),
                                      ("reviewer", "reviewer", None)]:
                keys[label] = {"Authorization": f"Bearer {key_repo.create_key(session=s, role=role, team=team, name=label)[1]}"}
        yield client, keys


def _alert_of_team_b(client, keys) -> int:
    r = client.post("/v1/live/conversations", headers=keys["ingest"],
                    json={"source": "s", "external_id": "b-1", "team": "team-b", "agent_id": "b1"})
    cid = r.json()["id"]
    alerts = []
    for i, u in enumerate(ANGRY):
        r = client.post(f"/v1/live/conversations/{cid}/utterances", headers=keys["ingest"],
                        json={"utterances": [{"seq": i, **u}]})
        assert r.status_code == 200, r.text
        alerts += r.json()["alerts"]
    return alerts[0]["alert_id"]


def test_another_teams_supervisor_can_neither_see_nor_acknowledge(world):
    client, keys = world
    alert_id = _alert_of_team_b(client, keys)
    assert client.get("/v1/live/alerts", headers=keys["sup_a"]).json() == []
    assert client.get("/v1/live/alerts?team=team-b", headers=keys["sup_a"]).status_code == 403
    assert client.get("/v1/live/conversations", headers=keys["sup_a"]).json() == []
    assert client.post(f"/v1/live/alerts/{alert_id}/ack", headers=keys["sup_a"], json={}).status_code == 403
    assert client.get("/ui/live", headers=keys["sup_a"]).status_code == 200
    mine = client.get("/v1/live/alerts", headers=keys["sup_b"]).json()
    assert alert_id in {a["alert_id"] for a in mine}
    assert [c["team"] for c in client.get("/v1/live/conversations", headers=keys["sup_b"]).json()] == ["team-b"]
    ack = client.post(f"/v1/live/alerts/{alert_id}/ack", headers=keys["sup_b"], json={"note": "已电话联系客户"})
    assert ack.status_code == 200 and ack.json()["status"] == "acknowledged" and ack.json()["acknowledged_by"] == "sup_b"
    again = client.post(f"/v1/live/alerts/{alert_id}/ack", headers=keys["sup_b"], json={})
    assert again.status_code == 409
    closed = client.post(f"/v1/live/alerts/{alert_id}/close", headers=keys["sup_b"], json={"note": "已退款"})
    assert closed.json()["status"] == "closed" and closed.json()["note"] == "已电话联系客户\n已退款"


def test_roles_for_live_ingest_board_and_webhooks(world):
    client, keys = world
    opened = {"source": "s", "external_id": "x", "team": "team-a"}
    assert client.post("/v1/live/conversations", json=opened).status_code == 401
    assert client.post("/v1/live/conversations", headers=keys["reviewer"], json=opened).status_code == 403
    assert client.post("/v1/live/conversations", headers=keys["ingest"], json=opened).status_code == 201
    assert client.get("/v1/live/alerts", headers=keys["ingest"]).status_code == 403
    assert client.get("/v1/live/alerts", headers=keys["reviewer"]).status_code == 403
    hook = {"url": "http://127.0.0.1:9/hook", "format": "wecom"}
    assert client.post("/v1/webhooks", headers=keys["sup_a"], json=hook).status_code == 403
    made = client.post("/v1/webhooks", headers=keys["admin"], json=hook)
    assert made.status_code == 201 and made.json()["signed"] is False
    assert client.post("/v1/webhooks", headers=keys["admin"],
                       json={**hook, "format": "slack"}).json()["detail"][0]["loc"] == ["body", "format"]
    assert client.delete(f"/v1/webhooks/{made.json()['id']}", headers=keys["admin"]).status_code == 204
    assert client.get("/v1/webhooks", headers=keys["admin"]).json() == []

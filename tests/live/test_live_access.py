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
    assert (closed.json()["ack_note"], closed.json()["close_note"]) == ("已电话联系客户", "已退款")


def test_the_acknowledgement_and_closing_notes_are_kept_apart(world):
    """Found by a live probe: the closing note was appended to the acknowledgement's in one field, 4,001
    characters after two of 2,000 (the limit each request takes), with no telling which was which."""
    client, keys = world
    url = f"/v1/live/alerts/{_alert_of_team_b(client, keys)}"
    client.post(f"{url}/ack", headers=keys["sup_b"], json={"note": "甲" * 2000})
    closed = client.post(f"{url}/close", headers=keys["sup_b"], json={"note": "乙" * 2000}).json()
    assert closed["ack_note"] == "甲" * 2000 and closed["close_note"] == "乙" * 2000
    assert closed["note"] == "甲" * 2000 + "\n" + "乙" * 2000  # both, as `note` read before
    listed = next(a for a in client.get("/v1/live/alerts", headers=keys["sup_b"]).json() if a["status"] == "closed")
    assert (listed["ack_note"], listed["close_note"]) == ("甲" * 2000, "乙" * 2000)
    other = next(a for a in client.get("/v1/live/alerts", headers=keys["sup_b"]).json() if a["status"] == "open")
    closed = client.post(f"/v1/live/alerts/{other['alert_id']}/close", headers=keys["sup_b"],
                         json={"note": "客户已安抚\n补偿10元话费"}).json()  # closed without 介入 first
    assert (closed["ack_note"], closed["close_note"], closed["note"]) == (None, "客户已安抚\n补偿10元话费",
                                                                          "客户已安抚\n补偿10元话费")
    assert closed["acknowledged_by"] == "sup_b"


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


def test_an_ingest_key_cannot_test_guesses_of_a_turn_by_resending_it(world):
    """Found by a security probe: a turn re-sent with other content was a 409 naming its field, with the
    stored values of all but the text, so an ingest key (which may read no conversation, of any team)
    could confirm a guess at a turn's words (409 at .text: wrong; at .start_ms: right), then read its
    times. To an ingest key it is now `utterances`, the same answer whatever differs, as a transcript
    resend is; an admin (who may read the conversation anyway) is still told the field and the values."""
    client, keys = world
    cid = client.post("/v1/live/conversations", headers=keys["ingest"],
                      json={"source": "s", "external_id": "guess-1", "team": "team-a"}).json()["id"]
    url = f"/v1/live/conversations/{cid}/utterances"
    said = {"seq": 0, "role": "agent", "text": "我怎么知道，你自己去问快递", "start_ms": 4500}
    assert client.post(url, headers=keys["ingest"], json={"utterances": [said]}).status_code == 200
    answers = []
    for guess in ({**said, "text": "我不知道"}, {**said, "start_ms": None}, {**said, "role": "customer"},
                  {**said, "text": "我不知道", "role": "customer"}):
        r = client.post(url, headers=keys["ingest"], json={"utterances": [guess]})
        assert r.status_code == 409 and r.json()["field"] == "utterances", r.text
        assert "4500" not in r.text and "agent" not in r.text and "快递" not in r.text, r.text
        answers.append(r.json())
    assert all(a == answers[0] for a in answers), answers  # nothing tells a right guess from a wrong one
    assert "from seq 1" in answers[0]["detail"]
    detailed = client.post(url, headers=keys["admin"], json={"utterances": [{**said, "start_ms": None}]})
    assert detailed.status_code == 409 and detailed.json()["field"] == "utterances[0].start_ms"
    assert "(start_ms 4500 then, null now)" in detailed.json()["detail"]
    again = client.post(url, headers=keys["ingest"], json={"utterances": [said]})  # a true resend: harmless
    assert again.status_code == 200 and again.json()["repeats"] == 1

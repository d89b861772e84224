"""A team-scoped key gets the same 403 for an id that does not exist as for another team's item, so it
cannot map other teams' id ranges (found by a probe: other team 403, missing 404). Unscoped keys keep
the 404."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from qa_service.app import create_app
from qa_service.config import AuthSettings, LiveSettings
from qa_service.queue.tasks import record_report
from qa_service.storage.db import session_scope
from tests.api.test_review_api import UTTERANCES, report
from tests.conftest import bearer_keys, make_settings, transcript

MINE, THEIRS = "after-sales", "presales"
NOWHERE = 987_654


@pytest.fixture
def world(tmp_path, db_url, redis_url, redis_conn):
    settings = make_settings(tmp_path, db_url, redis_url, auth=AuthSettings(enabled=True), live=LiveSettings())
    with TestClient(create_app(settings)) as client:
        sessions = client.app.state.runtime.sessions
        keys = bearer_keys(sessions, [("feed", "ingest", None), ("lead.a", "supervisor", MINE),
                                      ("qa.a", "reviewer", MINE), ("qa.all", "reviewer", None)])
        r = client.post("/v1/transcripts", headers=keys["feed"],
                        json=transcript("theirs", team=THEIRS, agent_id="b1", utterances=UTTERANCES))
        theirs = r.json()["id"]
        with session_scope(sessions) as s:
            record_report(session=s, transcript_id=theirs, report=report({"politeness": (40, 1.0, [])}))
        review = client.get(f"/v1/transcripts/{theirs}/review", headers=keys["qa.all"]).json()["id"]
        yield client, keys, theirs, review


def _same_refusal(other, absent) -> None:
    assert other.status_code == absent.status_code == 403, (other.text, absent.text)
    assert other.content == absent.content


@pytest.mark.parametrize("who", ["lead.a", "qa.a"])
def test_scoped_key_cannot_tell_missing_ids_from_other_teams(world, who):
    client, keys, theirs, review = world
    key = keys[who]
    for path in ("/v1/transcripts/{}", "/v1/reviews/{}"):
        item = theirs if "transcripts" in path else review
        _same_refusal(client.get(path.format(item), headers=key), client.get(path.format(NOWHERE), headers=key))
    _same_refusal(client.post("/v1/reviews", headers=key, json={"transcript_id": theirs}),
                  client.post("/v1/reviews", headers=key, json={"transcript_id": NOWHERE}))
    ui_other = client.get(f"/ui/transcripts/{theirs}", headers=key)
    ui_absent = client.get(f"/ui/transcripts/{NOWHERE}", headers=key)
    assert ui_other.status_code == ui_absent.status_code == 403
    assert ui_other.text == ui_absent.text
    refusal = client.get(f"/v1/transcripts/{theirs}", headers=key).content
    if who == "lead.a":
        assert client.post(f"/v1/live/alerts/{NOWHERE}/ack", headers=key, json={}).content == refusal
    else:
        assert client.post(f"/v1/appeals/{NOWHERE}/decision", headers=key,
                           json={"decision": "rejected"}).content == refusal
        assign = {"reviewers": ["qa.a"], "mode": "manual"}
        # a missing id beside another team's: refused for the other team, the missing one never named
        _same_refusal(client.post("/v1/reviews/assign", headers=key, json={**assign, "review_ids": [review, NOWHERE]}),
                      client.post("/v1/reviews/assign", headers=key, json={**assign, "review_ids": [NOWHERE]}))


def test_unscoped_key_keeps_404_for_missing_ids(world):
    client, keys, _, _ = world
    key = keys["qa.all"]
    for resp in (client.get(f"/v1/transcripts/{NOWHERE}", headers=key), client.get(f"/v1/reviews/{NOWHERE}", headers=key),
                 client.post("/v1/reviews", headers=key, json={"transcript_id": NOWHERE}),
                 client.post(f"/v1/appeals/{NOWHERE}/decision", headers=key, json={"decision": "rejected"}),
                 client.post("/v1/reviews/assign", headers=key, json={"reviewers": ["x"], "review_ids": [NOWHERE]})):
        assert resp.status_code == 404, resp.text
    assert client.get(f"/ui/transcripts/{NOWHERE}", headers=key).status_code == 404

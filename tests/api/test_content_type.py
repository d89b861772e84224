"""A JSON body sent under another Content-Type (curl's default form type, text/plain, none) is a 415 naming the
type it came with, not a 422 saying a valid JSON object is not an object; a bad JSON body stays a 422."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from qa_service.app import create_app
from tests.conftest import make_settings, transcript


@pytest.fixture
def client(tmp_path, db_url, redis_url, redis_conn):
    with TestClient(create_app(make_settings(tmp_path, db_url, redis_url))) as c:
        yield c


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain; charset=utf-8", None])
def test_a_body_not_sent_as_json_is_a_415_naming_its_type(client, content_type):
    body = json.dumps(transcript("ct-1")).encode()
    headers = {"content-type": content_type} if content_type else {}
    for path, payload in (("/v1/transcripts", body), ("/v1/transcripts/batch", b'{"transcripts": [%s]}' % body)):
        r = client.post(path, content=payload, headers=headers)
        assert r.status_code == 415, r.text
        assert r.json() == {"detail": f"Content-Type must be application/json (got {content_type or 'none'})",
                            "field": "content-type"}
    assert client.get("/v1/transcripts").json()["total"] == 0  # nothing stored


def test_json_bodies_keep_their_answers(client):
    body = json.dumps(transcript("ct-2")).encode()
    assert client.post("/v1/transcripts", content=body, headers={"content-type": "application/json"}
                       ).status_code == 202
    r = client.post("/v1/transcripts", content=b"[1, 2]", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body"]
    r = client.post("/v1/transcripts", content=b'{"source": ', headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"
    r = client.post("/v1/transcripts", headers={"content-type": "text/plain"})  # no body at all: missing, as before
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "missing"
    r = client.post("/v1/kpis", content=b"agent_id,date\na\xff,2026-10-01", headers={"content-type": "text/csv"})
    assert r.status_code == 422  # a route that takes CSV says what is wrong with it itself


def test_the_415_is_declared(client):
    spec = client.get("/openapi.json").json()
    assert "415" in spec["paths"]["/v1/transcripts"]["post"]["responses"]
    assert "415" not in spec["paths"]["/v1/transcripts"]["get"]["responses"]

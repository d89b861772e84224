"""Bad input: every case answered 4xx, the field named, nothing stored."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from qa_service.app import create_app
from qa_service.storage.tables import Transcript
from tests.conftest import make_settings, transcript


@pytest.fixture
def strict(tmp_path, sqlite_url, redis_url, redis_conn):
    settings = make_settings(tmp_path, sqlite_url, redis_url,
                             api={"max_text_chars": 50, "max_utterances": 3, "max_batch_items": 3,
                                  "max_body_bytes": 20_000})
    app = create_app(settings)
    with TestClient(app) as c:
        yield c, app.state.runtime.sessions


def _utt(**kw):
    return {"role": "customer", "text": "你好", **kw}


BAD_JSON_CASES = {
    "empty transcript": (transcript(utterances=[]), ["body", "utterances"]),
    "missing utterances": ({"source": "s", "external_id": "e"}, ["body", "utterances"]),
    "missing source": ({"external_id": "e", "utterances": [_utt()]}, ["body", "source"]),
    "blank external_id": (transcript(external_id="  "), ["body", "external_id"]),
    "unknown role": (transcript(utterances=[_utt(role="manager")]), ["body", "utterances", 0, "role"]),
    "missing text": (transcript(utterances=[{"role": "agent"}]), ["body", "utterances", 0, "text"]),
    "whitespace text": (transcript(utterances=[_utt(text="   ")]), ["body", "utterances", 0, "text"]),
    "text over limit": (transcript(utterances=[_utt(text="很" * 51)]), ["body", "utterances", 0, "text"]),
    "NUL in text": (transcript(utterances=[_utt(text="你好\x00")]), ["body", "utterances", 0, "text"]),
    "control char in id": (transcript(external_id="a\x07b"), ["body", "external_id"]),
    "too many utterances": (transcript(utterances=[_utt()] * 4), ["body", "utterances"]),
    "timestamps going backwards": (
        transcript(utterances=[_utt(start_ms=5000, end_ms=6000), _utt(start_ms=1000, end_ms=2000)]),
        ["body", "utterances", 1, "start_ms"],
    ),
    "end before start": (transcript(utterances=[_utt(start_ms=5000, end_ms=100)]), ["body", "utterances", 0]),
    "negative start": (transcript(utterances=[_utt(start_ms=-1)]), ["body", "utterances", 0, "start_ms"]),
    "confidence over 1": (transcript(utterances=[_utt(asr_confidence=1.5)]), ["body", "utterances", 0, "asr_confidence"]),
    "unknown channel": (transcript(channel="email"), ["body", "channel"]),
    "utterances not a list": (transcript(utterances="客户：你好"), ["body", "utterances"]),
    "text not a string": (transcript(utterances=[_utt(text=["a"])]), ["body", "utterances", 0, "text"]),
    "bad started_at": (transcript(started_at="yesterday"), ["body", "started_at"]),
    "metadata not an object": (transcript(metadata=[1, 2]), ["body", "metadata"]),
}


@pytest.mark.parametrize("case", BAD_JSON_CASES, ids=list(BAD_JSON_CASES))
def test_bad_transcript_is_4xx_naming_the_field(strict, case):
    client, sessions = strict
    body, loc = BAD_JSON_CASES[case]
    resp = client.post("/v1/transcripts", json=body)
    assert resp.status_code == 422, resp.text
    locs = [e["loc"] for e in resp.json()["detail"]]
    assert loc in locs, locs
    assert all(e["msg"] for e in resp.json()["detail"])
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Transcript)) == 0


def test_invalid_utf8_is_400_naming_the_body(strict):
    client, sessions = strict
    raw = json.dumps(transcript(), ensure_ascii=False).encode("utf-8").replace("你好".encode(), b"\xff\xfe")
    raw = raw.replace("我买".encode(), b"\xc3\x28")
    resp = client.post("/v1/transcripts", content=raw, headers={"content-type": "application/json"})
    assert resp.status_code == 400
    assert resp.json()["detail"][0]["loc"] == ["body"] and "UTF-8" in resp.json()["detail"][0]["msg"]
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Transcript)) == 0


def test_malformed_json_is_422(strict):
    client, _ = strict
    resp = client.post("/v1/transcripts", content=b'{"source": "s", ', headers={"content-type": "application/json"})
    assert resp.status_code == 422 and resp.json()["detail"][0]["type"] == "json_invalid"


def test_huge_body_is_413(strict):
    client, sessions = strict
    body = transcript(metadata={"blob": "x" * 30_000})
    resp = client.post("/v1/transcripts", json=body)
    assert resp.status_code == 413 and "QA_API__MAX_BODY_BYTES" in resp.json()["detail"][0]["msg"]


def test_batch_too_large_is_422_naming_transcripts(strict):
    client, sessions = strict
    resp = client.post("/v1/transcripts/batch", json={"transcripts": [transcript(f"k{i}") for i in range(4)]})
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", "transcripts"]
    assert "limit is 3" in resp.json()["detail"][0]["msg"]
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Transcript)) == 0


def test_empty_batch_is_422(strict):
    client, _ = strict
    resp = client.post("/v1/transcripts/batch", json={"transcripts": []})
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "transcripts"]


def test_bad_items_in_batch_name_their_fields_and_store_nothing(strict):
    client, sessions = strict
    items = [case[0] for case in list(BAD_JSON_CASES.values())[:3]]
    resp = client.post("/v1/transcripts/batch", json={"transcripts": items})
    assert resp.status_code == 207
    assert resp.json()["rejected"] == 3
    for i, item in enumerate(resp.json()["items"]):
        assert item["errors"] and all(e["loc"][:3] == ["body", "transcripts", i] for e in item["errors"])
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Transcript)) == 0

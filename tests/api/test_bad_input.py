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
    "end before start": (transcript(utterances=[_utt(start_ms=5000, end_ms=100)]), ["body", "utterances", 0, "end_ms"]),
    "negative start": (transcript(utterances=[_utt(start_ms=-1)]), ["body", "utterances", 0, "start_ms"]),
    "confidence over 1": (transcript(utterances=[_utt(asr_confidence=1.5)]), ["body", "utterances", 0, "asr_confidence"]),
    "unknown channel": (transcript(channel="email"), ["body", "channel"]),
    "utterances not a list": (transcript(utterances="客户：你好"), ["body", "utterances"]),
    "text not a string": (transcript(utterances=[_utt(text=["a"])]), ["body", "utterances", 0, "text"]),
    "bad started_at": (transcript(started_at="yesterday"), ["body", "started_at"]),
    "metadata not an object": (transcript(metadata=[1, 2]), ["body", "metadata"]),
    # values past what the columns hold (a 500 and, for a time, a worker stuck on the chunk, before)
    "start_ms past 32 bits": (transcript(utterances=[_utt(start_ms=2**63)]), ["body", "utterances", 0, "start_ms"]),
    "started_at in year 9999": (transcript(started_at="9999-12-31T23:59:59Z"), ["body", "started_at"]),
    "started_at past year 9999 in UTC": (transcript(started_at="9999-12-31T23:59:59-14:00"), ["body", "started_at"]),
    "started_at before year 1 in UTC": (transcript(started_at="0001-01-01T00:00:00+14:00"), ["body", "started_at"]),
    # metadata that cannot be stored as sent (a 500, or stored changed, before)
    "lone surrogate in metadata": (transcript(metadata={"x": "\ud800"}), ["body", "metadata"]),
    "lone surrogate in a metadata key": (transcript(metadata={"k\ud800": 1}), ["body", "metadata"]),
    "NUL in metadata": (transcript(metadata={"x": ["a\x00"]}), ["body", "metadata"]),
    "NaN in metadata": (transcript(metadata={"x": float("nan")}), ["body", "metadata"]),
    # found by a probe (2026-11-29): stored, or a message that did not say what was wrong
    "zero-width spaces for text": (transcript(utterances=[_utt(text="\u200b\u200b")]), ["body", "utterances", 0, "text"]),
    "zero-width and plain spaces for text": (transcript(utterances=[_utt(text="\u200b \u200b")]),
                                             ["body", "utterances", 0, "text"]),
    "team ending in a space": (transcript(team="after-sales "), ["body", "team"]),
    "agent_id starting with an ideographic space": (transcript(agent_id="\u3000a7"), ["body", "agent_id"]),
    "NaN asr_confidence": (transcript(utterances=[_utt(asr_confidence=float("nan"))]),
                           ["body", "utterances", 0, "asr_confidence"]),
}


def test_bad_input_messages_say_what_is_wrong(strict):
    client, _ = strict
    for body, said in ((transcript(team="after-sales "), "starts or ends with a space (U+0020)"),
                       (transcript(utterances=[_utt(asr_confidence=float("nan"))]), "is nan; give a number from 0 to 1")):
        resp = client.post("/v1/transcripts", content=json.dumps(body), headers={"content-type": "application/json"})
        assert said in resp.json()["detail"][0]["msg"], resp.text


@pytest.mark.parametrize("case", BAD_JSON_CASES, ids=list(BAD_JSON_CASES))
def test_bad_transcript_is_4xx_naming_the_field(strict, case):
    client, sessions = strict
    body, loc = BAD_JSON_CASES[case]
    # json.dumps, not json=: escapes a lone surrogate as \ud800 and writes NaN, as a careless client would
    resp = client.post("/v1/transcripts", content=json.dumps(body), headers={"content-type": "application/json"})
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


@pytest.mark.parametrize("path,params,loc", [
    ("/v1/transcripts", {"since": "9999-12-31T23:59:59-14:00"}, ["query", "since"]),
    ("/v1/transcripts", {"until": "0001-01-01T00:00:00+14:00"}, ["query", "until"]),
    ("/v1/transcripts", {"offset": 2**63}, ["query", "offset"]),
    ("/v1/reviews", {"since": "9999-12-31T23:59:59-14:00"}, ["query", "since"]),
    ("/v1/appeals", {"offset": 2**63}, ["query", "offset"]),
    ("/v1/webhooks/deliveries", {"status": "bogus"}, ["query", "status"]),  # was 200 [], as if none had failed
])
def test_query_values_past_the_columns_are_422_naming_the_parameter(strict, path, params, loc):
    client, _ = strict
    resp = client.get(path, params=params)
    assert resp.status_code == 422, resp.text
    assert loc in [e["loc"] for e in resp.json()["detail"]]


@pytest.mark.parametrize("period", ["9999", "9999-12", "9999-Q4", "9999-W52", "9999-12-31", "0001-01-01",
                                    "1899-12"])
@pytest.mark.parametrize("path", ["/v1/reviews", "/v1/performance", "/v1/appraisals"])
def test_periods_at_the_calendar_s_edges_are_422_naming_the_period(strict, path, period):
    client, _ = strict
    resp = client.get(path, params={"period": period})
    assert resp.status_code == 422, resp.text
    assert "supported years" in resp.text and "period" in resp.text


def test_review_ids_past_64_bits_are_422(strict):
    client, _ = strict
    opened = client.post("/v1/reviews", json={"transcript_id": 2**63, "by": "q"})
    assert opened.status_code == 422 and ["body", "transcript_id"] in [e["loc"] for e in opened.json()["detail"]]
    assigned = client.post("/v1/reviews/assign", json={"reviewers": ["a"], "mode": "manual", "review_ids": [2**63],
                                                        "by": "q"})
    assert assigned.status_code == 422 and ["body", "review_ids", 0] in [e["loc"] for e in assigned.json()["detail"]]


@pytest.mark.parametrize("body,field,problem", [
    ({"records": [{"agent_id": "k1", "date": "2026-10-01", "contacts": 2**63}]}, "contacts", "largest value"),
    ({"records": [{"agent_id": "k1", "date": "2026-10-01", "contacts": 10**400}]}, "contacts", "finite"),
    ({"records": [{"agent_id": "k\ud800", "date": "2026-10-01", "contacts": 3}]}, "agent_id", "printable"),
    ({"records": [{"agent_id": "k1", "team": "t\x00", "date": "2026-10-01", "contacts": 3}]}, "team", "printable"),
])
def test_kpi_values_that_cannot_be_stored_are_rejected_by_row(strict, body, field, problem):
    client, _ = strict
    resp = client.post("/v1/kpis", content=json.dumps(body), headers={"content-type": "application/json"})
    assert resp.status_code == 422, resp.text
    [err] = resp.json()["detail"]
    assert err["loc"][-1] == field and problem in err["msg"]


def test_a_kpi_csv_with_a_field_over_csv_s_limit_is_422(tmp_path, sqlite_url, redis_url, redis_conn):
    app = create_app(make_settings(tmp_path, sqlite_url, redis_url, api={"max_body_bytes": 1_000_000}))
    with TestClient(app) as client:
        _csv_over_limits(client)


def _csv_over_limits(client):
    csv_text = "agent_id,date,接待量\nk1,2026-10-01," + "9" * 200_000 + "\n"
    resp = client.post("/v1/kpis", content=csv_text.encode(), headers={"content-type": "text/csv"})
    assert resp.status_code == 422 and "not readable CSV" in resp.text, resp.text[:300]
    big = client.post("/v1/kpis", content="agent_id,date,接待量\nk1,2026-10-01,99999999999999999999999\n".encode(),
                      headers={"content-type": "text/csv"})
    assert big.status_code == 422 and "largest value" in big.text, big.text[:300]


def test_a_number_too_long_to_read_is_422_at_body(strict):
    """5,000 digits (past Python's int-string limit) answered 400 "There was an error parsing the body"."""
    client, sessions = strict
    for field in ("start_ms", "asr_confidence"):
        body = ('{"source":"s","external_id":"e","utterances":[{"role":"agent","text":"a","' + field + '":'
                + "9" * 5000 + "}]}")
        resp = client.post("/v1/transcripts", content=body, headers={"content-type": "application/json"})
        assert resp.status_code == 422, resp.text
        [err] = resp.json()["detail"]
        assert err["loc"] == ["body"] and err["type"] == "number_too_long" and "digits" in err["msg"], err
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Transcript)) == 0

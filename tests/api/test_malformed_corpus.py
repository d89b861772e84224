"""A corpus of malformed requests across the API: each is answered 4xx naming the field, nothing is stored.

Wrong types, missing fields, huge and deeply nested payloads, invalid UTF-8, control characters,
SQL and script injection strings where a field has a fixed form (roles, channels, ids, dates,
numbers, query parameters), negative and reversed timestamps, unknown roles. Injection strings in
free text are *not* errors — a customer may type ``'; DROP TABLE`` or ``<script>`` — so the last
test stores them verbatim and reads them back unchanged.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from qa_service.app import create_app
from qa_service.storage.tables import AgentKpi, ApiKey, AuditEvent, Review, Transcript, Utterance
from tests.conftest import make_settings, transcript

SQLI = "1' OR '1'='1'; DROP TABLE transcripts;--"
XSS = "<script>alert(1)</script>"


def _u(**kw):
    return {"role": "customer", "text": "你好", **kw}


def _t(**kw):
    return {**transcript("bad"), **kw}


def _raw(body: str | bytes, ctype: str = "application/json") -> dict:
    return {"content": body if isinstance(body, bytes) else body.encode("utf-8"), "headers": {"content-type": ctype}}


def _nested(depth: int) -> str:
    return '{"source":"s","external_id":"deep","utterances":[{"role":"agent","text":"x"}],"metadata":' + \
        '{"k":' * depth + "1" + "}" * depth + "}"


POST_T = ("POST", "/v1/transcripts")
CASES: list[tuple[str, tuple[str, str], dict, int, list]] = [
    # wrong types
    ("source is a number", POST_T, {"json": _t(source=123)}, 422, ["body", "source"]),
    ("external_id is null", POST_T, {"json": _t(external_id=None)}, 422, ["body", "external_id"]),
    ("agent_id is a list", POST_T, {"json": _t(agent_id=["a1"])}, 422, ["body", "agent_id"]),
    ("team is an object", POST_T, {"json": _t(team={"id": 1})}, 422, ["body", "team"]),
    ("utterance is a number", POST_T, {"json": _t(utterances=[1])}, 422, ["body", "utterances", 0]),
    ("role is a number", POST_T, {"json": _t(utterances=[_u(role=1)])}, 422, ["body", "utterances", 0, "role"]),
    ("start_ms is text", POST_T, {"json": _t(utterances=[_u(start_ms="abc")])}, 422,
     ["body", "utterances", 0, "start_ms"]),
    ("start_ms is fractional", POST_T, {"json": _t(utterances=[_u(start_ms=1.5)])}, 422,
     ["body", "utterances", 0, "start_ms"]),
    ("start_ms is infinite", POST_T, _raw('{"source":"s","external_id":"e","utterances":[{"role":"agent",'
                                           '"text":"x","start_ms":1e999}]}'), 422,
     ["body", "utterances", 0, "start_ms"]),
    ("asr_confidence is text", POST_T, {"json": _t(utterances=[_u(asr_confidence="high")])}, 422,
     ["body", "utterances", 0, "asr_confidence"]),
    ("metadata is a string", POST_T, {"json": _t(metadata="vip")}, 422, ["body", "metadata"]),
    ("channel is null", POST_T, {"json": _t(channel=None)}, 422, ["body", "channel"]),
    ("body is an array", POST_T, {"json": [_t()]}, 422, ["body"]),
    ("body is a string", POST_T, {"json": "客户：你好"}, 422, ["body"]),
    ("body is null", POST_T, _raw("null"), 422, ["body"]),
    ("body is form text", POST_T, _raw("source=a&external_id=b", "text/plain"), 415, ["content-type"]),
    # missing fields
    ("no body at all", POST_T, _raw(b""), 422, ["body"]),
    ("missing external_id", POST_T, {"json": {"source": "s", "utterances": [_u()]}}, 422, ["body", "external_id"]),
    ("missing role", POST_T, {"json": _t(utterances=[{"text": "你好"}])}, 422, ["body", "utterances", 0, "role"]),
    ("empty source", POST_T, {"json": _t(source="")}, 422, ["body", "source"]),
    # huge, deep, broken encodings
    ("body over the size limit", POST_T, _raw('{"x":"' + "a" * 30_000 + '"}'), 413, ["body"]),
    ("text over the length limit", POST_T, {"json": _t(utterances=[_u(text="长" * 201)])}, 422,
     ["body", "utterances", 0, "text"]),
    ("id over the length limit", POST_T, {"json": _t(external_id="x" * 201)}, 422, ["body", "external_id"]),
    ("metadata nested 17 deep", POST_T, _raw(_nested(17)), 422, ["body", "metadata"]),
    ("metadata nested 900 deep", POST_T, _raw(_nested(900)), 422, ["body", "metadata"]),
    ("JSON nested 5000 deep", POST_T, _raw('{"source":"s","external_id":"e","metadata":' + "[" * 5000 + "]" * 5000
                                            + "}"), 400, ["body"]),
    ("batch nested 5000 deep", ("POST", "/v1/transcripts/batch"), _raw('{"transcripts":' + "[" * 5000 + "]" * 5000
                                                                        + "}"), 400, ["body"]),
    ("invalid UTF-8", POST_T, _raw(b'{"source":"s","external_id":"e","utterances":[{"role":"agent","text":"\xff\xfe"}]}'),
     400, ["body"]),
    ("truncated JSON", POST_T, _raw('{"source":"s","external_id":'), 422, ["body"]),
    ("lone surrogate", POST_T, _raw('{"source":"s","external_id":"e","utterances":[{"role":"agent","text":"a\\ud800"}]}'),
     422, ["body", "utterances", 0, "text"]),
    # control characters
    ("NUL in source", POST_T, {"json": _t(source="jd\x00chat")}, 422, ["body", "source"]),
    ("escape in agent_id", POST_T, {"json": _t(agent_id="a\x1b[31m")}, 422, ["body", "agent_id"]),
    ("bell in text", POST_T, {"json": _t(utterances=[_u(text="你好\x07")])}, 422, ["body", "utterances", 0, "text"]),
    ("DEL in team", POST_T, {"json": _t(team="t\x7f")}, 422, ["body", "team"]),
    # injection strings where the form is fixed
    ("SQL in role", POST_T, {"json": _t(utterances=[_u(role=SQLI)])}, 422, ["body", "utterances", 0, "role"]),
    ("SQL in channel", POST_T, {"json": _t(channel=SQLI)}, 422, ["body", "channel"]),
    ("SQL in started_at", POST_T, {"json": _t(started_at=SQLI)}, 422, ["body", "started_at"]),
    ("script in role", POST_T, {"json": _t(utterances=[_u(role=XSS)])}, 422, ["body", "utterances", 0, "role"]),
    ("script in channel", POST_T, {"json": _t(channel=XSS)}, 422, ["body", "channel"]),
    ("SQL in transcript id", ("GET", "/v1/transcripts/1 OR 1=1"), {}, 422, ["path", "transcript_id"]),
    ("SQL in status filter", ("GET", f"/v1/transcripts?status={SQLI}"), {}, 422, ["query", "status"]),
    ("SQL in limit", ("GET", "/v1/transcripts?limit=1;DROP TABLE transcripts"), {}, 422, ["query", "limit"]),
    ("SQL in since", ("GET", f"/v1/transcripts?since={SQLI}"), {}, 422, ["query", "since"]),
    ("SQL in period", ("GET", f"/v1/performance?period={SQLI}"), {}, 422, ["query", "period"]),
    ("script in appraisal format", ("GET", f"/v1/appraisals?period=2026-10&format={XSS}"), {}, 422,
     ["query", "format"]),
    ("SQL in review status", ("GET", f"/v1/reviews?status={SQLI}"), {}, 422, ["query", "status"]),
    # negative and reversed timestamps, unknown roles
    ("negative start_ms", POST_T, {"json": _t(utterances=[_u(start_ms=-5, end_ms=10)])}, 422,
     ["body", "utterances", 0, "start_ms"]),
    ("negative end_ms", POST_T, {"json": _t(utterances=[_u(end_ms=-1)])}, 422, ["body", "utterances", 0, "end_ms"]),
    ("end before start", POST_T, {"json": _t(utterances=[_u(start_ms=900, end_ms=100)])}, 422,
     ["body", "utterances", 0, "end_ms"]),
    ("starts going backwards", POST_T, {"json": _t(utterances=[_u(start_ms=5000), _u(start_ms=10)])}, 422,
     ["body", "utterances", 1, "start_ms"]),
    ("negative confidence", POST_T, {"json": _t(utterances=[_u(asr_confidence=-0.1)])}, 422,
     ["body", "utterances", 0, "asr_confidence"]),
    ("year zero", POST_T, {"json": _t(started_at="0000-01-01T00:00:00Z")}, 422, ["body", "started_at"]),
    ("role in upper case", POST_T, {"json": _t(utterances=[_u(role="AGENT")])}, 422, ["body", "utterances", 0, "role"]),
    ("role in Chinese", POST_T, {"json": _t(utterances=[_u(role="客服")])}, 422, ["body", "utterances", 0, "role"]),
    ("role manager", POST_T, {"json": _t(utterances=[_u(role="manager")])}, 422, ["body", "utterances", 0, "role"]),
    # other routes
    ("batch is not a list", ("POST", "/v1/transcripts/batch"), {"json": {"transcripts": _t()}}, 422,
     ["body", "transcripts"]),
    ("batch key missing", ("POST", "/v1/transcripts/batch"), {"json": {"items": []}}, 422, ["body", "transcripts"]),
    ("limit zero", ("GET", "/v1/transcripts?limit=0"), {}, 422, ["query", "limit"]),
    ("limit over the page size", ("GET", "/v1/transcripts?limit=100000"), {}, 422, ["query", "limit"]),
    ("negative offset", ("GET", "/v1/reviews?offset=-5"), {}, 422, ["query", "offset"]),
    ("verdict unknown", ("PUT", "/v1/reviews/1/findings/1/verdict"), {"json": {"verdict": "maybe", "by": "x"}}, 422,
     ["body", "verdict"]),
    ("manual finding points infinite", ("POST", "/v1/reviews/1/manual-findings"),
     _raw('{"dimension":"politeness","utterance_index":0,"points":-1e999,"message":"m","by":"x"}'), 422,
     ["body", "points"]),
    ("manual finding negative utterance", ("POST", "/v1/reviews/1/manual-findings"),
     {"json": {"dimension": "politeness", "utterance_index": -1, "points": -5, "message": "m", "by": "x"}}, 422,
     ["body", "utterance_index"]),
    ("open review with text id", ("POST", "/v1/reviews"), {"json": {"transcript_id": SQLI, "by": "x"}}, 422,
     ["body", "transcript_id"]),
    ("sample with a bad period", ("POST", "/v1/reviews/sample"), {"json": {"period": XSS, "by": "x"}}, 422,
     ["body", "period"]),
    ("appeal decision unknown", ("POST", "/v1/appeals/1/decision"), {"json": {"decision": "maybe", "by": "x"}}, 422,
     ["body", "decision"]),
    ("kpis not a list", ("POST", "/v1/kpis"), {"json": {"records": "a1,2026-10-01"}}, 422, ["body", "records"]),
    ("kpi date invalid", ("POST", "/v1/kpis"), {"json": {"records": [{"agent_id": "a1", "date": SQLI, "handled": 3}]}},
     422, ["body", "records"]),
    ("kpis invalid UTF-8", ("POST", "/v1/kpis"), _raw(b"agent_id,date\na\xff,2026-10-01", "text/csv"), 422, ["body"]),
    ("key with an unknown role", ("POST", "/v1/keys"), {"json": {"role": "root"}}, 422, ["body", "role"]),
    ("rule test without text", ("POST", "/v1/rules/test"), {"json": {"pack": "general"}}, 422, ["body"]),
]


@pytest.fixture
def api(tmp_path, sqlite_url, redis_url, redis_conn):
    settings = make_settings(tmp_path, sqlite_url, redis_url,
                             api={"max_text_chars": 200, "max_id_chars": 200, "max_body_bytes": 20_000})
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c, app.state.runtime.sessions


def _names_field(body, loc: list) -> bool:
    detail = body.get("detail")
    if isinstance(detail, list):
        return any(list(e.get("loc", []))[:len(loc)] == loc for e in detail)
    return loc[-1] in (body.get("field"), str(detail))


def test_malformed_corpus_is_big_enough():
    assert len(CASES) >= 50 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_malformed_request_is_4xx_naming_the_field(api, case):
    client, _ = api
    _, (method, path), kwargs, status, loc = case
    resp = client.request(method, path, **kwargs)
    assert resp.status_code == status, resp.text[:500]
    assert _names_field(resp.json(), loc), resp.text[:500]


def test_malformed_corpus_stores_nothing(api):
    client, sessions = api
    for _, (method, path), kwargs, _, _ in CASES:
        assert 400 <= client.request(method, path, **kwargs).status_code < 500
    with sessions() as s:
        for table in (Transcript, Utterance, Review, AgentKpi, AuditEvent, ApiKey):
            assert s.scalar(select(func.count()).select_from(table)) == 0, table.__tablename__


def test_injection_strings_in_free_text_are_stored_verbatim_and_harmless(api):
    client, sessions = api
    texts = [SQLI, XSS, "Robert'); DROP TABLE utterances;--", "{{ 7*7 }} ${7*7} %s%n", "' UNION SELECT key_hash FROM api_keys --"]
    body = transcript("inj", utterances=[_u(text=t) for t in texts], metadata={"note": SQLI})
    resp = client.post("/v1/transcripts", json=body)
    assert resp.status_code == 202
    got = client.get(f"/v1/transcripts/{resp.json()['id']}").json()
    assert [u["text"] for u in got["utterances"]] == texts and got["metadata"] == {"note": SQLI}
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Transcript)) == 1
    assert json.loads(client.get("/v1/transcripts").text)["total"] == 1

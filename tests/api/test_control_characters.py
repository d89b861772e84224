"""Control characters in query parameters and free-text body fields: a 422 naming where, never a 500.

PostgreSQL refuses NUL in any text it is given (``psycopg.DataError``), so on that backend a NUL that
reached a query was a 500 and a dropped keep-alive connection; SQLite answered an empty page."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from qa_service.api.responses import api_routes
from tests.support import route_params

# Required parameters a route needs to reach its query (a period), by name.
REQUIRED = {"period": "2026-11"}
# A query parameter the report found answering 500 on PostgreSQL, by route.
REPORTED = [
    ("/v1/transcripts", "team"), ("/v1/transcripts", "source"), ("/v1/transcripts", "agent_id"),
    ("/v1/transcripts", "reason"), ("/v1/live/alerts", "team"), ("/v1/reviews", "team"),
    ("/v1/reviews", "agent_id"), ("/v1/reviews", "rule"), ("/v1/reviews", "assigned_to"),
    ("/v1/appeals", "team"), ("/v1/appeals", "agent_id"), ("/v1/kpis", "team"), ("/v1/kpis", "agent_id"),
    ("/v1/performance", "team"), ("/v1/appraisals", "team"), ("/v1/calibration", "team"),
]


def _query_params(app) -> list[tuple[str, str, str]]:
    """(method, path with ids filled in, parameter) for every query parameter of every /v1 route."""
    out = []
    for route in api_routes(app.routes):
        if not route.path.startswith("/v1/"):
            continue
        path = route.path
        for p in route_params(route.dependant, "path_params"):
            path = path.replace("{" + p.name + "}", "1")
        for method in sorted(route.methods):
            for param in {q.alias or q.name: q for q in route_params(route.dependant, "query_params")}.values():
                out.append((method, path, param.alias or param.name))
    return out


def _assert_names(resp, name: str) -> None:
    assert resp.status_code == 422, (resp.status_code, resp.text[:300])
    [err] = resp.json()["detail"]
    assert err["loc"] == ["query", name] and "U+0000" in err["msg"], err


@pytest.mark.parametrize(("path", "name"), REPORTED)
def test_a_nul_in_a_reported_filter_is_422_naming_it(app_client, path, name):
    params = {k: v for k, v in REQUIRED.items() if path in ("/v1/kpis", "/v1/performance", "/v1/appraisals",
                                                               "/v1/calibration")}
    resp = app_client.get(path, params={**params, name: "售后\x00"})
    _assert_names(resp, name)
    assert app_client.get("/healthz").status_code == 200  # the connection's server stays well


def test_every_query_parameter_of_every_route_refuses_control_characters(app_client):
    cases = _query_params(app_client.app)
    assert len(cases) > 30  # the walk found the routes
    for method, path, name in cases:
        base = "&".join(f"{k}={v}" for k, v in REQUIRED.items() if k != name)
        resp = app_client.request(method, f"{path}?{base}&{name}=a%00b")
        _assert_names(resp, name)
        resp = app_client.request(method, f"{path}?{name}=a%0Ab")  # a newline: no team or id holds one
        assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["query", name], (path, name)


def test_an_unknown_parameter_with_a_nul_is_refused_too_and_a_ui_page_says_so_as_a_page(app_client):
    _assert_names(app_client.get(f"/v1/transcripts?x{quote(chr(0))}=1"), "x\x00")
    page = app_client.get("/ui/transcripts?team=%00")
    assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")


def test_printable_filters_still_work(app_client):
    assert app_client.get("/v1/transcripts", params={"team": "售后 二组", "agent_id": "a7"}).status_code == 200


# ---------------------------------------------------------------- free text in bodies
BODY_CASES = [
    ("POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/x", "format": "json", "secret": "abcdefgh\x00"}, ["secret"]),
    ("POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/x\x00", "format": "json"}, ["url"]),
    ("POST", "/v1/reviews/assign", {"reviewers": ["qa-a"], "team": "售后\x00", "by": "lead"}, ["team"]),
    ("POST", "/v1/reviews/assign", {"reviewers": ["qa-a"], "agent_id": "a\x00", "by": "lead"}, ["agent_id"]),
    ("POST", "/v1/reviews/assign", {"reviewers": ["qa-a"], "reason": "low_score\x00", "by": "lead"}, ["reason"]),
    ("PUT", "/v1/reviews/1/findings/1/verdict", {"verdict": "rejected", "comment": "不对\x00", "by": "x"}, ["comment"]),
    ("POST", "/v1/reviews/1/complete", {"comment": "ok\x00", "by": "x"}, ["comment"]),
    ("POST", "/v1/reviews/1/appeals", {"finding_id": 1, "reason": "扣错了\x00", "by": "a1"}, ["reason"]),
    ("POST", "/v1/appeals/1/decision", {"decision": "accepted", "comment": "\x00好", "by": "a1"}, ["comment"]),
    ("POST", "/v1/reviews/1/manual-findings", {"dimension": "politeness", "utterance_index": 0, "points": -1,
                                               "message": "漏\x00", "by": "x"}, ["message"]),
    ("POST", "/v1/reviews/1/manual-findings", {"dimension": "politeness\x00", "utterance_index": 0, "points": -1,
                                               "message": "漏", "by": "x"}, ["dimension"]),
    ("POST", "/v1/reviews/1/manual-findings", {"dimension": "politeness", "utterance_index": 0, "points": -1,
                                               "message": "漏", "rule_id": "r\x00", "by": "x"}, ["rule_id"]),
]


@pytest.mark.parametrize(("method", "path", "body", "loc"), BODY_CASES,
                         ids=[f"{p} {'.'.join(loc)}" for _, p, _, loc in BODY_CASES])
def test_a_nul_in_free_text_of_a_body_is_422_naming_the_field(app_client, method, path, body, loc):
    resp = app_client.request(method, path, json=body)
    assert resp.status_code == 422, (resp.status_code, resp.text[:300])
    assert [e["loc"] for e in resp.json()["detail"]] == [["body", *loc]], resp.text[:300]
    assert app_client.get("/v1/webhooks").json() == []  # nothing stored


@pytest.mark.parametrize("team", ["售后一组 ", "a\nb", "", "a\x00", "售后\u200b一组", "\ufeff售后", " "])
def test_a_webhook_team_no_key_could_name_is_422_at_its_index(app_client, team):
    resp = app_client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/x", "teams": ["售后二组", team]})
    assert resp.status_code == 422, resp.text[:300]
    [err] = resp.json()["detail"]
    assert err["loc"] == ["body", "teams", 1], err
    assert app_client.get("/v1/webhooks").json() == []
    ok = app_client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/x", "teams": ["售后一组"],
                                               "secret": "abcdefgh"})
    assert ok.status_code == 201 and ok.json()["teams"] == ["售后一组"], ok.text


# ---------------------------------------------------------------- a conversation's team and agent
LABEL_CASES = ["售后二组\u200b", "售后\u200b二组", "售后\n二组", "售后\t二组", "售后\u202e二组", "\ufeff售后二组",
               "售后二组\u00a0"]


@pytest.mark.parametrize("value", LABEL_CASES)
@pytest.mark.parametrize("field", ["team", "agent_id"])
def test_ingest_refuses_a_team_or_agent_no_key_could_be_made_for(app_client, field, value):
    from tests.conftest import transcript

    key = app_client.post("/v1/keys", json={"role": "supervisor", "name": "lead-x", "team": value})
    assert key.status_code == 422  # the rule the conversation's fields now follow
    one = app_client.post("/v1/transcripts", json=transcript("bad-1", **{field: value}))
    assert one.status_code == 422 and [e["loc"] for e in one.json()["detail"]] == [["body", field]], one.text
    batch = app_client.post("/v1/transcripts/batch", json={"transcripts": [transcript("bad-2", **{field: value})]})
    [item] = batch.json()["items"]
    assert item["status"] == "rejected" and item["errors"][0]["loc"] == ["body", "transcripts", 0, field], item
    live = app_client.post("/v1/live/conversations", json={"source": "live", "external_id": "bad-3", field: value})
    assert live.status_code == 422 and live.json()["detail"][0]["loc"] == ["body", field], live.text
    assert app_client.get("/v1/transcripts").json()["total"] == 0

"""Ids past what an id column holds: a 422 naming the field on every route that takes one, on both databases.

Every id column is a 32-bit integer on PostgreSQL. Was: ids were checked against 2**63 - 1 (some not at all),
so an id from 2**31 up reached PostgreSQL and 18 routes answered 500 with a traceback ("integer out of
range"), for any key, a team supervisor's too. The walk finds every route taking an id — in its path, its
query or its body — so a route added later is checked as well."""

from __future__ import annotations

import typing

import pytest
from pydantic import BaseModel

from qa_service.api.ids import ID_MAX
from qa_service.api.responses import api_routes
from tests.support import route_params

PAST = [ID_MAX + 1, 2**63 - 1]  # 2147483648 and 9223372036854775807


def _is_int(annotation) -> bool:
    return "int" in str(annotation) or annotation is int


def _body_model(route) -> type[BaseModel] | None:
    if route.body_field is None:
        return None
    annotation = route.body_field.field_info.annotation
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _id_cases(app) -> list[tuple[str, str, str, str]]:
    """(method, path template, where, name) for every id a route takes: path, query (…id) and body (…_id, …_ids)."""
    cases = []
    for route in api_routes(app.routes):
        method = sorted(route.methods)[0]
        for p in route_params(route.dependant, "path_params"):
            if p.field_info.annotation is int:
                cases.append((method, route.path, "path", p.name))
        for q in route_params(route.dependant, "query_params"):
            if (q.alias or q.name).endswith("id") and _is_int(q.field_info.annotation):
                cases.append((method, route.path, "query", q.alias or q.name))
        model = _body_model(route)
        for name, field in (model.model_fields.items() if model else ()):
            if name.endswith(("_id", "_ids")) and _is_int(field.annotation):
                cases.append((method, route.path, "body", name))
    return cases


def _call(client, method: str, path: str, where: str, name: str, value: int):
    """The route with ``value`` for ``name`` and 1 for any other id in its path."""
    url = path
    for part in path.split("{")[1:]:
        param = part.split("}")[0]
        url = url.replace("{" + param + "}", str(value if (where, param) == ("path", name) else 1))
    params = {}
    body = None
    if where == "query":
        params[name] = value
    if where == "body":
        body = {name: [value] if name.endswith("_ids") else value}
    elif method in ("POST", "PUT") and path != "/ui/login":
        body = {}
    return client.request(method, url, params=params, json=body)


def _locs(resp) -> list:
    if resp.headers.get("content-type", "").startswith("application/json"):
        body = resp.json()
        detail = body.get("detail") if isinstance(body, dict) else None
        return [e["loc"] for e in detail] if isinstance(detail, list) else []
    return [resp.text]  # a /ui page's 422 is HTML naming the field


def test_the_walk_finds_every_route_the_probe_reported(app_client):
    found = {(m, p, n) for m, p, _, n in _id_cases(app_client.app)}
    assert {
        ("GET", "/v1/transcripts/{transcript_id}", "transcript_id"), ("GET", "/v1/audit", "transcript_id"),
        ("GET", "/v1/transcripts", "before_id"), ("GET", "/v1/live/alerts", "before_id"),
        ("GET", "/v1/webhooks/deliveries", "webhook_id"), ("GET", "/ui/transcripts/{transcript_id}", "transcript_id"),
        ("POST", "/v1/reviews", "transcript_id"), ("POST", "/v1/reviews/assign", "review_ids"),
        ("POST", "/v1/reviews/{review_id}/appeals", "finding_id"), ("POST", "/v1/appeals/{appeal_id}/decision", "appeal_id"),
        ("POST", "/v1/live/alerts/{alert_id}/ack", "alert_id"), ("DELETE", "/v1/keys/{key_id}", "key_id"),
        ("DELETE", "/v1/webhooks/{webhook_id}", "webhook_id"),
        ("POST", "/v1/webhooks/deliveries/{delivery_id}/retry", "delivery_id"),
        ("PUT", "/v1/reviews/{review_id}/findings/{finding_id}/verdict", "finding_id"),
    } <= found and len(found) >= 25


@pytest.mark.parametrize("value", PAST)
def test_every_id_past_32_bits_is_422_naming_it_on_both_databases(app_client, value):
    failures = []
    for method, path, where, name in _id_cases(app_client.app):
        resp = _call(app_client, method, path, where, name, value)
        locs = _locs(resp)
        named = (any(loc[:2] == [where, name] for loc in locs if isinstance(loc, list))
                 or any(isinstance(loc, str) and name in loc and "2147483647" in loc for loc in locs))
        if resp.status_code != 422 or not named:
            failures.append(f"{method} {path} {where}.{name}={value}: {resp.status_code} {resp.text[:160]}")
    assert not failures, "\n".join(failures)
    assert app_client.get("/healthz").status_code == 200


def test_the_largest_id_a_column_holds_is_looked_up_not_refused(app_client):
    """2147483647 is an id like any other: the route's own answer (404 here), never a 5xx or a 422 for the id."""
    for method, path, where, name in _id_cases(app_client.app):
        resp = _call(app_client, method, path, where, name, ID_MAX)
        assert resp.status_code < 500, (method, path, name, resp.status_code, resp.text[:200])
        assert not any(isinstance(loc, list) and loc[:2] == [where, name] for loc in _locs(resp)), (path, name)
    assert app_client.get(f"/v1/transcripts/{ID_MAX}").status_code == 404
    assert app_client.get(f"/ui/transcripts/{ID_MAX}").status_code == 404


def test_an_id_past_32_bits_says_the_limit(app_client):
    resp = app_client.get("/v1/transcripts/2147483648")
    [err] = resp.json()["detail"]
    assert err["loc"] == ["path", "transcript_id"] and "2147483647" in err["msg"]

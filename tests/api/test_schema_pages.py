"""The API's description: /openapi.json, /docs and /redoc. /docs was a blank page (found by a security probe):
FastAPI's Swagger page loads its script from a CDN and starts it inline, which the service's CSP blocks and an
intranet cannot reach; and with access control on, anonymous callers read the whole schema, although
access.md promises them no schema hints."""

from __future__ import annotations

from fastapi.testclient import TestClient

from qa_service.app import create_app
from qa_service.config import AuthSettings
from tests.conftest import make_settings
from tests.support import key_headers


def test_docs_is_a_page_of_every_route_with_no_script_and_nothing_from_elsewhere(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    text = page.text
    assert "<script" not in text and "cdn" not in text and "http://" not in text and "https://" not in text
    assert 'href="/openapi.json"' in text
    spec = client.get("/openapi.json").json()
    for path in spec["paths"]:
        assert f"<code>{path}</code>" in text, path
    assert "<code>/v1/rules/test</code>" in text and "RuleTestRequest" in text and "reason" in text
    moved = client.get("/redoc", follow_redirects=False)
    assert moved.status_code == 307 and moved.headers["location"] == "/docs"
    assert "/docs" not in spec["paths"] and "/openapi.json" not in spec["paths"]


def test_with_access_control_on_the_schema_needs_a_key_of_any_role(tmp_path, sqlite_url, redis_url, redis_conn):
    settings = make_settings(tmp_path, sqlite_url, redis_url, auth=AuthSettings(enabled=True))
    with TestClient(create_app(settings)) as client:
        keys = key_headers(client.app.state.runtime.sessions, [("feed", "ingest", None), ("hr", "hr", None),
                                                               ("lead", "supervisor", "t1")])
        anonymous = client.get("/openapi.json")
        assert anonymous.status_code == 401 and "paths" not in anonymous.text
        assert anonymous.headers["www-authenticate"] == "Bearer"
        for path in ("/docs", "/redoc"):  # a browser is sent to log in, and comes back
            r = client.get(path, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"] == f"/ui/login?next={path}", path
        bad = client.get("/openapi.json", headers={"Authorization": "Bearer qak_deadbeef_not-a-real-key-at-all"})
        assert bad.status_code == 401
        for headers in keys.values():  # any role: an ingest key's integrator needs the schema most
            assert "/v1/transcripts" in client.get("/openapi.json", headers=headers).json()["paths"]
            assert client.get("/docs", headers=headers).status_code == 200
        # what stays open, as documented
        assert client.get("/healthz").status_code == 200 and client.get("/metrics").status_code == 200
        assert client.get("/readyz").status_code in (200, 503)


def test_the_schema_can_be_made_public_again(tmp_path, sqlite_url, redis_url, redis_conn):
    settings = make_settings(tmp_path, sqlite_url, redis_url, auth=AuthSettings(enabled=True),
                             api={"public_schema": True})
    with TestClient(create_app(settings)) as client:
        assert "/v1/transcripts" in client.get("/openapi.json").json()["paths"]
        assert client.get("/docs").status_code == 200
        assert client.get("/v1/transcripts").status_code == 401  # the routes themselves still need keys

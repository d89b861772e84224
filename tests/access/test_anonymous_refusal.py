"""A /v1 request without credentials is refused (401) before its body is read — including one whose
headers only look like credentials. Found by a probe: ``Authorization: Basic …``, an empty
Authorization, a Bearer that is no key and ``Cookie: x=qa_session`` had their body parsed (422)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from qa_service.app import create_app
from qa_service.config import AuthSettings
from tests.conftest import make_settings

NOT_CREDENTIALS = [
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": ""},
    {"Authorization": "Bearer"},
    {"Authorization": "Token qak_1a2b3c4d_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
    {"X-API-Key": ""},
    {"Cookie": "x=qa_session"},
    {"Cookie": "qa_session="},
    {"Cookie": "qa_session_old=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
]


@pytest.fixture
def client(tmp_path, sqlite_url, redis_url, redis_conn):
    with TestClient(create_app(make_settings(tmp_path, sqlite_url, redis_url, auth=AuthSettings(enabled=True)))) as c:
        yield c


@pytest.mark.parametrize("headers", NOT_CREDENTIALS, ids=lambda h: repr(h)[:40])
def test_headers_that_are_not_credentials_are_refused_before_the_body_is_read(client, headers):
    r = client.post("/v1/transcripts", content=b"{not json", headers={**headers, "content-type": "application/json"})
    assert r.status_code == 401 and r.json() == {
        "detail": "missing API key: send Authorization: Bearer <key> or X-API-Key: <key>"}, r.text


MALFORMED_KEYS = [
    {"Authorization": "Bearer garbage"},
    {"Authorization": "Bearer qak_00000000_bogus"},
    {"X-API-Key": "not-a-key"},
]


@pytest.mark.parametrize("headers", MALFORMED_KEYS, ids=lambda h: repr(h)[:40])
def test_a_key_that_cannot_be_one_is_invalid_not_missing(client, headers):
    """Refused before the body is read, as before, but as an invalid key: "missing API key" sent the caller to
    check their headers rather than the key they sent."""
    r = client.post("/v1/transcripts", content=b"{not json", headers={**headers, "content-type": "application/json"})
    assert r.status_code == 401 and r.json() == {"detail": "invalid or revoked API key"}, r.text
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("headers", [
    {"Authorization": "Bearer qak_1a2b3c4d_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
    {"Authorization": "bearer qak_1a2b3c4d_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
    {"X-API-Key": "qak_1a2b3c4d_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
    {"Cookie": "theme=dark; qa_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
], ids=lambda h: repr(h)[:40])
def test_credentials_of_the_right_shape_reach_the_route_which_checks_them(client, headers):
    r = client.get("/v1/transcripts", headers=headers)
    assert r.status_code == 401 and r.json()["detail"] != "missing API key: send Authorization: Bearer <key> or " \
                                                         "X-API-Key: <key>", r.text  # refused by the route

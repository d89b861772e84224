"""An anonymous login's body is read only as far as a login needs: past 16 KB it is a 413, the rest unread.

Was: /ui/login read the whole body (up to QA_API__MAX_BODY_BYTES, 52 MB) before keeping 4 KB of it, so
eight parallel anonymous 49 MB posts held 700 MB of the API's memory."""

from __future__ import annotations

from fastapi.testclient import TestClient

from qa_service.app import create_app
from qa_service.ui.login import LOGIN_BODY_MAX_BYTES
from tests.support import asgi_request

PIECE = 1000
BIG = 49 * 1024 * 1024  # what the probe posted, as a stream of pieces nobody holds whole


def _post_login(app, headers: list[tuple[bytes, bytes]]) -> tuple[int, dict, int]:
    """POST /ui/login straight to the ASGI app, its body handed over PIECE bytes at a time as a server would:
    (status, JSON body, pieces the app asked for)."""
    total = BIG // PIECE
    return asgi_request(app, "POST", "/ui/login", lambda i: b"k" * PIECE if i < total else None,
                        [(b"content-type", b"application/x-www-form-urlencoded"), *headers])


def test_a_streamed_login_body_past_16_kb_is_413_and_the_rest_is_never_read(sqlite_settings):
    app = create_app(sqlite_settings)
    status, body, asked = _post_login(app, [(b"transfer-encoding", b"chunked")])
    assert status == 413, body
    [err] = body["detail"]
    assert err["loc"] == ["body"] and err["type"] == "too_large" and str(LOGIN_BODY_MAX_BYTES) in err["msg"]
    assert asked <= LOGIN_BODY_MAX_BYTES // PIECE + 2  # 18 pieces of 50,000: about 16 KB read, not 49 MB


def test_a_declared_large_login_body_is_413_before_any_of_it_is_read(sqlite_settings):
    app = create_app(sqlite_settings)
    status, body, asked = _post_login(app, [(b"content-length", str(BIG).encode())])
    assert status == 413 and body["detail"][0]["type"] == "too_large"
    assert asked == 0


def test_a_login_body_under_the_limit_is_still_read_whole(sqlite_settings):
    with TestClient(create_app(sqlite_settings)) as client:
        padded = client.post("/ui/login", data={"key": "qak_bad_bad", "next": "/ui/" + "a" * 10_000},
                             follow_redirects=False)
        assert padded.status_code == 303  # an unknown key, as before: back to the login page
        over = client.post("/ui/login", data={"key": "qak_bad_bad", "next": "/ui/" + "a" * LOGIN_BODY_MAX_BYTES},
                           follow_redirects=False)
        assert over.status_code == 413

"""QA_API__MAX_BODY_BYTES holds for bodies sent without a Content-Length (chunked) too: 413, the rest
of the body never read, nothing stored. Before, only a declared Content-Length was checked, and a
chunked 55 MB transcript was read, stored and served back whole."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
import uvicorn

from qa_service.app import create_app
from qa_service.stack import free_port
from tests.conftest import make_settings, transcript
from tests.support import asgi_request

LIMIT = 20_000


@pytest.fixture
def limited_app(tmp_path, db_url, redis_url, redis_conn):
    return create_app(make_settings(tmp_path, db_url, redis_url, api={"max_body_bytes": LIMIT}))


def _big_body() -> bytes:
    return json.dumps(transcript("chunked", metadata={"pad": "a" * (LIMIT * 5)})).encode()


def test_a_streamed_body_over_the_limit_is_413_without_reading_the_rest(limited_app):
    """The ASGI app handed a body in 1,000-byte pieces and no Content-Length, as a server hands it a chunked
    request: 413 in the documented shape, and only about the limit's worth of pieces asked for."""
    body = _big_body()
    pieces = [body[i:i + 1000] for i in range(0, len(body), 1000)]
    status, payload, asked = asgi_request(
        limited_app, "POST", "/v1/transcripts", lambda i: pieces[i] if i < len(pieces) else None,
        [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")])
    assert status == 413, payload
    [err] = payload["detail"]
    assert err["loc"] == ["body"] and err["type"] == "too_large" and "QA_API__MAX_BODY_BYTES" in err["msg"]
    assert asked <= LIMIT // 1000 + 2 < len(pieces)  # stopped at the limit, the rest never read


def test_a_chunked_request_to_a_real_server_is_413_and_stores_nothing(limited_app):
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(limited_app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        body = _big_body()
        url = f"http://127.0.0.1:{port}/v1/transcripts"

        def chunks():
            for i in range(0, len(body), 1000):
                yield body[i:i + 1000]

        resp = httpx.post(url, content=chunks(), headers={"content-type": "application/json"}, timeout=20)
        assert resp.status_code == 413, resp.text[:300]
        assert resp.json()["detail"][0]["type"] == "too_large"
        small = json.dumps(transcript("chunked-small")).encode()
        ok = httpx.post(url, content=iter([small[:50], small[50:]]), headers={"content-type": "application/json"},
                        timeout=20)
        assert ok.status_code == 202, ok.text  # under the limit, chunked is fine
        listed = httpx.get(f"http://127.0.0.1:{port}/v1/transcripts", timeout=20).json()
        assert [t["external_id"] for t in listed["items"]] == ["chunked-small"]
    finally:
        server.should_exit = True
        thread.join(10)

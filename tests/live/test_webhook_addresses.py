"""Where a webhook may point, and what a failed delivery keeps of the answer (found by a security probe: any
URL was taken, http://127.0.0.1:6379/ included, and an internal service's 500 body was stored in
``last_error`` and logged: a semi-blind request forgery reflecting what it reached). A real receiver, a real
database and Redis."""

from __future__ import annotations

import logging
import time

from fastapi.testclient import TestClient

from qa_service.app import create_app
from qa_service.config import LiveSettings
from qa_service.storage.alert_tables import Webhook
from tests.conftest import make_settings
from tests.live.conftest import Receiver, open_conversation, stream

THREAT = {"role": "customer", "text": "再不解决我就去消费者协会投诉你们，打12315"}
SECRET = b"INTERNAL-SECRET-DATA root:x:0:0 token=abc123"


def _client(tmp_path, db_url, redis_url, **live):
    return TestClient(create_app(make_settings(tmp_path, db_url, redis_url, live=LiveSettings(**live))))


def _tried(client, n: int = 1, timeout_s: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = client.get("/v1/webhooks/deliveries").json()
        if len(got) >= n and all(d["attempts"] for d in got):
            return got
        time.sleep(0.05)
    raise AssertionError(f"no try recorded: {got}")


def test_a_webhook_to_this_machine_or_link_local_is_refused_unless_allowed(tmp_path, db_url, redis_url, redis_conn):
    with _client(tmp_path, db_url, redis_url, webhook_allow_local=False) as client:
        for url in ("http://127.0.0.1:6379/", "http://localhost:8080/x", "http://[::1]:80/hook",
                    "http://169.254.169.254/latest/meta-data/", "http://0.0.0.0:8000/", "http://[::ffff:127.0.0.1]/",
                    "http://127.1.2.3/hook", "http://[fe80::1]/hook"):
            r = client.post("/v1/webhooks", json={"url": url})
            assert r.status_code == 422, (url, r.text)
            (entry,) = r.json()["detail"]
            assert entry["loc"] == ["body", "url"] and "QA_LIVE__WEBHOOK_ALLOW_LOCAL=true" in entry["msg"], entry
        # an intranet's own receiver, and a public one, are allowed by default
        assert client.post("/v1/webhooks", json={"url": "http://10.1.2.3:8080/hook"}).status_code == 201
        assert client.post("/v1/webhooks", json={"url": "https://8.8.8.8/hook"}).status_code == 201
    with _client(tmp_path, db_url, redis_url, webhook_allow_local=False, webhook_allow_private=False) as client:
        for url in ("http://10.1.2.3:8080/hook", "http://192.168.1.5/hook", "http://172.20.0.2/hook",
                    "http://100.64.0.7/hook", "http://[fd00::5]/hook"):
            r = client.post("/v1/webhooks", json={"url": url})
            assert r.status_code == 422 and "QA_LIVE__WEBHOOK_ALLOW_PRIVATE=false" in r.text, (url, r.text)
    with _client(tmp_path, db_url, redis_url, webhook_allow_local=True) as client:
        assert client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}).status_code == 201


def test_a_stored_webhook_to_this_machine_is_not_called_once_that_is_refused(tmp_path, db_url, redis_url, redis_conn):
    """Checked before every try as well: a webhook made while it was allowed (or a name that now resolves to
    this machine) is not sent to; the delivery says why."""
    with Receiver() as receiver, _client(tmp_path, db_url, redis_url, webhook_allow_local=False) as client:
        with client.app.state.runtime.session() as s:
            s.add(Webhook(id=7, url=receiver.url, format="json"))
        stream(client, open_conversation(client, "to-local"), [THREAT])
        [d] = _tried(client)
        assert d["status"] == "pending" and d["last_error"].startswith("not sent: the url names 127.0.0.1")
        assert "QA_LIVE__WEBHOOK_ALLOW_LOCAL=true" in d["last_error"]
        assert receiver.requests == []


def test_a_failed_delivery_keeps_the_status_and_length_of_the_answer_never_its_body(live_client, caplog,
                                                                                   monkeypatch):
    monkeypatch.setattr(logging.getLogger("qa_service.live.delivery"), "disabled", False)
    caplog.set_level(logging.WARNING, logger="qa_service.live.delivery")
    with Receiver(status=500, body=SECRET) as receiver:
        live_client.post("/v1/webhooks", json={"url": receiver.url})
        stream(live_client, open_conversation(live_client, "reflected"), [THREAT])
        receiver.wait_for(1)
        [d] = _tried(live_client)
    assert d["last_error"] == f"HTTP 500 (an answer of {len(SECRET)} bytes, not kept)"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "HTTP 500 (an answer of" in logged and "INTERNAL-SECRET" not in logged and "abc123" not in logged


def test_a_robots_error_is_kept_as_its_code_and_a_short_message_on_one_line(live_client):
    answer = ('{"errcode": 310000, "errmsg": "keywords not in content\\n# ' + "x" * 500 + '"}').encode()
    with Receiver(body=answer) as receiver:
        live_client.post("/v1/webhooks", json={"url": receiver.url, "format": "dingtalk"})
        stream(live_client, open_conversation(live_client, "robot-error"), [THREAT])
        receiver.wait_for(1)
        [d] = _tried(live_client)
    assert d["last_error"].startswith("dingtalk error 310000: keywords not in content # xxx")
    assert len(d["last_error"]) <= len("dingtalk error 310000: ") + 100 and "\n" not in d["last_error"]


def test_the_listing_marks_a_webhook_the_current_settings_refuse(tmp_path, db_url, redis_url, redis_conn,
                                                                 monkeypatch):
    """An upgrade probe (2026-11-29): a webhook to 127.0.0.1 made under 9e19816 was no longer sent to after the
    upgrade, each try saying why, while ``GET /v1/webhooks`` listed it as before. The listing reads the URL alone:
    a host name is not looked up (the lookup would hold up every listing)."""
    urls = {"http://127.0.0.1:8635/hook": "loopback address 127.0.0.1; set QA_LIVE__WEBHOOK_ALLOW_LOCAL=true",
            "http://localhost:8080/x": "loopback address 127.0.0.1 (localhost); set QA_LIVE__WEBHOOK_ALLOW_LOCAL=true",
            "http://169.254.169.254/latest/": "link-local address 169.254.169.254; set QA_LIVE__WEBHOOK_ALLOW_LOCAL=true",
            "http://[::ffff:127.0.0.1]/hook": "loopback address 127.0.0.1; set QA_LIVE__WEBHOOK_ALLOW_LOCAL=true",
            "http://10.1.2.3:8080/hook": "private address 10.1.2.3; set QA_LIVE__WEBHOOK_ALLOW_PRIVATE=true",
            "https://8.8.8.8/hook": None,
            "https://hooks.example.invalid/hook": None}  # a name: judged at each delivery, not here
    with _client(tmp_path, db_url, redis_url, webhook_allow_local=True) as client:  # made while allowed
        for url in urls:
            r = client.post("/v1/webhooks", json={"url": url})
            assert r.status_code == 201 and r.json()["refused"] is None, r.text
        assert [w["refused"] for w in client.get("/v1/webhooks").json()] == [None] * len(urls)
    import socket

    looked_up, real = [], socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):  # the webhooks' names are recorded; Redis's connections go through
        if "example" in str(host):
            looked_up.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with _client(tmp_path, db_url, redis_url, webhook_allow_local=False, webhook_allow_private=False) as client:
        listed = client.get("/v1/webhooks").json()
    assert {w["url"]: w["refused"] for w in listed} == urls
    assert looked_up == []
    with _client(tmp_path, db_url, redis_url, webhook_allow_local=False) as client:  # private allowed (the default)
        assert sum(w["refused"] is not None for w in client.get("/v1/webhooks").json()) == 4

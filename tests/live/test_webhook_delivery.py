"""Webhook payload formats and signatures: generic JSON signed with X-QA-Signature, and the robot
formats of DingTalk, WeCom and Feishu, each signed the way its robot checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from datetime import UTC, datetime

from qa_service.live.delivery import render, signature, verify
from qa_service.storage.alert_tables import Webhook

PAYLOAD = {"alert_id": 7, "conversation_id": 3, "source": "crm", "external_id": "c-1", "team": "售后", "agent_id": "a7",
           "rule": "complaint-threat", "severity": "critical", "message": "客户威胁投诉", "utterance_index": 6,
           "quote": "12315投诉对你们都没用！", "created_at": datetime(2026, 11, 27, tzinfo=UTC).isoformat()}
NOW = 1_795_000_000.0


def hook(fmt: str, secret: str | None = "sec-123456", url: str = "https://robot.example/send?access_token=t"):
    return Webhook(id=1, url=url, format=fmt, secret=secret, teams=None)


def test_generic_json_is_the_payload_signed_over_timestamp_and_body():
    url, body, headers = render(hook("json"), PAYLOAD, NOW)
    assert json.loads(body) == PAYLOAD and url.endswith("access_token=t")
    header = headers["x-qa-signature"]
    t, mac = header.split(",")
    assert t == f"t={int(NOW)}"
    assert mac == "v1=" + hmac.new(b"sec-123456", f"{int(NOW)}.".encode() + body, hashlib.sha256).hexdigest()
    assert verify("sec-123456", body, header, now=NOW + 10)
    assert not verify("sec-123456", body, header, now=NOW + 3600)  # a replay an hour later
    assert not verify("sec-123456", body + b" ", header, now=NOW)
    assert not verify("sec-123456", body, "garbage", now=NOW)
    # the tolerance by position too, as docs/live.md's snippet takes it (was keyword-only: a TypeError)
    assert verify("sec-123456", body, header, 3600, now=NOW + 3000)
    assert not verify("sec-123456", body, header, 60, now=NOW + 3000)
    assert "x-qa-signature" not in render(hook("json", secret=None), PAYLOAD, NOW)[2]


def test_dingtalk_markdown_signed_in_the_query():
    url, body, _ = render(hook("dingtalk"), PAYLOAD, NOW)
    msg = json.loads(body)
    assert msg["msgtype"] == "markdown" and "客户威胁投诉" in msg["markdown"]["text"]
    assert "12315投诉" in msg["markdown"]["text"] and "紧急" in msg["markdown"]["text"]
    query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    ms = int(query["timestamp"][0])
    expected = base64.b64encode(hmac.new(b"sec-123456", f"{ms}\nsec-123456".encode(), hashlib.sha256).digest())
    assert ms == int(NOW * 1000) and query["sign"][0] == expected.decode() and query["access_token"] == ["t"]


def test_wecom_markdown_and_feishu_text_with_its_body_signature():
    _, body, _ = render(hook("wecom"), PAYLOAD, NOW)
    assert json.loads(body)["msgtype"] == "markdown" and "售后 / a7" in json.loads(body)["markdown"]["content"]
    _, body, _ = render(hook("feishu"), PAYLOAD, NOW)
    msg = json.loads(body)
    assert msg["msg_type"] == "text" and "客户威胁投诉" in msg["content"]["text"]
    key = f"{int(NOW)}\nsec-123456".encode()
    assert msg["timestamp"] == str(int(NOW))
    assert msg["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def test_signature_helper_matches_the_documented_recipe():
    assert signature("k", b"{}", 5) == "t=5,v1=" + hmac.new(b"k", b"5.{}", hashlib.sha256).hexdigest()

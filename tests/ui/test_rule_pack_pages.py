"""What the pages say of the rule pack that scored a conversation (TestClient on the real app): the pack,
its version, its content hash, the scorecard and the detector model on the conversation page."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from qa_service.app import create_app
from qa_service.domain import DimensionScore, Finding, QAReport, Role, Severity
from qa_service.queue.tasks import record_report
from qa_service.storage.db import session_scope
from tests.conftest import make_settings, transcript

HASH = "ce118514d349161cd3f5ab23dd4be6fc55bfbad50d9dac430117cafa6fca8342"


@pytest.fixture
def app_client(tmp_path, sqlite_url, redis_url, redis_conn):
    with TestClient(create_app(make_settings(tmp_path, sqlite_url, redis_url))) as c:
        yield c


def scored(client, external_id: str, findings: list[Finding], **report) -> int:
    """A transcript stored through the API, with a report stored as the worker stores it."""
    r = client.post("/v1/transcripts", json=transcript(external_id))
    assert r.status_code == 202, r.text
    tid = r.json()["id"]
    rep = QAReport(score=40.0, dimensions={"compliance": DimensionScore("compliance", 40.0, "1", findings=findings)},
                   weights={"compliance": 1.0}, scorer_versions={}, pass_mark=60.0, **report)
    with session_scope(client.app.state.runtime.sessions) as s:
        record_report(session=s, transcript_id=tid, report=rep)
    return tid


def test_the_conversation_page_says_which_pack_version_and_scorecard_scored_it(app_client):
    """The report carried rule_pack, its version and hash and the scorecard's version; the page showed none,
    so a reviewer could not tell which edit of a standard scored the conversation."""
    learned = Finding("compliance", "detector.rude", 1, (0, 2), "您好", -6.7, Severity.major, Role.agent, "态度问题",
                      probability=0.9, model="qa-detectors@2")
    tid = scored(app_client, "P1", [learned], rule_pack="broadband", rule_pack_version="1.0.0", rule_pack_hash=HASH,
                 scorecard_version="telecom-2026-12")
    page = app_client.get(f"/ui/transcripts/{tid}").text
    line = re.search(r'<p class="provenance" id="provenance">(.*?)</p>', page, re.S).group(1)
    said = re.sub(r"<[^>]+>", "", line)
    assert "规则包 broadband v1.0.0 ce118514d349" in said
    assert "评分卡 telecom-2026-12" in said and "检测模型 qa-detectors@2" in said
    assert f'title="SHA-256 {HASH}"' in line

    bare = scored(app_client, "P2", [], rule_pack="general", rule_pack_version="1.3.3", rule_pack_hash=HASH)
    said = re.sub(r"<[^>]+>", "", re.search(r'id="provenance">(.*?)</p>', app_client.get(
        f"/ui/transcripts/{bare}").text, re.S).group(1))
    assert "规则包 general v1.3.3" in said and "评分卡 未标版本" in said and "检测模型" not in said

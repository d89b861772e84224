"""What the pages say of the rule pack that scored a conversation (TestClient on the real app): the pack,
its version, its content hash, the scorecard and the detector model on the conversation page; a pack's own
flags by the labels its ``flag_labels:`` gives them, in the rows and in the queue's 原因 filter."""

from __future__ import annotations

import re
import shutil
import textwrap

import pytest
from fastapi.testclient import TestClient

from qa_service.app import create_app
from qa_service.config import DEFAULT_RULES_DIR
from qa_service.domain import DimensionScore, Finding, Flag, QAReport, Role, Severity
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


BROADBAND = textwrap.dedent("""\
    name: broadband
    version: "1.0.0"
    scenario: broadband
    include: [general]
    flag_labels: {overpromise: 过度承诺}
    rules:
      - id: overpromise-install
        dimension: compliance
        severity: major
        points: -12
        flag: overpromise
        message: 对装机时间做出绝对化承诺
        match: {phrases: [保证明天到]}
        examples: {match: [放心，保证明天到], no_match: [预计明天上门]}
      - id: unauthorized-waiver
        dimension: compliance
        severity: critical
        points: -100
        fatal: true
        flag: unauthorized_waiver
        message: 擅自承诺减免费用
        match: {phrases: [费用全免]}
        examples: {match: [这个月的费用全免], no_match: [减免需要提交申请]}
    """)


@pytest.fixture
def broadband_client(tmp_path, sqlite_url, redis_url, redis_conn):
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    (rules / "broadband.yaml").write_text(BROADBAND, encoding="utf-8")
    settings = make_settings(tmp_path, sqlite_url, redis_url, scoring={"rules_dir": rules})
    with TestClient(create_app(settings)) as c:
        yield c


def test_a_packs_own_flags_show_by_their_labels_and_can_be_filtered_on(broadband_client):
    """A pack's flag: names showed raw (overpromise) in the queue and on the page, and were missing from the
    queue's 原因 filter: their Chinese names were hard-coded for the shipped packs only."""
    c = broadband_client
    flags = [Flag("overpromise", Severity.major, "保证明天到"), Flag("unauthorized_waiver", Severity.critical, "免单")]
    tid = scored(c, "B1", [], rule_pack="broadband", rule_pack_version="1.0.0", report_flags=flags)
    queue = c.get("/ui/queue").text
    options = dict(re.findall(r'<option value="([a-z_]+)" >([^<]*)</option>',
                              re.search(r'<select name="reason">(.*?)</select>', queue, re.S).group(1)))
    assert options["overpromise"] == "过度承诺"  # the pack's label
    assert options["unauthorized_waiver"] == "unauthorized_waiver"  # unlabelled: the raw name, still listed
    assert options["low_score"] == "低分" and options["complaint_dismissed"] == "敷衍投诉"  # built-in labels
    row = re.search(rf'<tr [^>]*data-review="\d+".*?#{tid}.*?</tr>', queue, re.S).group(0)
    assert '<span class="tag">过度承诺</span>' in row and '<span class="tag">unauthorized_waiver</span>' in row
    filtered = c.get("/ui/queue", params={"reason": "overpromise"}).text
    assert f"#{tid}" in filtered and '<option value="overpromise" selected>过度承诺</option>' in filtered
    page = c.get(f"/ui/transcripts/{tid}").text
    assert re.search(r'<span class="tag sev-major" title="保证明天到">过度承诺</span>', page)

    pack = c.get("/v1/rules/broadband").json()
    assert pack["flag_labels"] == {"overpromise": "过度承诺"}
    assert {r["id"]: r["flag"] for r in pack["rules"]}["broadband.unauthorized-waiver"] == "unauthorized_waiver"

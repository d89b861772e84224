"""Editing the rules folder of a running service: ``exclude:`` and a version left as it was, through the API."""

from __future__ import annotations

import logging
import shutil

import pytest
from fastapi.testclient import TestClient

from qa_service.app import create_app
from qa_service.config import DEFAULT_RULES_DIR
from tests.conftest import make_settings

MINE = """\
name: mine
version: "1.0"
scenario: mine
include: [general]
{exclude}rules:
  - id: no-guarantee
    dimension: compliance
    tag: forbidden
    points: -10
    message: 承诺保证到货
    match: {{phrases: [保证到货]}}
    examples: {{match: [我们保证到货], no_match: [我们尽快发货]}}
"""
PROMISE = {"utterances": [{"role": "agent", "text": "您好，百分百保证到货"}]}


@pytest.fixture
def served(tmp_path, db_url, redis_url, redis_conn):
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    (rules / "mine.yaml").write_text(MINE.format(exclude=""), encoding="utf-8")
    with TestClient(create_app(make_settings(tmp_path, db_url, redis_url, scoring={"rules_dir": rules}))) as client:
        assert client.get("/v1/rules/mine").json()["version"] == "1.0"  # loaded before any edit
        yield rules, client


def _reload(client) -> bool:
    return client.app.state.runtime.rulebook.reload_if_changed(force=True)


def _hit_rules(client, **body) -> set[str]:
    resp = client.post("/v1/rules/test", json={**body, "transcript": PROMISE})
    assert resp.status_code == 200, resp.text
    return {h["rule_id"] for h in resp.json()["hits"]}


def test_exclude_is_hot_reloaded_listed_and_left_out_of_the_dry_run(served):
    rules, client = served
    assert "general.over-promise" in _hit_rules(client, pack="mine")
    (rules / "mine.yaml").write_text(MINE.format(exclude="exclude: [general.over-promise]\n").replace(
        '"1.0"', '"1.1"'), encoding="utf-8")
    assert _reload(client) is True
    mine = client.get("/v1/rules/mine").json()
    assert mine["exclude"] == ["general.over-promise"] and mine["reload_error"] is None
    assert "general.over-promise" not in {r["id"] for r in mine["rules"]}
    assert "general.abuse" in {r["id"] for r in mine["rules"]}
    hits = _hit_rules(client, pack="mine")
    assert "mine.no-guarantee" in hits and "general.over-promise" not in hits
    general = {r["id"] for r in client.get("/v1/rules/general").json()["rules"]}
    assert "general.over-promise" in general and "general.over-promise" in _hit_rules(client, pack="general")


def test_exclude_of_no_included_rule_is_a_reload_error_and_a_422_in_a_draft(served):
    rules, client = served
    broken = MINE.format(exclude="exclude: [general.over-promis]\n").replace('"1.0"', '"1.1"')
    (rules / "mine.yaml").write_text(broken, encoding="utf-8")
    assert _reload(client) is False
    mine = client.get("/v1/rules/mine").json()
    assert mine["version"] == "1.0" and mine["reload_error"].startswith(
        "R010 rules/mine.yaml: exclude: 'general.over-promis' is no rule of an included pack — did you mean "
        "general.over-promise?")
    resp = client.post("/v1/rules/test", json={"pack_yaml": broken, "transcript": PROMISE})
    assert resp.status_code == 422 and [d["code"] for d in resp.json()["detail"]] == ["R010"]


def test_edit_that_keeps_the_version_is_warned_once_and_listed_until_it_is_bumped(served, caplog, monkeypatch):
    rules, client = served
    # An earlier test's logging.config (alembic's fileConfig) may have disabled the loggers that existed then.
    monkeypatch.setattr(logging.getLogger("qa_service.rules.book"), "disabled", False)
    caplog.set_level(logging.WARNING, logger="qa_service.rules.book")
    assert client.get("/v1/rules/mine").json()["warnings"] == []
    (rules / "mine.yaml").write_text(MINE.format(exclude="").replace("points: -10", "points: -12"), encoding="utf-8")
    assert _reload(client) is True
    mine = client.get("/v1/rules/mine").json()
    assert mine["version"] == "1.0" and mine["rules"][-1]["points"] == -12
    (warning,) = mine["warnings"]
    assert warning.startswith("warning rules/mine.yaml: pack mine changed (sha256 ") and warning.endswith(
        "but its version is still '1.0': bump version: reports cannot tell the two apart (only rule_pack_hash differs)")
    logged = [r.getMessage() for r in caplog.records if "bump version" in r.getMessage()]
    assert logged == [warning]
    (rules / "presale.yaml").write_text((rules / "presale.yaml").read_text("utf-8") + "\n# touched\n", "utf-8")
    assert _reload(client) is True  # another file's edit: the warning stays listed, and is not logged again
    assert client.get("/v1/rules/mine").json()["warnings"] == [warning]
    assert [r.getMessage() for r in caplog.records if "bump version" in r.getMessage()] == [warning]
    assert client.get("/v1/rules/presale").json()["warnings"] == []  # a comment is no change of its rules
    (rules / "mine.yaml").write_text(MINE.format(exclude="").replace("points: -10", "points: -12").replace(
        '"1.0"', '"1.1"'), encoding="utf-8")
    assert _reload(client) is True
    assert client.get("/v1/rules/mine").json()["warnings"] == []

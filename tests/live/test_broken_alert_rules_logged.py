"""Alert rules that do not load are said in the API's log: at ERROR with each problem's code once as it starts,
and at most once a minute while live turns are refused for it. Found by an upgrade probe (2026-11-29): an alert
an older release accepted (``when: {rule: general.greeting-missing}``, L005 now) turned every live turn into a
503 after the upgrade, and ``grep -c L005`` on the API's log gave 0."""

from __future__ import annotations

import logging
import shutil

from fastapi.testclient import TestClient

from qa_service.app import create_app
from qa_service.config import DEFAULT_RULES_DIR
from qa_service.live import service as live_service
from tests.conftest import make_settings, wait_for
from tests.live.conftest import open_conversation

L005 = "L005 alerts/old.yaml:no-greeting: rule 'general.greeting-missing' is a required rule"


def test_alert_rules_that_do_not_load_are_logged_at_start_and_once_a_minute_per_refused_turn(
        tmp_path, db_url, redis_url, redis_conn, caplog, monkeypatch):
    rules = tmp_path / "myrules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    (rules / "alerts" / "old.yaml").write_text(  # what 9e19816 accepted
        "version: 1\nalerts:\n  - id: no-greeting\n    when: {rule: general.greeting-missing}\n    message: 未问候\n",
        encoding="utf-8")
    settings = make_settings(tmp_path, db_url, redis_url, scoring={"rules_dir": rules})
    monkeypatch.setattr(live_service.log, "disabled", False)  # a logging setup run before turns it off
    caplog.set_level(logging.ERROR, logger="qa_service.live.service")

    def said(needle: str) -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "qa_service.live.service"
                and r.levelno == logging.ERROR and needle in r.getMessage()]

    with TestClient(create_app(settings)) as client:
        at_start = wait_for(lambda: said("do not load"), timeout_s=60)  # the live loop's first pass
        assert len(at_start) == 1 and L005 in at_start[0], at_start
        assert f"qa rules check --dir {rules}" in at_start[0] and "every live turn is refused (503)" in at_start[0]
        cid = open_conversation(client, "c1")
        for seq in range(3):
            r = client.post(f"/v1/live/conversations/{cid}/utterances",
                            json={"utterances": [{"seq": seq, "role": "customer", "text": "你好"}]})
            assert r.status_code == 503 and r.json()["detail"][0]["code"] == "L005", r.text
        refused = said("live turn refused")
        assert len(refused) == 1 and L005 in refused[0], refused  # three refusals, one line
        assert len(said("do not load")) == 2  # the start's line, and the refusal's (nothing more)

"""The live board lists every open alert, however many newer ones came after it. Found by a probe: the
board showed the latest 50 alerts of any status, so an open critical alert vanished from it once 50
newer ones (handled or not) existed, though nobody had acknowledged it."""

from __future__ import annotations

import json
import re

from sqlalchemy import update

from qa_service.storage import alerts as repo
from qa_service.storage.alert_tables import LiveAlert
from qa_service.ui import live


def _raise(runtime, n: int, team: str, severity: str = "major", start: int = 0) -> list[int]:
    rows = [{"conversation_id": 500 + start + i, "source": "live-test", "external_id": f"board-{start + i}",
             "team_id": team, "agent_id": "a1", "rule": "customer-angry", "severity": severity, "message": "m",
             "utterance_index": 0, "quote": "气死了", "value": 0.9} for i in range(n)]
    with runtime.session() as s:
        stored, _ = repo.insert_alerts(session=s, rows=rows)
        return [a.id for a in stored]


def _set_status(runtime, ids: list[int], status: str) -> None:
    with runtime.session() as s:
        s.execute(update(LiveAlert).where(LiveAlert.id.in_(ids)).values(status=status))


def test_an_open_alert_stays_on_the_board_behind_many_newer_handled_ones(live_client):
    runtime = live_client.app.state.runtime
    [old] = _raise(runtime, 1, "telecom", severity="critical")
    newer = _raise(runtime, 60, "telecom", start=1)
    _set_status(runtime, newer[:30], "closed")
    _set_status(runtime, newer[30:], "acknowledged")
    _raise(runtime, 3, "other-team", start=100)  # another team's: neither listed nor counted

    board = live.snapshot(runtime, "telecom")
    assert [a["alert_id"] for a in board["alerts"]][:1] == [old]
    assert [a["status"] for a in board["alerts"]] == ["open"] + ["acknowledged"] * 30 + ["closed"] * 20
    assert board["open_alerts"] == 1 and board["open_left_off"] == 0

    page = live_client.get("/ui/live").text  # the page's first board: every team's (access control off)
    initial = json.loads(re.search(r'<script id="live-initial" type="application/json">(.*?)</script>',
                                   page, re.S).group(1))
    assert [a["alert_id"] for a in initial["alerts"]][3] == old and initial["open_alerts"] == 4


def test_open_alerts_past_the_bound_are_counted_not_dropped_silently(live_client, monkeypatch):
    runtime = live_client.app.state.runtime
    opened = _raise(runtime, 5, "telecom")
    _set_status(runtime, _raise(runtime, 2, "telecom", start=10), "closed")
    monkeypatch.setattr(live, "OPEN_ALERTS", 3)

    board = live.snapshot(runtime, "telecom")
    assert [a["alert_id"] for a in board["alerts"] if a["status"] == "open"] == opened[:1:-1]  # the newest 3
    assert board["open_alerts"] == 5 and board["open_left_off"] == 2
    assert [a["status"] for a in board["alerts"]][3:] == ["closed", "closed"]

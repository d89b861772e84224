"""The intervention SLA share (情感管理时效) counts an alert as missed only once its SLA has run out.
Found by a probe: minutes after 25 major alerts, the performance records read
``intervention_sla_share: 0.0`` though none of their 2 h had passed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from qa_service.live import supervise
from qa_service.storage import alerts as repo
from qa_service.storage.alert_tables import LiveAlert
from qa_service.storage.tables import utcnow

SLA_S = 2 * 3600.0


def _alert(i: int, ago: timedelta, agent: str = "a7") -> dict:
    return {"conversation_id": 700 + i, "source": "live-test", "external_id": f"sla-{i}", "team_id": "telecom",
            "agent_id": agent, "rule": "customer-angry", "severity": "major", "message": "m", "utterance_index": 0,
            "quote": "气死了", "value": 0.9, "created_at": utcnow() - ago}


def _acknowledge(runtime, alert_id: int, after: timedelta) -> None:
    with runtime.session() as s:
        created = s.get(LiveAlert, alert_id).created_at
        s.execute(update(LiveAlert).where(LiveAlert.id == alert_id)
                  .values(status="acknowledged", acknowledged_at=created + after, acknowledged_by="lead"))


def _by_agent(runtime) -> dict:
    with runtime.session() as s:
        return supervise.intervention(session=s, since=utcnow() - timedelta(days=2), until=utcnow() + timedelta(1),
                                      sla_s=SLA_S, by="agent")


def test_an_alert_inside_its_sla_is_neither_met_nor_missed(live_client):
    runtime = live_client.app.state.runtime
    with runtime.session() as s:
        stored, _ = repo.insert_alerts(session=s, rows=[
            _alert(0, timedelta(minutes=5)),  # raised minutes ago, nobody on it yet: pending
            _alert(1, timedelta(minutes=3)),  # pending too
            _alert(2, timedelta(hours=5)),  # acknowledged after 10 minutes: met
            _alert(3, timedelta(hours=4)),  # acknowledged after 3 hours: missed
            _alert(4, timedelta(hours=3)),  # never acknowledged, its 2 h over: missed
            _alert(5, timedelta(minutes=1), agent="new"),  # an agent with nothing decided yet
        ])
        ids = [a.id for a in stored]
    _acknowledge(runtime, ids[2], timedelta(minutes=10))
    _acknowledge(runtime, ids[3], timedelta(hours=3))

    rows = _by_agent(runtime)
    a7 = rows["a7"]
    assert (a7["alerts"], a7["acknowledged"], a7["within_sla"], a7["pending"]) == (5, 2, 1, 2)
    assert a7["within_sla_share"] == round(1 / 3, 4)  # 1 met of 3 decided; the 2 pending left out
    assert rows["new"]["alerts"] == 1 and rows["new"]["pending"] == 1 and rows["new"]["within_sla_share"] is None

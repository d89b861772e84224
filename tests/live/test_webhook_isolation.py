"""One slow, failing or unreachable webhook holds back no other webhook's alerts.

Found by a probe: every webhook shared one pool of eight sending threads, so a webhook that took
seconds to answer (or to time out) soon held all of them, and a healthy webhook's alerts — of every
team — waited seconds behind it (median 4.8 s, then 14 s for another team's alerts). Now each webhook
is sent to on threads of its own, at most two at a time, first tries ahead of retries.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from qa_service.live import service
from qa_service.live.delivery import LEASE_S, Sender
from qa_service.live.lane import Lanes
from qa_service.storage import alerts as repo
from qa_service.storage.alert_tables import AlertDelivery, Webhook
from qa_service.storage.tables import utcnow
from tests.live.conftest import Receiver

SLOW_S = 4.0  # well inside the 5 s delivery timeout: the slow webhook answers, late


def _alert(i: int, team: str) -> dict:
    return {"conversation_id": 1000 + i, "source": "live-test", "external_id": f"iso-{i}", "team_id": team,
            "agent_id": "a1", "rule": "fatal-wording", "severity": "critical", "message": "m",
            "utterance_index": 0, "quote": "你有病吧", "value": None}


def _raise(runtime, rows: list[dict]) -> None:
    """Store alerts and send them at once, as a live turn does (``service._store_alerts``)."""
    with runtime.session() as s:
        _, deliveries = repo.insert_alerts(session=s, rows=rows, lease_until=utcnow() + timedelta(seconds=LEASE_S))
        jobs = Sender.jobs(deliveries)
    service.sender(runtime).send_now(jobs)


def test_a_slow_failing_or_unreachable_webhook_does_not_delay_the_others(live_client):
    healthy = Receiver().start()
    slow, failing = Receiver(delay_s=SLOW_S).start(), Receiver(status=500).start()
    unreachable = Receiver()  # nothing listens on its port
    try:
        assert live_client.post("/v1/webhooks", json={"url": healthy.url}).status_code == 201
        for bad in (failing, slow, unreachable):
            r = live_client.post("/v1/webhooks", json={"url": bad.url, "teams": ["team-2"]})
            assert r.status_code == 201, r.text
        runtime = live_client.app.state.runtime
        _raise(runtime, [_alert(i, "team-2") for i in range(12)])
        _raise(runtime, [_alert(i, "team-1") for i in range(12, 24)])

        got = healthy.wait_for(24, timeout_s=3 * SLOW_S)
        assert len(got) == 24
        # Every alert reached the healthy webhook before the slow one had answered even once (with one
        # shared pool, the healthy webhook's later alerts waited for the slow answers to free threads).
        assert slow.requests and not any(t <= got[-1]["at"] for t in slow.answered)
        assert slow.wait_for(3, timeout_s=4 * SLOW_S) and slow.most_at_once <= 2  # it held two threads at most
    finally:
        for receiver in (healthy, slow, failing):
            receiver.stop()


def _wait_until(predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_first_tries_go_before_retries_within_a_webhook():
    release, done = threading.Event(), []

    def work(item):
        release.wait(10)
        done.append(item)
        return True

    lanes = Lanes(work, per_key=1, stale_s=60.0, idle_s=1.0)
    try:
        lanes.submit("hook", "first")  # in hand, holding the key's one thread
        _wait_until(lambda: lanes.load() == {"hook": (1, False)})
        lanes.submit("hook", "retry-1", retry=True)
        lanes.submit("hook", "new-1")
        lanes.submit("hook", "new-2")
        assert lanes.load() == {"hook": (4, False)}
        release.set()
        _wait_until(lambda: len(done) == 4)
        assert done == ["first", "new-1", "new-2", "retry-1"]
    finally:
        lanes.close(1.0, 1.0)


def test_a_try_that_waited_too_long_behind_its_webhook_is_left_to_the_outbox():
    """Its lease would run out while it waits: another sender could take it meanwhile and send it
    twice at once. Dropped here, it stays leased until then, and the outbox hands it out again."""
    release, done = threading.Event(), []
    lanes = Lanes(lambda item: release.wait(10) and not done.append(item), per_key=1, stale_s=0.3)
    try:
        lanes.submit("hook", "first")
        lanes.submit("hook", "waits")
        time.sleep(1.0)
        release.set()
        _wait_until(lambda: not lanes.load())
        time.sleep(0.2)
        assert done == ["first"]
        assert lanes.submit("hook", "later")  # the key goes on with what comes next
        _wait_until(lambda: len(done) == 2)
        assert done == ["first", "later"]
    finally:
        lanes.close(1.0, 1.0)


def test_a_pass_of_the_outbox_takes_a_few_of_each_webhook_and_none_of_a_full_one(live_client):
    runtime = live_client.app.state.runtime
    with runtime.session() as s:
        alerts, _ = repo.insert_alerts(session=s, rows=[_alert(i, "team-1") for i in range(100, 131)])
        busy, quiet = (Webhook(url=f"http://127.0.0.1:9/{n}", format="json", teams=None, created_at=utcnow())
                       for n in ("busy", "quiet"))  # stored after the alerts: no delivery of their own
        s.add_all([busy, quiet])
        s.flush()
        later = utcnow() + timedelta(hours=1)  # due then: the app's own live loop leaves them alone
        s.add_all([AlertDelivery(alert_id=a.id, webhook_id=busy.id, next_attempt_at=later) for a in alerts[:30]]
                  + [AlertDelivery(alert_id=alerts[30].id, webhook_id=quiet.id, next_attempt_at=later)])
        s.flush()
        busy_id, quiet_id = busy.id, quiet.id
    then = utcnow() + timedelta(hours=2)
    with runtime.session() as s:
        got = repo.claim_due(session=s, now=then, lease_s=60, limit=50, per_webhook=5)
        assert sorted(w.id for _, _, w in got) == [busy_id] * 5 + [quiet_id]  # the quiet one is not crowded out
        s.rollback()
    with runtime.session() as s:
        got = repo.claim_due(session=s, now=then, lease_s=60, per_webhook=5, room={busy_id: 0})
        assert [w.id for _, _, w in got] == [quiet_id]
        s.rollback()
    with runtime.session() as s:  # without a per-webhook cap, as before: the longest due first, up to the limit
        assert len(repo.claim_due(session=s, now=then, lease_s=60, limit=20)) == 20
        s.rollback()


def test_a_failing_webhook_stays_known_as_failing_after_its_threads_end():
    """Its retries come back after backoffs longer than an idle lane lives: once the lane was gone, the
    outbox handed the dead webhook a full pass again (found by a review)."""
    lanes = Lanes(lambda item: False, per_key=2, idle_s=0.2)
    try:
        lanes.submit("dead", "try")
        _wait_until(lambda: not lanes.lanes)  # its thread ended idle
        assert lanes.load() == {"dead": (0, True)}
        ok = Lanes(lambda item: True, per_key=2, idle_s=0.2)
        ok.submit("fine", "try")
        _wait_until(lambda: not ok.lanes)
        assert ok.load() == {}
        ok.close(0.5, 0.5)
    finally:
        lanes.close(0.5, 0.5)


def test_no_try_is_still_under_way_when_its_lease_runs_out_whatever_the_timeout(live_client):
    """A try may wait stale_s in its queue and then take its timeouts; with a long timeout it was still in
    hand when its lease ran out, and could be handed out again and sent twice at once."""
    from qa_service.config import LiveSettings
    from qa_service.live.delivery import CONNECT_TIMEOUT_S
    import pydantic
    import pytest

    sessions = live_client.app.state.runtime.sessions
    for timeout in (1.0, 5.0, 15.0):
        sender = Sender(sessions, LiveSettings(delivery_timeout_s=timeout))
        try:
            assert sender.lanes.stale_s + 3 * timeout + CONNECT_TIMEOUT_S < LEASE_S
            # a pass hands a webhook no more than its threads start before they go stale (one at the least)
            assert sender.claim_per_webhook == 1 or \
                sender.claim_per_webhook * timeout <= sender.per_webhook * sender.lanes.stale_s
        finally:
            sender.close()
    with pytest.raises(pydantic.ValidationError, match="less than or equal to 15"):
        LiveSettings(delivery_timeout_s=30)

"""The live conversations' Redis layer on real Redis: the per-turn path's lock-and-load and
save-and-release (one script each), and one writer at a time per conversation."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest
import redis
from redis.exceptions import LockError, LockNotOwnedError

from qa_service.storage import live


def _open(r: redis.Redis) -> int:
    cid, created = live.create(r, ("src", "x1"), {"source": "src", "team": "t"}, {"turns": 0}, time.time())
    assert created
    return cid


def test_hold_loads_and_save_releases_in_the_same_command(redis_conn):
    cid = _open(redis_conn)
    with live.hold(redis_conn, cid, last=4) as held:
        assert held.found[0]["team"] == "t" and held.found[1] == {"turns": 0} and held.recent == []
        assert redis_conn.get(held.key) == held.token.encode()  # locked
        turns = [{"seq": k, "role": "customer", "text": f"第{k}句"} for k in range(6)]
        live.save(redis_conn, cid, {"turns": 6}, turns, now=100.0, waiting_since=90.0,
                  event={"type": "conversation", "id": cid}, held=held)
        assert redis_conn.get(held.key) is None  # released with the writes
    [(_, entry)] = redis_conn.xrange(f"{live.P}events")
    assert json.loads(entry[b"e"]) == {"type": "conversation", "id": cid}  # the board's event
    assert live.load(redis_conn, cid)[1] == {"turns": 6}
    assert [t["seq"] for t in live.turns(redis_conn, cid)] == list(range(6))
    assert live.waiting_since(redis_conn, before=95.0) == [(cid, 90.0)]
    assert live.open_ids(redis_conn, idle_before=100.0) == [cid]
    with live.hold(redis_conn, cid, last=4) as held:  # the last four turns only
        assert [t["seq"] for t in held.recent] == [2, 3, 4, 5]
        live.save(redis_conn, cid, {"turns": 6}, [], now=101.0, waiting_since=None, held=held)
    assert live.waiting_since(redis_conn, before=1e12) == []


def test_one_writer_at_a_time_across_clients(redis_url, redis_conn):
    cid = _open(redis_conn)
    other = redis.Redis.from_url(redis_url)
    order = []

    def second():
        with live.hold(other, cid) as held:
            order.append(("second", held.found[1]["turns"]))

    with live.hold(redis_conn, cid) as held:
        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.2)
        assert order == []  # still waiting for the lock
        live.save(redis_conn, cid, {"turns": 1}, [{"seq": 0, "role": "agent", "text": "您好"}], now=1.0,
                  waiting_since=None, held=held)
    t.join(5)
    assert order == [("second", 1)]  # it read what the first writer saved
    with live.hold(redis_conn, cid):  # released on leaving too, with nothing saved
        pass
    assert redis_conn.get(f"{live.P}lock:{cid}") is None


def test_a_lock_that_stays_taken_times_out_and_an_expired_one_is_reported(redis_conn, caplog):
    cid = _open(redis_conn)
    redis_conn.set(f"{live.P}lock:{cid}", "someone-else", px=5_000)
    with pytest.raises(LockError):
        with live.hold(redis_conn, cid, timeout_s=0.2):
            pass
    redis_conn.delete(f"{live.P}lock:{cid}")
    with pytest.raises(LockNotOwnedError):
        with live.hold(redis_conn, cid) as held:
            redis_conn.set(held.key, "taken-over")  # our lock expired and another writer took it
            live.save(redis_conn, cid, {"turns": 1}, [{"seq": 0, "role": "agent", "text": "您好"}], now=1.0,
                      waiting_since=None, event={"type": "conversation", "id": cid}, held=held)
    assert redis_conn.get(held.key) == b"taken-over"  # not ours to release
    assert live.load(redis_conn, cid)[1] == {"turns": 0} and live.turns(redis_conn, cid) == []  # nothing written
    assert redis_conn.xlen(f"{live.P}events") == 0
    redis_conn.delete(held.key)
    with caplog.at_level(logging.WARNING, logger="qa_service.storage.live"):
        with live.hold(redis_conn, cid) as held:
            redis_conn.set(held.key, "taken-over")  # expired while held, nothing saved: reported
    assert "expired while held" in caplog.text


def test_the_scripts_come_back_after_the_server_forgets_them(redis_conn):
    cid = _open(redis_conn)
    redis_conn.script_flush()
    with live.hold(redis_conn, cid) as held:
        live.save(redis_conn, cid, {"turns": 0}, [], now=1.0, waiting_since=None, held=held)
    assert live.load(redis_conn, cid)[1] == {"turns": 0}


def test_past_a_few_waiters_a_busy_conversation_answers_at_once_and_others_are_not_held_up(redis_conn):
    """60 requests on one locked conversation each held an API thread for the whole wait, and a turn of
    another conversation waited 8.8 s for a thread (found by a probe). Past MAX_WAITERS they are refused
    at once; the waiters left take the lock in turn when it is free."""
    busy, other = _open(redis_conn), live.create(redis_conn, ("src", "x2"), {"source": "src"}, {}, time.time())[0]
    redis_conn.set(f"{live.P}lock:{busy}", "someone-else", px=60_000)
    outcomes: list[str] = []

    def wait_for_busy() -> None:
        t0 = time.monotonic()
        try:
            with live.hold(redis_conn, busy, timeout_s=30):
                outcomes.append("held")
        except LockError:
            outcomes.append("refused at once" if time.monotonic() - t0 < 5 else "refused after waiting")

    threads = [threading.Thread(target=wait_for_busy) for _ in range(live.MAX_WAITERS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while live._waiters[busy] < live.MAX_WAITERS and time.monotonic() < deadline:
        time.sleep(0.01)
    wait_for_busy()  # one more: refused at once, without waiting out the 30 s
    assert outcomes == ["refused at once"], outcomes
    with live.hold(redis_conn, other):  # another conversation is not held up at all
        pass
    redis_conn.delete(f"{live.P}lock:{busy}")
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["held"] * live.MAX_WAITERS + ["refused at once"]
    assert not live._waiters

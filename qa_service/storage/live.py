"""Live conversations in Redis: shared by every API process, small and bounded per conversation.

Keys (prefix ``qa:live:``):

* ``next_id`` — the conversation id counter; ``key:<source>␟<external_id>`` — id by idempotency key;
* ``c:<id>`` — a hash: ``meta`` (the conversation's fields, JSON), ``state`` (the running checks'
  state, JSON), ``status`` (open | ended), ``transcript_id`` once ended;
* ``t:<id>`` — the turns so far, a list of JSON objects (text already redacted);
* ``open`` — sorted set of open ids by last activity (idle timeout, the board);
* ``waiting`` — sorted set of ids whose customer waits for a reply, by since when (reply-wait timer);
* ``events`` — a capped stream the live board follows; ``wake`` — a list that wakes the delivery loop.

Ended conversations keep their hash (status ``ended``) for a day, so a late re-post is answered,
not taken for a new conversation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import redis

P = "qa:live:"
ENDED_TTL_S = 86_400
EVENTS_MAXLEN = 2_000


def _c(cid: int) -> str:
    return f"{P}c:{cid}"


def _t(cid: int) -> str:
    return f"{P}t:{cid}"


def create(r: redis.Redis, key: tuple[str, str], meta: dict[str, Any], state: dict[str, Any], now: float
           ) -> tuple[int, bool]:
    """A new open conversation, or the id already holding this (source, external_id): (id, created)."""
    k = f"{P}key:{key[0]}\x1f{key[1]}"
    existing = r.get(k)
    if existing is not None:
        return int(existing), False
    cid = int(r.incr(f"{P}next_id"))
    if not r.set(k, cid, nx=True):  # another process won the race: theirs it is
        return int(r.get(k)), False
    with r.pipeline() as p:
        p.hset(_c(cid), mapping={"meta": json.dumps(meta, ensure_ascii=False),
                                 "state": json.dumps(state), "status": "open"})
        p.zadd(f"{P}open", {cid: now})
        p.execute()
    return cid, True


def load(r: redis.Redis, cid: int) -> tuple[dict, dict, str, int | None] | None:
    """(meta, state, status, transcript id) of a conversation, or None."""
    return _found(r.hgetall(_c(cid)))


def load_recent(r: redis.Redis, cid: int, last: int) -> tuple[tuple[dict, dict, str, int | None] | None, list[dict]]:
    """:func:`load` and the last ``last`` turns, in one round trip (the per-turn path)."""
    with r.pipeline(transaction=False) as p:
        p.hgetall(_c(cid))
        p.lrange(_t(cid), -last, -1)
        raw, recent = p.execute()
    return _found(raw), [json.loads(x) for x in recent]


def _found(raw: dict) -> tuple[dict, dict, str, int | None] | None:
    if not raw:
        return None
    tid = raw.get(b"transcript_id")
    return (json.loads(raw[b"meta"]), json.loads(raw[b"state"]), raw[b"status"].decode(),
            int(tid) if tid else None)


def turns(r: redis.Redis, cid: int, last: int | None = None) -> list[dict]:
    """The turns so far (or the last ``last`` of them)."""
    raw = r.lrange(_t(cid), -last if last else 0, -1)
    return [json.loads(x) for x in raw]


def count_turns(r: redis.Redis, cid: int) -> int:
    return int(r.llen(_t(cid)))


def save(r: redis.Redis, cid: int, state: dict, new_turns: Sequence[dict], now: float,
         waiting_since: float | None, event: dict[str, Any] | None = None) -> None:
    """Append turns and store the state (and publish ``event``), in one round trip."""
    with r.pipeline() as p:
        if new_turns:
            p.rpush(_t(cid), *[json.dumps(t, ensure_ascii=False) for t in new_turns])
        p.hset(_c(cid), "state", json.dumps(state))
        p.zadd(f"{P}open", {cid: now})
        if waiting_since is None:
            p.zrem(f"{P}waiting", cid)
        else:
            p.zadd(f"{P}waiting", {cid: waiting_since})
        if event is not None:
            _publish(p, event)
        p.execute()


def set_state(r: redis.Redis, cid: int, state: dict) -> None:
    r.hset(_c(cid), "state", json.dumps(state))


def mark_ended(r: redis.Redis, cid: int, transcript_id: int | None) -> None:
    with r.pipeline() as p:
        p.hset(_c(cid), mapping={"status": "ended", "transcript_id": transcript_id or ""})
        p.zrem(f"{P}open", cid)
        p.zrem(f"{P}waiting", cid)
        p.delete(_t(cid))
        p.expire(_c(cid), ENDED_TTL_S)
        p.execute()


def open_ids(r: redis.Redis, *, idle_before: float | None = None) -> list[int]:
    """Open conversations, most recently active first (``idle_before``: only those idle since then)."""
    if idle_before is None:
        return [int(x) for x in r.zrevrange(f"{P}open", 0, -1)]
    return [int(x) for x in r.zrangebyscore(f"{P}open", 0, idle_before)]


def waiting_since(r: redis.Redis, before: float) -> list[tuple[int, float]]:
    """Conversations whose customer has waited for a reply since before ``before``."""
    return [(int(m), float(s)) for m, s in r.zrangebyscore(f"{P}waiting", 0, before, withscores=True)]


def lock(r: redis.Redis, cid: int, timeout_s: float = 10.0):
    """One writer at a time per conversation, whichever API process serves the request."""
    return r.lock(f"{P}lock:{cid}", timeout=timeout_s, blocking_timeout=timeout_s)


def publish(r: redis.Redis, event: dict[str, Any]) -> None:
    """An event for live boards (new alert, acknowledgement, conversation state)."""
    _publish(r, event)


def _publish(r: redis.Redis, event: dict[str, Any]) -> None:
    r.xadd(f"{P}events", {"e": json.dumps(event, ensure_ascii=False, default=str)}, maxlen=EVENTS_MAXLEN,
           approximate=True)


def wake_delivery(r: redis.Redis) -> None:
    r.lpush(f"{P}wake", 1)


def wait_for_wake(r: redis.Redis, timeout_s: float) -> None:
    """Block until something is to deliver (or the timeout); drains the other wake-ups."""
    if r.blpop([f"{P}wake"], timeout=timeout_s):
        r.delete(f"{P}wake")


def sweep_turn(r: redis.Redis, holder: str, ttl_s: float) -> bool:
    """True for one process per ``ttl_s``: the one that runs the timers this tick."""
    return bool(r.set(f"{P}sweeper", holder, nx=True, px=int(ttl_s * 1000)))

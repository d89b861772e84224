"""Live conversations in Redis: shared by every API process, small and bounded per conversation.

Keys (prefix ``qa:live:``):

* ``next_id`` — the conversation id counter; ``key:<source>␟<external_id>`` — id by idempotency key;
* ``c:<id>`` — a hash: ``meta`` (the conversation's fields, JSON), ``state`` (the running checks'
  state, JSON), ``status`` (open | ended), ``transcript_id`` once ended;
* ``t:<id>`` — the turns so far, a list of JSON objects (text already redacted);
* ``open`` — sorted set of open ids by last activity (idle timeout, the board);
* ``waiting`` — sorted set of ids whose customer waits for a reply, by since when (reply-wait timer);
* ``events`` — a capped stream the live board follows; ``wake`` — a list that wakes the delivery loop.

Ended conversations keep their hash (status ``ended``) and key for a day, so a late re-post is
answered, not taken for a new conversation; a conversation whose transcript is erased or purged loses
them at once (:func:`forget`). Ids are handed out above the highest the database has
stored alerts for, so a Redis restarted empty never gives an id twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.exceptions import LockError, LockNotOwnedError, NoScriptError

log = logging.getLogger(__name__)

P = "qa:live:"
ENDED_TTL_S = 86_400
EVENTS_MAXLEN = 2_000


def _c(cid: int) -> str:
    return f"{P}c:{cid}"


def _t(cid: int) -> str:
    return f"{P}t:{cid}"


# Creates the conversation, or finds the one holding the key, atomically. A key whose conversation is
# gone (ended more than a day ago, or lost with the data of a Redis restarted empty) is taken anew. The
# counter never goes below ARGV[1], the highest id alerts are stored for, and a counter that is gone (a
# Redis restarted empty) starts again at ARGV[6], the mark the database reserved above every id handed
# out (storage/live_ids.py): ids are never handed out twice.
# KEYS: key, counter, open. ARGV: floor, meta, state, now, the conversation hash's prefix, restart mark.
_CREATE = """
local id = redis.call('get', KEYS[1])
if id and redis.call('exists', ARGV[5] .. id) == 1 then return {tonumber(id), 0} end
if redis.call('exists', KEYS[2]) == 0 then redis.call('set', KEYS[2], ARGV[6]) end
if tonumber(redis.call('get', KEYS[2])) < tonumber(ARGV[1]) then redis.call('set', KEYS[2], ARGV[1]) end
id = redis.call('incr', KEYS[2])
redis.call('set', KEYS[1], id)
redis.call('hset', ARGV[5] .. id, 'meta', ARGV[2], 'state', ARGV[3], 'status', 'open')
redis.call('zadd', KEYS[3], ARGV[4], id)
return {id, 1}
"""


def _key(key: tuple[str, str]) -> str:
    return f"{P}key:{key[0]}\x1f{key[1]}"


def find(r: redis.Redis, key: tuple[str, str]) -> int | None:
    """The conversation holding this (source, external_id), if it is still kept."""
    cid = r.get(_key(key))
    return int(cid) if cid is not None and r.exists(_c(int(cid))) else None


def create(r: redis.Redis, key: tuple[str, str], meta: dict[str, Any], state: dict[str, Any], now: float,
           floor: int = 0, restart_at: int = 0) -> tuple[int, bool]:
    """A new open conversation with an id above ``floor`` (and above ``restart_at`` when the counter is
    gone), or the one already holding this (source, external_id): (id, created)."""
    # encoded before anything is written: a value that cannot be stored must not leave the key behind
    args = [floor, json.dumps(meta, ensure_ascii=False), json.dumps(state), repr(now), f"{P}c:", restart_at]
    cid, created = _run(r, _CREATE, [_key(key), f"{P}next_id", f"{P}open"], args)
    return int(cid), bool(created)


def load(r: redis.Redis, cid: int) -> tuple[dict, dict, str, int | None] | None:
    """(meta, state, status, transcript id) of a conversation, or None."""
    return _found(r.hgetall(_c(cid)))


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


# The per-turn write as one script (atomic, one command to send and one reply to read): append the
# turns, store the state, the activity and waiting times, publish the board event, release the lock;
# nothing at all if the lock is no longer this holder's (it expired and another writer has it).
# KEYS: turns, conversation, open, waiting, events, lock. ARGV: state, id, now, waiting since ("":
# not waiting), event ("": none), events' max length, lock token ("": none held), then the turns.
_SAVE = """
if ARGV[7] ~= '' and redis.call('get', KEYS[6]) ~= ARGV[7] then return 0 end
if #ARGV > 7 then redis.call('rpush', KEYS[1], unpack(ARGV, 8)) end
redis.call('hset', KEYS[2], 'state', ARGV[1])
redis.call('zadd', KEYS[3], ARGV[3], ARGV[2])
if ARGV[4] == '' then redis.call('zrem', KEYS[4], ARGV[2]) else redis.call('zadd', KEYS[4], ARGV[4], ARGV[2]) end
if ARGV[5] ~= '' then redis.call('xadd', KEYS[5], 'MAXLEN', '~', ARGV[6], '*', 'e', ARGV[5]) end
if ARGV[7] ~= '' then redis.call('del', KEYS[6]) end
return 1
"""


def save(r: redis.Redis, cid: int, state: dict, new_turns: Sequence[dict], now: float,
         waiting_since: float | None, event: dict[str, Any] | None = None, held: Held | None = None) -> None:
    """Append turns and store the state (and publish ``event``; release ``held``), atomically, in one
    round trip. Raises :class:`LockNotOwnedError`, having written nothing, when ``held`` expired and
    another writer took the conversation meanwhile (the turn was not kept: the client sends it again)."""
    keys = [_t(cid), _c(cid), f"{P}open", f"{P}waiting", f"{P}events", held.key if held else f"{P}lock:{cid}"]
    args = [json.dumps(state), cid, repr(now), "" if waiting_since is None else repr(waiting_since),
            "" if event is None else json.dumps(event, ensure_ascii=False, default=str), EVENTS_MAXLEN,
            held.token if held else "", *[json.dumps(t, ensure_ascii=False) for t in new_turns]]
    ok = _run(r, _SAVE, keys, args)
    if held is not None:
        held.released = True
        if not ok:
            raise LockNotOwnedError(f"live conversation {cid}: the lock expired before the turn was saved "
                                    "and another writer holds it; nothing was written")


@lru_cache(maxsize=8)
def _sha(source: str) -> str:
    return hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


def _run(r: redis.Redis, source: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """A Lua script by its SHA (EVALSHA: the text is sent only when the server does not have it yet)."""
    sha = _sha(source)
    try:
        return r.evalsha(sha, len(keys), *keys, *args)
    except NoScriptError:
        r.script_load(source)
        return r.evalsha(sha, len(keys), *keys, *args)


def set_state(r: redis.Redis, cid: int, state: dict) -> None:
    r.hset(_c(cid), "state", json.dumps(state))


def mark_ended(r: redis.Redis, cid: int, transcript_id: int | None, key: tuple[str, str]) -> None:
    """Ended: its hash and its (source, external_id) key kept for a day (a late re-post is answered), its
    turns dropped (they are a transcript now)."""
    with r.pipeline() as p:
        p.hset(_c(cid), mapping={"status": "ended", "transcript_id": transcript_id or ""})
        p.zrem(f"{P}open", cid)
        p.zrem(f"{P}waiting", cid)
        p.delete(_t(cid))
        p.expire(_c(cid), ENDED_TTL_S)
        p.expire(_key(key), ENDED_TTL_S)
        p.execute()


# Deletes the key only while it still names this conversation. KEYS: key. ARGV: the conversation's id.
_FORGET_KEY = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def forget(r: redis.Redis, conversations: Sequence[tuple[int, str, str]]) -> int:
    """Drop everything kept of these conversations ((id, source, external_id): their transcripts were erased or
    purged): the hash (fields, running state with the last customer turn), the turns, the lock, the key (while
    it names them), their place among the open and waiting ones. The board's event stream holds ids and teams
    only. Returns how many were still kept."""
    if not conversations:
        return 0
    with r.pipeline(transaction=False) as p:
        for cid, _, _ in conversations:
            p.exists(_c(cid))
        kept = sum(p.execute())
    with r.pipeline() as p:
        for cid, _, _ in conversations:
            p.delete(_c(cid), _t(cid), f"{P}lock:{cid}")
            p.zrem(f"{P}open", cid)
            p.zrem(f"{P}waiting", cid)
        p.execute()
    for cid, source, external_id in conversations:
        _run(r, _FORGET_KEY, [_key((source, external_id))], [cid])
    return kept


def open_ids(r: redis.Redis, *, idle_before: float | None = None) -> list[int]:
    """Open conversations, most recently active first (``idle_before``: only those idle since then)."""
    if idle_before is None:
        return [int(x) for x in r.zrevrange(f"{P}open", 0, -1)]
    return [int(x) for x in r.zrangebyscore(f"{P}open", 0, idle_before)]


def waiting_since(r: redis.Redis, before: float) -> list[tuple[int, float]]:
    """Conversations whose customer has waited for a reply since before ``before``."""
    return [(int(m), float(s)) for m, s in r.zrangebyscore(f"{P}waiting", 0, before, withscores=True)]


# Deletes the lock only if it is still this holder's (it may have expired and been taken since).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
# Takes the lock and reads the conversation (and its last ARGV[3] turns) in one command; nil if locked.
# KEYS: lock, conversation, turns. ARGV: token, lock lifetime (ms), turns wanted.
_HOLD = """
if not redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
local n = tonumber(ARGV[3])
local recent = {}
if n > 0 then recent = redis.call('lrange', KEYS[3], -n, -1) end
return {redis.call('hgetall', KEYS[2]), recent}
"""


@dataclass(slots=True)
class Held:
    """A conversation's lock held by this request, and what was loaded under it."""

    key: str
    token: str
    found: tuple[dict, dict, str, int | None] | None
    recent: list[dict] = field(default_factory=list)
    released: bool = False


# Requests of this process waiting for one conversation's lock: each waits in an API thread, and 60 at once
# on one conversation held 40 threads for 10 s (a turn for another conversation took 8.8 s; found by a
# probe). A platform sends one conversation's turns one after another; past MAX_WAITERS the rest get the
# 503 at once.
MAX_WAITERS = 4
_waiters: Counter[int] = Counter()
_waiters_lock = threading.Lock()


@contextmanager
def _queued(cid: int) -> Iterator[None]:
    with _waiters_lock:
        if _waiters[cid] >= MAX_WAITERS:
            raise LockError(f"live conversation {cid} is busy: {MAX_WAITERS} requests already wait for it")
        _waiters[cid] += 1
    try:
        yield
    finally:
        with _waiters_lock:
            _waiters[cid] -= 1
            if not _waiters[cid]:
                del _waiters[cid]


@contextmanager
def hold(r: redis.Redis, cid: int, *, last: int = 0, timeout_s: float = 10.0,
         wait_s: float | None = None) -> Iterator[Held]:
    """One writer at a time per conversation, whichever API process serves the request. Takes the
    lock and loads the conversation (:func:`load`, and its last ``last`` turns) in one round trip;
    the lock is released on leaving, or by :func:`save` with the writes when ``held`` is passed
    (the per-turn path: two round trips in all). A lock outlives a crashed holder by ``timeout_s``;
    a request waits ``wait_s`` (default: ``timeout_s``) for one held by another, then raises
    :class:`LockError`."""
    key, token = f"{P}lock:{cid}", secrets.token_hex(8)
    wait_s = timeout_s if wait_s is None else wait_s
    args = [token, int(timeout_s * 1000), last]
    if (got := _run(r, _HOLD, [key, _c(cid), _t(cid)], args)) is None:
        with _queued(cid):
            deadline, pause = time.monotonic() + wait_s, 0.001
            while (got := _run(r, _HOLD, [key, _c(cid), _t(cid)], args)) is None:
                if time.monotonic() >= deadline:
                    raise LockError(f"live conversation {cid} stayed locked for {wait_s:g} s")
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
    flat, recent = got
    held = Held(key, token, _found(dict(zip(flat[::2], flat[1::2]))), [json.loads(x) for x in recent])
    try:
        yield held
    finally:
        if not held.released and not _run(r, _RELEASE, [key], [token]):
            log.warning("live conversation %s: its lock expired while held (held longer than %.0f s)", cid, timeout_s)


def publish(r: redis.Redis, event: dict[str, Any]) -> None:
    """An event for live boards (new alert, acknowledgement, conversation state)."""
    _publish(r, event)


def _publish(r: redis.Redis, event: dict[str, Any]) -> None:
    r.xadd(f"{P}events", {"e": json.dumps(event, ensure_ascii=False, default=str)}, maxlen=EVENTS_MAXLEN,
           approximate=True)


def wake_delivery(r: redis.Redis) -> None:
    r.lpush(f"{P}wake", 1)


def wake_process(r: redis.Redis, holder: str) -> None:
    """Wake one process's loop alone (it is stopping): the shared wake-up would go to any of them."""
    r.pipeline().lpush(f"{P}wake:{holder}", 1).expire(f"{P}wake:{holder}", 10).execute()


def wait_for_wake(r: redis.Redis, timeout_s: float, holder: str | None = None) -> None:
    """Block until something is to deliver, ``holder``'s own wake-up comes, or the timeout; drains the
    other wake-ups."""
    keys = [f"{P}wake", *([f"{P}wake:{holder}"] if holder else [])]
    if r.blpop(keys, timeout=timeout_s):
        r.delete(*keys)


def sweep_turn(r: redis.Redis, holder: str, ttl_s: float) -> bool:
    """True for one process per ``ttl_s``: the one that runs the timers this tick."""
    return bool(r.set(f"{P}sweeper", holder, nx=True, px=int(ttl_s * 1000)))

"""Work kept apart by destination: each key (a webhook) has its own queue and threads of its own.

One shared pool let a webhook that answers slowly, or not at all, take every sending thread: alerts to
healthy webhooks, of every team, waited behind its timeouts (a probe measured seconds; the docs promise
a second). Here a key has at most ``per_key`` items in hand at a time, on threads started for it and
ended once it has been idle a while, so a bad webhook holds only its own threads. Within a key, first
tries go before retries. An item that waited in its queue longer than ``stale_s`` is dropped, not
worked: the caller's lease on it runs out and the outbox hands it out again (at least once, never
twice at the same time from one process).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

log = logging.getLogger(__name__)
FAILED_FOR_S = 3600.0  # how long a key whose last item failed is remembered as failing (see Lanes.load)


class _Lane:
    """One key's queues (first tries, retries: each of ``(queued at, item)``) and threads."""

    def __init__(self, lock: threading.Lock):
        self.fresh: deque[tuple[float, Any]] = deque()
        self.retries: deque[tuple[float, Any]] = deque()
        self.wake = threading.Condition(lock)
        self.threads = 0  # started for this key and not ended
        self.idle = 0  # of them, waiting for an item
        self.working = 0  # items in hand
        self.failing = False  # the last item worked on failed

    def queued(self) -> int:
        return len(self.fresh) + len(self.retries)


class Lanes:
    """Items worked by ``work(item) -> ok``, each key on threads of its own (see the module)."""

    def __init__(self, work: Callable[[Any], bool], *, per_key: int = 2, stale_s: float = 30.0,
                 idle_s: float = 30.0, name: str = "lane"):
        self.work = work
        self.per_key, self.stale_s, self.idle_s, self.name = per_key, stale_s, idle_s, name
        self.lock = threading.Lock()
        self.lanes: dict[Hashable, _Lane] = {}
        self.threads: set[threading.Thread] = set()
        self.deadline: float | None = None  # closing: nothing is taken on, nothing started after it
        self.failed_at: dict[Hashable, float] = {}  # keys whose last item failed, and when

    def submit(self, key: Hashable, item: Any, *, retry: bool = False) -> bool:
        """Queue an item for its key (False: closing, not queued); a thread starts for it if the key has
        fewer than ``per_key`` and none is idle."""
        with self.lock:
            if self.deadline is not None:
                return False
            lane = self.lanes.get(key)
            if lane is None:
                lane = self.lanes[key] = _Lane(self.lock)
            (lane.retries if retry else lane.fresh).append((time.monotonic(), item))
            lane.wake.notify()
            if lane.threads < self.per_key and lane.queued() > lane.idle:
                lane.threads += 1
                thread = threading.Thread(target=self._drain, args=(key, lane), name=f"{self.name}-{key}",
                                          daemon=True)  # a call that hangs never holds up the process's exit
                self.threads.add(thread)
                thread.start()
        return True

    def load(self) -> dict[Hashable, tuple[int, bool]]:
        """Per key with work, or whose last item failed within ``FAILED_FOR_S``: (items queued or in hand,
        whether its last item failed). A failing key stays known after its idle threads end: its retries
        come back after backoffs longer than a lane lives."""
        with self.lock:
            recent = time.monotonic() - FAILED_FOR_S
            for key in [k for k, at in self.failed_at.items() if at < recent]:
                del self.failed_at[key]
            out = {k: (lane.queued() + lane.working, lane.failing) for k, lane in self.lanes.items()
                   if lane.queued() or lane.working}
            return {**{k: (0, True) for k in self.failed_at}, **out}

    def close(self, grace_s: float, in_hand_s: float) -> None:
        """Stop: queued items are still worked for ``grace_s``, then dropped (their leases run out); items
        in hand then get ``in_hand_s`` more to finish. Threads still working after that are left (daemons)."""
        with self.lock:
            self.deadline = time.monotonic() + grace_s
            for lane in self.lanes.values():
                lane.wake.notify_all()
            threads = list(self.threads)
        until = self.deadline + in_hand_s
        for thread in threads:
            thread.join(max(0.0, until - time.monotonic()))

    def _drain(self, key: Hashable, lane: _Lane) -> None:
        try:
            while True:
                with self.lock:
                    item = self._take(key, lane)
                    if item is None:  # ends in the same hold of the lock as it found nothing: a submit
                        self._end(key, lane)  # in between would count this thread and start none
                        return
                    lane.working += 1
                ok = False
                try:
                    ok = bool(self.work(item))
                except Exception:  # noqa: BLE001 — one item's failure must not end the key's thread
                    log.exception("%s %s: work failed", self.name, key)
                finally:
                    with self.lock:
                        lane.working -= 1
                        lane.failing = not ok
                        if ok:
                            self.failed_at.pop(key, None)
                        else:
                            self.failed_at[key] = time.monotonic()
        except BaseException:
            with self.lock:
                self._end(key, lane)
            raise

    def _end(self, key: Hashable, lane: _Lane) -> None:
        """This thread is done (the lock held)."""
        lane.threads -= 1
        if not lane.threads and not lane.queued() and self.lanes.get(key) is lane:
            del self.lanes[key]  # an idle key (a deleted webhook) keeps nothing but whether it was failing
        self.threads.discard(threading.current_thread())

    def _take(self, key: Hashable, lane: _Lane) -> Any:
        """The key's next item, first tries first (the lock held); None: this thread ends (idle, closing)."""
        while True:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                lane.fresh.clear()
                lane.retries.clear()
                return None
            item = self._next(key, lane)
            if item is not None or self.deadline is not None:
                return item
            lane.idle += 1
            woken = lane.wake.wait(self.idle_s)
            lane.idle -= 1
            if not woken and not lane.queued():
                return None

    def _next(self, key: Hashable, lane: _Lane) -> Any:
        now, dropped = time.monotonic(), 0
        try:
            for queue in (lane.fresh, lane.retries):
                while queue:
                    queued_at, item = queue.popleft()
                    if now - queued_at <= self.stale_s:
                        return item
                    dropped += 1
            return None
        finally:
            if dropped:
                log.warning("%s %s: %d item(s) waited over %g s behind slower ones; left to be handed out again",
                            self.name, key, dropped, self.stale_s)

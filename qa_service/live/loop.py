"""The API process's live loop: deliver alerts as soon as they are stored, and run the timers.

It wakes when a turn raised an alert (a Redis list), else every half second: sends what is due
(``delivery.Sender``), and once a second — in one API process at a time — runs the timers
(``service.sweep``: customers left waiting, idle conversations ended).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

import redis
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from qa_service.live import service
from qa_service.runtime import Runtime
from qa_service.storage import live as live_repo
from qa_service.storage.redis import redis_client

log = logging.getLogger(__name__)
TICK_S = 0.5
SWEEP_EVERY_S = 1.0


class LiveLoop(threading.Thread):
    def __init__(self, rt: Runtime):
        super().__init__(name="qa-live-loop", daemon=True)
        self.rt = rt
        self.stopping = threading.Event()
        self.holder = f"{socket.gethostname()}-{os.getpid()}"
        # Its own connection: it blocks in BLPOP, which must not hold up the requests' client.
        self.redis = redis_client(rt.settings, socket_timeout=max(rt.settings.redis.socket_timeout_s, 5.0))

    def run(self) -> None:
        try:  # in this thread: the rule packs' first load (a second or so) does not hold up the API's start
            service.check_alert_rules(self.rt)
        except Exception:  # a defect: its traceback; the loop still delivers and ends conversations
            log.exception("live loop: checking the alert rules failed")
        sender = service.sender(self.rt)
        last_sweep, quiet_until = 0.0, 0.0
        try:
            while not self.stopping.is_set():
                try:
                    live_repo.wait_for_wake(self.redis, TICK_S, self.holder)
                    sender.deliver_due()
                    now = time.time()
                    if now - last_sweep >= SWEEP_EVERY_S:
                        last_sweep = now
                        if live_repo.sweep_turn(self.redis, self.holder, SWEEP_EVERY_S * 0.9):
                            service.sweep(self.rt, now)
                    if quiet_until:
                        log.warning("live loop: answering again")
                        quiet_until = 0.0
                except (redis.RedisError, OSError, OperationalError, InterfaceError, PoolTimeout) as exc:  # away
                    if time.monotonic() >= quiet_until:  # one line a minute, not a traceback every 2 s
                        log.warning("live loop: %s (%s); retrying every 2 s, the outbox keeps the alerts",
                                    type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")
                        quiet_until = time.monotonic() + 60
                    self.stopping.wait(2.0)
                except Exception:  # a defect: its traceback, and keep the loop alive
                    log.exception("live loop pass failed; retrying")
                    self.stopping.wait(2.0)
        finally:
            self.redis.close()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ends the loop now, not at the end of the ``TICK_S`` wait it is blocked in (every stop of an API
        process waited up to half a second for it)."""
        self.stopping.set()
        try:
            live_repo.wake_process(self.rt.redis, self.holder)
        except redis.RedisError:  # Redis away: the loop is then in its 2 s retry wait, which the Event ends
            pass
        self.join(timeout=timeout_s)

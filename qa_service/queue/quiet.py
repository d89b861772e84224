"""One line a minute while Redis is away, not a traceback every second.

rq logs a lost connection from three places at once — its dequeue loop ("could not connect to Redis
instance … retrying in N seconds", every try), its pub/sub thread (every 2 s) and its scheduler (a chained
traceback) — and the reconciler tried every pass: 268 lines and 11 tracebacks in a 23-second outage, in an
operator's probe. :class:`RedisLossFilter` keeps the first such line of each logger, then one a minute, and
drops the traceback of one whose error is Redis's; the line after Redis answers again is the worker's own.
"""

from __future__ import annotations

import logging
import time

import redis

QUIET_S = 60.0
_PHRASES = ("could not connect to redis", "redis connection timeout", "scheduler [pid")


def _redis_error(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 10:  # the chain: "during handling of the above exception …"
        if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


class RedisLossFilter(logging.Filter):
    """On a logger: a record about Redis being unreachable passes once a minute, as one line."""

    def __init__(self, quiet_s: float = QUIET_S):
        super().__init__()
        self.quiet_s = quiet_s
        self.last = float("-inf")
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        about_redis = _redis_error(record.exc_info[1] if record.exc_info else None) or any(
            phrase in record.getMessage().lower() for phrase in _PHRASES)
        if not about_redis:
            return True
        now = time.monotonic()
        if now - self.last < self.quiet_s:
            self.dropped += 1
            return False
        lines = [line for line in record.getMessage().splitlines() if line.strip()]
        text = lines[0] if len(lines) < 2 else f"{lines[0]} {lines[-1].strip()}"  # rq's scheduler writes its
        if self.dropped:                                                          # traceback into the message
            text += f" ({self.dropped} more such line(s) left out)"
        record.msg, record.args = text, None
        self.last, self.dropped = now, 0
        record.exc_info = record.exc_text = None  # its traceback says nothing the line does not
        return True


def quiet_redis_loss(*names: str, quiet_s: float = QUIET_S) -> list[tuple[logging.Logger, RedisLossFilter]]:
    """Install a filter on each named logger (rq's); returns them, for :func:`unquiet`."""
    out = []
    for name in names:
        logger, flt = logging.getLogger(name), RedisLossFilter(quiet_s)
        logger.addFilter(flt)
        out.append((logger, flt))
    return out


def unquiet(installed: list[tuple[logging.Logger, RedisLossFilter]]) -> None:
    for logger, flt in installed:
        logger.removeFilter(flt)

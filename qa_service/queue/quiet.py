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
_PHRASES = ("could not connect to redis", "redis connection timeout")  # rq's own lines about a lost Redis
# The last line of a traceback rq's scheduler writes into its message ("Scheduler [PID n] raised …"):
_ERROR_LINE = ("redis.exceptions.ConnectionError", "redis.exceptions.TimeoutError")


def _redis_error(exc: BaseException | None) -> bool:
    """The error raised was Redis's (not one raised while handling it: that is a bug of its own)."""
    return isinstance(exc, (redis.ConnectionError, redis.TimeoutError))


def _about_redis(record: logging.LogRecord) -> bool:
    if _redis_error(record.exc_info[1] if record.exc_info else None):
        return True
    lines = [line for line in record.getMessage().splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Scheduler [PID"):  # the traceback is in the text: its last line
        return lines[-1].strip().startswith(_ERROR_LINE)
    return any(phrase in lines[0].lower() for phrase in _PHRASES) if lines else False


class RedisLossFilter(logging.Filter):
    """On a logger: a record about Redis being unreachable passes once a minute, as one line."""

    def __init__(self, quiet_s: float = QUIET_S):
        super().__init__()
        self.quiet_s = quiet_s
        self.last = float("-inf")
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not _about_redis(record):
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

"""The filter on rq's loggers quiets only what is about Redis being away (a review found it also cut the
tracebacks of scheduler crashes of other causes, and dropped a second one within the minute)."""

from __future__ import annotations

import logging
import sys

import redis

from qa_service.queue.quiet import RedisLossFilter


def _record(msg: str, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord("rq.worker", logging.ERROR, __file__, 1, msg, None, exc_info)


def _scheduler_crash(last_line: str) -> str:
    return ("Scheduler [PID 7] raised an exception.\nTraceback (most recent call last):\n  File 'x', line 1\n"
            + last_line)


def test_lines_about_a_lost_redis_pass_once_a_minute_as_one_line():
    flt = RedisLossFilter(quiet_s=60)
    first = _record("Worker w: could not connect to Redis instance: refused retrying in 1 seconds...")
    assert flt.filter(first) and first.exc_info is None
    assert not flt.filter(_record("Worker w: could not connect to Redis instance: refused retrying in 2 seconds..."))
    crash = _record(_scheduler_crash("redis.exceptions.ConnectionError: Error 111 connecting"))
    assert not flt.filter(crash)  # within the minute
    flt.last -= 61
    crash = _record(_scheduler_crash("redis.exceptions.ConnectionError: Error 111 connecting"))
    assert flt.filter(crash)
    assert "\n" not in crash.getMessage() and "2 more such line(s) left out" in crash.getMessage()
    lost = _record("Worker w: found an unhandled exception, quitting...", redis.ConnectionError("closed"))
    flt.last -= 61
    assert flt.filter(lost) and lost.exc_info is None


def test_other_errors_keep_their_tracebacks_and_are_never_dropped():
    flt = RedisLossFilter(quiet_s=60)
    assert flt.filter(_record("Worker w: could not connect to Redis instance: x"))  # the minute starts
    for _ in range(2):  # a scheduler crash of another cause, twice within the minute
        crash = _record(_scheduler_crash("rq.exceptions.DeserializationError: bad pickle"))
        assert flt.filter(crash) and "File" in crash.getMessage()
    try:
        try:
            raise redis.ConnectionError("closed")
        except redis.ConnectionError:
            raise KeyError("job")  # a bug raised while handling a lost connection
    except KeyError:
        record = logging.LogRecord("rq.worker", logging.ERROR, __file__, 1, "found an unhandled exception", None,
                                   sys.exc_info())
    assert flt.filter(record) and record.exc_info is not None

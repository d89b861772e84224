"""Parts of a request's server time, by name, for its ``Server-Timing`` header.

The API's middleware gives each request an empty dict here; code on the request's path adds to it
(``with timed("store"): …``, or :func:`add`), from the request's thread too (a sync route runs in a
worker thread with a copy of the request's context, which shares the dict). Outside a request the
calls cost a context-variable read and nothing is kept.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

REQUEST_TIMINGS: ContextVar[dict[str, float] | None] = ContextVar("qa_request_timings", default=None)


def add(name: str, seconds: float) -> None:
    """Count ``seconds`` towards ``name`` in the current request's timings (if there is a request)."""
    timings = REQUEST_TIMINGS.get()
    if timings is not None:
        timings[name] = timings.get(name, 0.0) + seconds


@contextmanager
def timed(name: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        add(name, time.perf_counter() - t0)


def header(total_s: float, timings: dict[str, float]) -> str:
    """``app;dur=<ms>`` then each part: ``app;dur=4.10, store;dur=2.95, lock;dur=0.01, queue;dur=0.60``."""
    return ", ".join(f"{name};dur={seconds * 1000:.2f}" for name, seconds in (("app", total_s), *timings.items()))

"""Scorers used only by tests, loaded by import path (``tests.support:SlowScorer``) like a user's own; and
helpers several test files share (route parameters, a raw ASGI request, keys for a site's people)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable

from qa_service.domain import DimensionScore, Transcript


class SlowScorer:
    """Takes a few seconds, so a test can kill the worker mid-job."""

    name = "slow"
    version = "1"
    default_weight = 0.0
    seconds = 4.0

    def __init__(self, ctx=None):
        pass

    def initialize(self) -> None:
        pass

    def score(self, transcript: Transcript, context=None) -> DimensionScore:
        return self.score_batch([transcript])[0]

    def score_batch(self, transcripts, contexts=None) -> list[DimensionScore]:
        """One pause per batch (a worker scores a chunk in one batch), then every transcript's score."""
        time.sleep(self.seconds)
        return [DimensionScore(name=self.name, score=100.0, version=self.version) for _ in transcripts]


class ExplodingScorer:
    """Fails on any transcript that mentions POISON: a poison message."""

    name = "exploding"
    version = "1"
    default_weight = 0.0

    def __init__(self, ctx=None):
        pass

    def initialize(self) -> None:
        pass

    def score(self, transcript: Transcript, context=None) -> DimensionScore:
        if any("POISON" in u.text for u in transcript.utterances):
            raise ValueError("cannot score a transcript that mentions POISON")
        return DimensionScore(name=self.name, score=100.0, version=self.version)


def route_params(dependant, kind: str) -> list:
    """A route's parameters of one kind (query_params, path_params), its dependencies' too."""
    found = list(getattr(dependant, kind))
    for dep in dependant.dependencies:
        found += route_params(dep, kind)
    return found


def asgi_request(app, method: str, path: str, piece: Callable[[int], bytes | None],
                 headers: Iterable[tuple[bytes, bytes]] = ()) -> tuple[int, dict, int]:
    """``method path`` straight to the ASGI app, its body handed over piece by piece as a server hands a
    chunked request (``piece(i)``: the i-th piece, None after the last): (status, JSON body, pieces the app
    asked for)."""
    asked, sent = [0], []

    async def receive():
        i = asked[0]
        asked[0] += 1
        body = piece(i)
        if body is None:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": body, "more_body": piece(i + 1) is not None}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver"), *headers], "client": ("127.0.0.1", 1),
             "server": ("testserver", 80)}

    async def run():
        async with app.router.lifespan_context(app):
            await app(scope, receive, send)

    asyncio.run(run())
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")), \
        asked[0]


def key_headers(sessions, people: Iterable[tuple[str, str, str | None]]) -> dict[str, dict[str, str]]:
    """A key for each (name, role, team): name → its Authorization header."""
    from qa_service.access import service as access
    from qa_service.storage.db import session_scope

    with session_scope(sessions) as s:
        return {name: {"Authorization": f"Bearer {access.create_key(session=s, role=role, team=team, name=name)[1]}"}
                for name, role, team in people}

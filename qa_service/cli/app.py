"""The ``qa`` Typer application, its sub-groups, and what every command shares."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from qa_service.config import Settings, get_settings

app = typer.Typer(help="qa_service: quality inspection (智能质检) of Chinese customer-service conversations.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
rules_app = typer.Typer(help="Rule packs: validate, run their examples, list.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
console = Console()
err_console = Console(stderr=True)

DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Data dir (default QA_DATA_DIR or ./qa-data)")]


def settings_for(data_dir: Path | None) -> Settings:
    return get_settings().with_data_dir(data_dir)


def runtime_for(data_dir: Path | None, *, starting: bool = False):
    """This command's Runtime, on a database this release can use (``Runtime.migrate``): a command that
    starts work (``starting``: import; serve, worker and demo migrate where they start) upgrades the schema
    when QA_DB__AUTO_MIGRATE is on; any other creates the schema of a new, empty database and refuses one
    behind this release, naming ``qa db upgrade``. Was: every command upgraded it, silently."""
    from qa_service.runtime import Runtime

    return Runtime(usable_data_dir(settings_for(data_dir))).migrate(starting=starting)


def usable_data_dir(settings: Settings) -> Settings:
    """``settings``, after checking that its data dir can hold what it will (SQLite, embedded Redis): else one
    line naming the setting and the problem, exit 2."""
    from qa_service.process import data_dir_problem

    if settings.db.url and not settings.uses_embedded_redis:
        return settings
    problem = data_dir_problem(settings.data_dir)
    if problem:
        err_console.print(f"qa: data dir {settings.data_dir} (QA_DATA_DIR or --data-dir) {problem}",
                          markup=False, style="red", soft_wrap=True)
        raise typer.Exit(2)
    return settings


def exit_on_signal(signum, _frame) -> None:
    raise SystemExit(128 + signum)


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request's full URL at INFO: a webhook's URL carries its robot's token (access_token,
    # key, a Feishu path) and its signature; the sender's own lines name webhooks by id and masked URL.
    for noisy in ("jieba", "alembic", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextmanager
def live_redis(rt, live_conversations: int):
    """The Redis that keeps these conversations' live state: None when there is none to drop (no live
    conversation, or an embedded Redis that never saved any); the embedded one of the data dir is started for
    the erasure (or purge) when ``qa serve`` is not running (and stopped after, saving its data without them)."""
    from qa_service.storage.redis import EmbeddedRedis, ensure_redis

    settings = rt.settings
    if not live_conversations:
        yield None
        return
    if settings.redis.url or EmbeddedRedis(settings.data_dir).running():
        yield rt.redis
        return
    if not (settings.data_dir / "redis.rdb").exists():
        yield None
        return
    started = ensure_redis(settings)
    try:
        yield rt.redis
    finally:
        rt.redis.close()
        if started is not None:
            started.stop()


def clear_deleted_bytes(rt, *, what: str, again: str = "") -> None:
    """After a purge or an erasure on SQLite: checkpoint the log into the file and cut it, so the deleted rows
    are nowhere on disk (the file's pages zeroed by ``secure_delete``). Was: they stayed in the log and the
    file until a checkpoint past 4 MiB of log, days on a quiet site, and any copy of the file brought every
    deleted conversation back. ``again``: how to force it by running the command again, when that would."""
    from qa_service.storage import sqlite_writer

    done = sqlite_writer.truncate_log(rt.engine)
    db = rt.engine.url.database
    if done is None:  # PostgreSQL
        console.print(f"PostgreSQL: the {what} rows' bytes stay in the table files until overwritten (VACUUM FULL "
                      "or pg_repack rewrites them), and in WAL archives, replicas and backups until those expire: "
                      "see docs/privacy.md", highlight=False, soft_wrap=True)
    elif done:
        console.print(f"checkpointed: the {what} rows are gone from {db} and its log", highlight=False, soft_wrap=True)
    else:
        err_console.print(f"the {what} rows are still in {db}-wal and, until the log is copied over them, in {db}: "
                          "another process (qa serve, a worker) kept the log busy. The next checkpoint clears them "
                          f"(the API's and workers' own, once the log passes 4 MiB). To force it now: {again}stop "
                          f"qa serve and run: sqlite3 {db} 'PRAGMA wal_checkpoint(TRUNCATE)'", markup=False,
                          soft_wrap=True)

"""How long ``qa db upgrade`` takes on the embedded stack's SQLite file at --size stored conversations.

Fills a SQLite database as ``bench_reads.py --db sqlite`` does (--base real dialogues stored and scored the way
the worker does it, half the flagged ones reviewed; then copied in SQL up to --size conversations, with their
utterances, reports, findings, flags, reviews, verdicts and facts), takes it down to --from with the migrations'
downgrades (timed too), and times the upgrade to the head from a copy of that file, --repeat times. Prints the
rows per table, the file's size, and how much log (``qa.sqlite3-wal``) the upgrade wrote: the
free disk it needs beside the file.

Usage: python scripts/bench_upgrade.py --data ../shared/data [--size 100000] [--from 0016] [--base 500]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from alembic import command

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_reads import DAYS, START, replicate, seed  # noqa: E402
from bench_reads_dialects import Sqlite  # noqa: E402

from qa_service.config import Settings  # noqa: E402
from qa_service.storage.db import alembic_config, create_db_engine, current_revision, upgrade  # noqa: E402

COUNTED = ("transcripts", "utterances", "reports", "findings", "flags", "reviews", "verdicts", "qa_facts")


def _checkpointed(engine) -> None:
    with engine.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--base", type=int, default=500, help="real dialogues scored (then copied)")
    ap.add_argument("--from", dest="start", default="0016", help="the revision the upgrade starts from")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    store = Sqlite(START, DAYS)
    store.fresh()
    seed(store, args.data, args.base, agents=200, teams=10)
    filled = replicate(store, create_db_engine(Settings(data_dir=store.data_dir)), args.size, 200, 10)
    settings = Settings(data_dir=store.data_dir)
    engine = create_db_engine(settings)
    with engine.connect() as c:
        counts = {t: c.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar() for t in COUNTED}
    t0 = time.perf_counter()
    command.downgrade(alembic_config(engine), args.start)
    print(f"{filled:,} conversations; downgrade to {args.start}: {time.perf_counter() - t0:.1f} s", flush=True)
    _checkpointed(engine)
    database = Path(engine.url.database)
    pristine = database.with_name("at-start.sqlite3")
    shutil.copy(database, pristine)
    print("rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items())
          + f"; file {database.stat().st_size / 1e9:.2f} GB", flush=True)
    for k in range(args.repeat):
        shutil.copy(pristine, database)
        engine = create_db_engine(settings)
        assert current_revision(engine) == args.start
        t0 = time.perf_counter()
        done = upgrade(engine)
        took = time.perf_counter() - t0
        wal = Path(f"{database}-wal")
        log_bytes = wal.stat().st_size if wal.exists() else 0  # what the upgrade wrote, before a checkpoint
        _checkpointed(engine)
        print(f"upgrade {k + 1}: {done.headline()} in {took:.1f} s; log {log_bytes / 1e6:.0f} MB, file then "
              f"{database.stat().st_size / 1e9:.2f} GB", flush=True)


if __name__ == "__main__":
    main()

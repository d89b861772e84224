"""The worker's write step alone: what storing a scored chunk costs, and how long it holds SQLite's write lock.

Stores --n real dialogues (jddc_sample, csds, stc3_dch1, cycled with new ids) in a fresh database,
scores them in chunks of --chunk with the default pipeline, then times ``queue.tasks.record_reports``
— what a worker runs after scoring a chunk: reports, findings, flags, facts, rollups, review rows, in
one transaction — chunk by chunk. Prints, per chunk: wall and CPU time of the write; on SQLite the
time from its first write statement to the commit (the database's one write lock is held that long,
and ingest waits behind it); and, as the baseline measured in the same run, the CPU the pipeline spent
scoring the same chunk, with the write's share of it.

Usage: python scripts/bench_write.py --data ../shared/data [--n 1280] [--chunk 64] [--db-url URL]
(PostgreSQL: its public schema is dropped and re-made, so the database's name must contain 'bench',
e.g. postgresql+psycopg://postgres@127.0.0.1:5432/qa_bench.)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import cycled, load_dialogues  # noqa: E402

from sqlalchemy.engine import make_url  # noqa: E402

from qa_service import runtime  # noqa: E402
from qa_service.config import Settings  # noqa: E402


def _stored_ids(rt, records: list[dict], chunk: int) -> list[int]:
    from qa_service.ingest.schema import TranscriptCreate
    from qa_service.ingest.service import store

    ids = []
    for k in range(0, len(records), chunk):
        items = [(i, TranscriptCreate.model_validate(r)) for i, r in enumerate(records[k:k + chunk])]
        with rt.session() as s:
            ids += [o.id for o in store(items, session=s, known=rt.known_ids)]
    return ids


def _first_write_clock(engine) -> list[float | None]:
    """A cell holding the time of the current transaction's first write statement (SQLite's lock from then)."""
    from sqlalchemy import event

    cell: list[float | None] = [None]

    @event.listens_for(engine, "before_cursor_execute")
    def _seen(_conn, _cursor, statement, *_args):
        if cell[0] is None and statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE", "BEGIN"):
            cell[0] = time.perf_counter()

    return cell


def _fresh_postgres(url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--n", type=int, default=1280)
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--db-url", default=None, help="default: SQLite in a temporary folder")
    args = ap.parse_args()
    if args.db_url and "bench" not in (make_url(args.db_url).database or ""):
        ap.error(f"--db-url: database {make_url(args.db_url).database!r} would be wiped; use one named like qa_bench")

    from qa_service.queue.tasks import record_reports
    from qa_service.scoring.pipeline import forget_texts, freeze_heap
    from qa_service.storage import transcripts as repo
    from qa_service.storage.db import upgrade

    if args.db_url:
        _fresh_postgres(args.db_url)
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), **({"db": {"url": args.db_url}} if args.db_url else {}))
    rt = runtime.install(runtime.Runtime(settings))
    upgrade(rt.engine)
    ids = _stored_ids(rt, cycled(load_dialogues(args.data), args.n, f"w{time.time_ns()}"), args.chunk)
    with rt.session() as s:  # load the models and warm up, then forget the texts seen
        rt.pipeline.score_many(repo.load_for_scoring(session=s, ids=ids[:8]))
    forget_texts()
    scored, score_cpu = [], []
    for k in range(0, len(ids), args.chunk):
        with rt.session() as s:
            transcripts = repo.load_for_scoring(session=s, ids=ids[k:k + args.chunk])
        c0 = time.process_time()
        scored.append(dict(zip((t.id for t in transcripts), rt.pipeline.score_many(transcripts))))
        score_cpu.append((time.process_time() - c0) * 1000)
    freeze_heap()  # as the worker does once its pipeline is loaded
    clock = _first_write_clock(rt.engine)
    walls, cpus, held = [], [], []
    for reports in scored:
        clock[0] = None
        w0, c0 = time.perf_counter(), time.process_time()
        with rt.session() as s:
            record_reports(session=s, reports=reports)
        w1, c1 = time.perf_counter(), time.process_time()
        walls.append((w1 - w0) * 1000)
        cpus.append((c1 - c0) * 1000)
        if clock[0] is not None:
            held.append((w1 - clock[0]) * 1000)

    def dist(xs: list[float]) -> str:
        xs = sorted(xs)
        return f"p50 {statistics.median(xs):6.1f}  p90 {xs[int(len(xs) * 0.9)]:6.1f}  mean {statistics.mean(xs):6.1f} ms"

    backend = rt.engine.dialect.name
    print(f"\nqa_service write step — {backend}, {len(ids):,} real dialogues in {len(scored)} chunks of {args.chunk}")
    print(f"write a chunk, wall          {dist(walls)}")
    print(f"write a chunk, CPU           {dist(cpus)}")
    if backend == "sqlite":
        print(f"first write to commit (lock) {dist(held)}")
    print(f"baseline: scoring a chunk, CPU {dist(score_cpu)}")
    print(f"write CPU per transcript {sum(cpus) / len(ids):.3f} ms = {sum(cpus) / sum(score_cpu):.1%} of scoring's "
          f"{sum(score_cpu) / len(ids):.3f} ms")


if __name__ == "__main__":
    main()

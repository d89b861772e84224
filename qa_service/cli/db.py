"""``qa db upgrade``, ``qa purge``."""

from __future__ import annotations

from typing import Annotated

import typer

from qa_service.cli.app import DataDir, app, console, db_app, err_console, runtime_for, settings_for, usable_data_dir
from qa_service.config import masked_url


@db_app.command("upgrade")
def db_upgrade(
    data_dir: DataDir = None,
    revision: Annotated[str, typer.Option(help="Target revision")] = "head",
) -> None:
    """Apply Alembic migrations to the configured database; at this release's newest revision, derive the
    facts and rollups if they never were or were made under other settings (time zone, first-response target)."""
    from qa_service.runtime import Runtime
    from qa_service.storage.db import current_revision, upgrade

    from alembic.util import CommandError

    settings = usable_data_dir(settings_for(data_dir))
    rt = Runtime(settings)
    rt.schema_problem()  # a database a newer release migrated: said as such (ConfigError), nothing changed
    try:
        upgrade(rt.engine, revision)
    except CommandError as exc:  # an unknown revision
        err_console.print(f"--revision {revision!r}: {exc}", markup=False)
        raise typer.Exit(2) from None
    at = current_revision(rt.engine)
    console.print(f"database at {at}: {masked_url(settings.database_url)}", markup=False)
    if revision == "base" or (revision[:1].isalnum() and revision not in ("head", "heads") and at is not None
                              and not at.startswith(revision)):  # upgrade only moves forward
        err_console.print(f"the database stays at {at}: qa db upgrade does not go back to {revision!r}", markup=False)
        rt.close()
        raise typer.Exit(1)
    if rt.schema_problem() is None:  # at head, however it was named (head, heads, the id, +1)
        derived = rt.sync_facts()
        if derived is not None:
            console.print(f"qa_facts derived for {derived} scored transcripts ({rt.derivation.version})")
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
    import re
    from datetime import date, datetime, time as day_time

    from qa_service.storage import retention

    from qa_service.period import EARLIEST, LATEST

    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", before):  # fromisoformat also takes 20261010 and 2026-W43
            raise ValueError
        cutoff_day = date.fromisoformat(before)
        if not EARLIEST <= cutoff_day.year <= LATEST:
            raise ValueError
    except ValueError:
        err_console.print(f"[red]--before {before!r} is not a date[/red] (YYYY-MM-DD, years {EARLIEST}–{LATEST})")
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
    with rt.session() as s:
        retention.purge_rollups(session=s, before=cutoff_day)
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
        kpis = retention.purge_rest(session=s, before=cutoff_day, cutoff=cutoff, keep_kpis=keep_kpis)
    console.print(f"purged {total} transcript(s) and {kpis} KPI record(s) before {cutoff_day}")

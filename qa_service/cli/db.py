"""``qa db upgrade``, ``qa purge``, ``qa rescore``."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.markup import escape

from qa_service.cli.app import (DataDir, app, clear_deleted_bytes, console, db_app, err_console, live_redis,
                                runtime_for, settings_for, usable_data_dir)
from qa_service.config import masked_url


@db_app.command("upgrade")
def db_upgrade(
    data_dir: DataDir = None,
    revision: Annotated[str, typer.Option(help="Target revision")] = "head",
) -> None:
    """Apply Alembic migrations to the configured database; at this release's newest revision, derive the
    facts and rollups if they never were or were made under other settings (time zone, first-response target),
    and those of any scored transcript that has none (stored by a worker of an older release); derive the
    scoring-version rollup again when it disagrees with the facts."""
    from qa_service.runtime import Runtime
    from qa_service.storage.db import upgrade

    from alembic.util import CommandError

    settings = usable_data_dir(settings_for(data_dir))
    rt = Runtime(settings)
    rt.schema_problem()  # a database a newer release migrated: said as such (ConfigError), nothing changed
    try:
        done = upgrade(rt.engine, revision)
    except CommandError as exc:  # an unknown revision
        err_console.print(f"--revision {revision!r}: {exc}", markup=False)
        raise typer.Exit(2) from None
    at = done.after
    # Was: "database at 0013: <url>" whether it applied two migrations or none.
    console.print(done.describe(masked_url(settings.database_url)), markup=False, soft_wrap=True)
    if revision == "base" or (revision[:1].isalnum() and revision not in ("head", "heads") and at is not None
                              and not at.startswith(revision)):  # upgrade only moves forward
        err_console.print(f"the database stays at {at}: qa db upgrade does not go back to {revision!r}", markup=False)
        rt.close()
        raise typer.Exit(1)
    if rt.schema_problem() is None:  # at head, however it was named (head, heads, the id, +1)
        derived = rt.sync_facts()
        if derived is not None:
            console.print(f"qa_facts derived for {derived} scored transcripts ({rt.derivation.version})")
        # every time, not only the first: a worker of a release before the facts (0008) left running after an
        # upgrade stores reports without them, and every figure left those conversations out without a word
        repaired = rt.derive_missing_facts()
        if repaired:
            console.print(f"qa_facts derived for {repaired} scored transcript(s) that had none (their reports were "
                          "stored without them, by a worker of a release before revision 0008?); every figure "
                          "counts them now", markup=False, soft_wrap=True)
        _repair_scoring_versions(rt)
    rt.close()


def _repair_scoring_versions(rt) -> None:
    """Every time as well: a worker of a release before 0015 left running writes facts but no qa_daily_versions,
    and a later re-score takes a count back that was never added (a false mixed-scoring warning, for good)."""
    from qa_service.storage import scoring_versions

    with rt.session() as s:
        drifted = scoring_versions.repair(s)
    if drifted:
        console.print(f"qa_daily_versions derived again from the stored reports: {drifted.describe()} (written by a "
                      "worker of a release before revision 0015?); the mixed-scoring warnings of performance "
                      "records and appraisals read true again", markup=False, soft_wrap=True)


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

    from qa_service.storage import retention, retention_scope

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
    _refuse_a_day_to_come(cutoff_day, settings_for(data_dir).performance.timezone)
    rt = runtime_for(data_dir)
    cutoff = datetime.combine(cutoff_day, day_time(), rt.timezone)  # local midnight
    with rt.session() as s:
        found = retention.count_before(session=s, before=cutoff_day, cutoff=cutoff)
        reach = retention_scope.reach(session=s, before=cutoff_day, cutoff=cutoff)
    kpis_found = 0 if keep_kpis else found.kpi_rows
    console.print(f"before {cutoff_day} ({rt.settings.performance.timezone}): {found.transcripts} transcript(s), "
                  f"{kpis_found} KPI record(s)" + (f"; with them {reach.reviews} review(s), {reach.appeals} appeal(s) "
                                                   f"({reach.open_appeals} open), {reach.alerts} live alert(s)"
                                                   if found.transcripts or reach.alerts else ""),
                  highlight=False, soft_wrap=True)
    anything = bool(found.transcripts or kpis_found or reach.alerts)
    if anything:
        _say_cut_periods(cutoff_day, keep_kpis)
    if dry_run:
        return
    # Nothing to delete (a scheduled run): no question, exit 0, as qa rescore does; still recorded and checkpointed
    if anything and not yes and not typer.confirm("delete them for good?"):
        raise typer.Exit(1)
    with rt.session() as s:
        if anything:  # first: an interrupted purge has made the periods before the day partial all the same
            retention_scope.record_purge(session=s, before=cutoff_day)
        retention.purge_rollups(session=s, before=cutoff_day)
    total, live = 0, []
    while True:
        with rt.session() as s:
            n = (done := retention.purge_batch(session=s, before=cutoff_day, cutoff=cutoff, limit=batch)).transcripts
        total, live = total + n, live + list(done.live)
        if n:
            console.print(f"  {total} deleted", highlight=False)
        if n < batch:
            break
    with rt.session() as s:
        kpis = retention.purge_rest(session=s, before=cutoff_day, cutoff=cutoff, keep_kpis=keep_kpis)
    console.print(f"purged {total} transcript(s) and {kpis} KPI record(s) before {cutoff_day}")
    forgotten = _forget_live(rt, live)
    _record_purge(rt, cutoff_day, cutoff, total=total, kpis=kpis, reach=reach, keep_kpis=keep_kpis,
                  forgotten=forgotten)
    clear_deleted_bytes(rt, what="purged", again="run this qa purge again once that process is idle (it deletes "
                        "nothing more, then checkpoints), or ")


def _say_cut_periods(day, keep_kpis: bool) -> None:
    """Name the periods the cut-off falls inside: their figures and appraisals change, and their KPI records
    (whole periods') stay. Was: the dry run said only how many transcripts would go, and a June appraisal
    already handed to HR changed after a purge to 2 June."""
    from datetime import timedelta

    from qa_service.period import cut_by

    periods = cut_by(day)
    if not periods:
        return
    main = next((p for p in periods if p.label == f"{day.year}-{day.month:02d}"), periods[0])  # the month
    lost = (day - main.start).days
    days = f"its first day ({main.start})" if lost == 1 else \
        f"its first {lost} days ({main.start}..{day - timedelta(days=1)})"
    others = [p.label for p in periods if p is not main]
    console.print(f"the cut-off falls inside {main.label}: it loses {days}, so its figures and appraisal will change"
                  + (f", as will those of {', '.join(others[:-1])}{' and ' if len(others) > 1 else ''}{others[-1]}"
                     if others else "")
                  + ("" if keep_kpis else f"; their KPI records stay (only records lying wholly before {day} go)"),
                  highlight=False, soft_wrap=True)


def _forget_live(rt, live) -> int | None:
    """What Redis keeps of purged conversations that were live (kept a day after their end): dropped, as an
    erasure drops it; Redis not answering is a warning (it expires within the day), not a failed purge.
    Returns how many Redis still kept (None: it did not answer)."""
    import redis

    from qa_service.storage import live as live_repo

    try:
        with live_redis(rt, len(live)) as r:
            kept = live_repo.forget(r, live) if r is not None else 0
    except (redis.RedisError, OSError) as exc:
        err_console.print(f"warning: Redis does not answer ({type(exc).__name__}): what it keeps of {len(live)} purged "
                          "live conversation(s) stays until it expires, within a day", markup=False, soft_wrap=True)
        return None
    if kept:
        console.print(f"removed what Redis kept of {kept} purged live conversation(s)", highlight=False)
    return kept


def _record_purge(rt, day, cutoff, *, total: int, kpis: int, reach, keep_kpis: bool, forgotten: int | None) -> None:
    """The purge in the audit trail (``GET /v1/audit?entity=retention``): who, the day, what went. Was: stdout
    only, so "when was data older than 180 days last deleted" had no answer."""
    from qa_service.performance.audit import cli_actor
    from qa_service.storage import reviews as audit_repo
    from qa_service.storage import retention_scope

    with rt.session() as s:
        horizon = retention_scope.purged_before(session=s)
        audit_repo.add_audit_event(s, actor=cli_actor().name, action="purged", review=None, entity="retention",
                                   entity_id=None, after={
                                       "before": day.isoformat(), "timezone": rt.settings.performance.timezone,
                                       "cutoff": cutoff.isoformat(), "transcripts": total, "kpi_records": kpis,
                                       "keep_kpis": keep_kpis, "reviews": reach.reviews, "appeals": reach.appeals,
                                       "live_alerts": reach.alerts, "live_conversations_forgotten": forgotten,
                                       "purged_before": horizon.isoformat() if horizon else None})


def _current_versions(rt):
    """What a report scored now records (``scoring_versions.Current``), from the rule packs as they are now;
    said first (a pack that does not load: exit 2, nothing marked)."""
    from qa_service.errors import ConfigError, RulePackError
    from qa_service.performance.scoring_mix import version_name
    from qa_service.storage.scoring_versions import Current

    try:
        default, by_scenario = rt.rulebook.recorded_versions()
    except (RulePackError, ConfigError) as exc:
        err_console.print(f"--outdated needs the rule packs as they are now, which do not load: {exc}", markup=False)
        raise typer.Exit(2) from None
    current = sorted(set(by_scenario.values()) | {default}, key=lambda v: tuple(x or "" for x in v))
    console.print("the current rule packs record: " + ", ".join(version_name(*v) for v in current), markup=False,
                  highlight=False)
    return Current(default=default, by_scenario=by_scenario)


def _refuse_a_day_to_come(cutoff_day, timezone: str) -> None:
    """Retention deletes days that are over: ``--before`` today at the latest (everything before today), never
    a day to come, which would take today's conversations, those still waiting to be scored among them (a
    mistyped year wiped a whole database). Exit 2."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo(timezone)).date()
    if cutoff_day > today:
        err_console.print(f"qa purge refuses --before {cutoff_day}: it is after today ({today}, {timezone}), so it "
                          f"would delete today's conversations too, those not yet scored among them; the latest "
                          f"is --before {today} (every day before today). Nothing was deleted.", markup=False,
                          style="red", soft_wrap=True)
        raise typer.Exit(2)


@app.command()
def rescore(
    period: Annotated[Optional[str], typer.Option(help="Conversations of this period: 2026-10, 2026-W43, 2026-Q4 "
                                                       "or 2026-10-01..2026-10-15 (local days)")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every scored conversation, whatever its day")] = False,
    outdated: Annotated[bool, typer.Option("--outdated", help=(
        "Only conversations whose report records another rule pack, pack version or scorecard version than the "
        "current packs would (those scored before an upgrade or a pack edit); alone: of all periods"))] = False,
    team: Annotated[Optional[str], typer.Option(help="Only this team")] = None,
    agent: Annotated[Optional[str], typer.Option(help="Only this agent")] = None,
    source: Annotated[Optional[str], typer.Option(help="Only this source")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be scored again; change nothing")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
    batch: Annotated[int, typer.Option(min=1, max=50_000, help="Transcripts per transaction")] = 5000,
    data_dir: DataDir = None,
) -> None:
    """Score stored conversations again with the rule packs and models as they are now (after a pack was
    fixed, after an upgrade: ``--outdated`` takes only those scored otherwise): their reports, figures and
    appraisals follow; conversations under review or reviewed are left."""
    from qa_service.performance.scoring_mix import version_name
    from qa_service.period import parse_period
    from qa_service.queue.outbox import reconcile
    from qa_service.storage import transcripts as repo

    if (period is None and not (all_ or outdated)) or (period is not None and all_):
        err_console.print("[red]give --period or --all[/red] (which conversations to score again), "
                          "or --outdated (with --period: of that period)")
        raise typer.Exit(2)
    rt = runtime_for(data_dir)
    # --agent: stored as given or folded (text.id_forms): ０００１２６ finds 000126 and what was stored as ０００１２６
    flt = repo.TranscriptFilter(agent_id=agent, team=team, source=source,
                                outdated=_current_versions(rt) if outdated else None)
    scope = "all periods" if period is None else period
    if period is not None:
        try:
            p = parse_period(period)
        except ValueError as exc:
            err_console.print(f"[red]--period:[/red] {escape(str(exc))}")
            raise typer.Exit(2)
        flt.since, flt.until = p.bounds(rt.timezone)
        scope = f"{p.label} ({p.start}..{p.end}, {rt.settings.performance.timezone})"
    with rt.session() as s:  # the primary: a lagging read replica could count none
        unknown = repo.unknown_names(session=s, agent_id=agent, team=team, source=source)
        if unknown:
            err_console.print(f"no conversation at all is filed under {', '.join(unknown)}: mistyped?", markup=False)
            raise typer.Exit(2)
        found, reviewed, waiting = repo.count_rescorable(session=s, flt=flt)
        versions = repo.rescorable_versions(session=s, flt=flt) if outdated and found else []
    if outdated:
        scope += ", scored otherwise than the current rule packs would"
    console.print(f"{scope}: {found} scored transcript(s) to score again" + (
        f"; {reviewed} under review or reviewed keep their scores (a reviewer's verdicts are on their findings)"
        if reviewed else "") + (f"; {waiting} already wait to be scored (an earlier rescore's, or new)"
                                if waiting else ""), highlight=False)
    for pack, version, card, n in versions:  # what they were scored with
        console.print(f"  {n} scored with {version_name(pack, version, card)}", markup=False)
    if dry_run or not found:
        return
    if not yes and not typer.confirm("score them again? (their figures and appraisals change with the new scores)"):
        raise typer.Exit(1)
    marked = 0
    while True:  # a transaction per batch: ingest is not held up behind one long write
        with rt.session() as s:
            ids = repo.mark_for_rescoring(session=s, flt=flt, limit=batch)
        marked += len(ids)
        if len(ids) < batch:
            break
        flt.before_id = ids[-1]
    # the usual grace: with none, a row ingest has just stored as queued, before its job, would look lost
    result = reconcile(settings=rt.settings, sessions=rt.sessions, connection=rt.redis)
    w = rt.settings.worker
    rest = (f"; the workers' reconciler queues the rest as the backlog drains (up to {w.reconcile_batch} every "
            f"{w.reconcile_interval_s:g} s); new conversations are scored first")
    if result.unreachable:
        err_console.print(f"{marked} transcript(s) marked to be scored again; the queue (Redis) does not answer, so "
                          "none is queued yet: the workers' reconciler queues them once it does (or run qa requeue)",
                          markup=False)
        raise typer.Exit(1)
    console.print(f"{marked} transcript(s) marked to be scored again; {len(result.received)} queued now"
                  + (rest if len(result.received) < marked else ""), highlight=False)

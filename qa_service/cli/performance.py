"""Agent performance from the command line: ``qa import-kpis``, ``qa export-appraisals``."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from qa_service.cli.app import DataDir, app, console, err_console, runtime_for


@app.command("import-kpis")
def import_kpis(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV, XLSX, JSON or JSONL of KPI rows")],
    mapping: Annotated[Optional[Path], typer.Option(exists=True, dir_okay=False,
                                                    help="YAML/JSON {their header: canonical field}")] = None,
    api: Annotated[Optional[str], typer.Option(help="POST to this API base URL instead of writing directly")] = None,
    api_key: Annotated[Optional[str], typer.Option(envvar="QA_API_KEY", help="Key for --api (an ingest key)")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace rows already stored whole (fields the file "
                                                            "lacks are cleared) instead of setting the file's fields")] = False,
    sheet: Annotated[Optional[str], typer.Option(help="XLSX: import only this sheet (default: every sheet with an "
                                                      "agent column)")] = None,
    data_dir: DataDir = None,
) -> None:
    """Import operational KPIs per agent and day; bad rows are listed by line, good rows land.

    Exit 0: every row stored; 1: some rows rejected (the rest stored); 2: the file could not be read.
    Re-importing an agent and day sets the fields the file carries and keeps the others (--replace:
    replaces the row whole). An XLSX workbook: every sheet with an agent column (or --sheet NAME).
    """
    from qa_service.performance.kpi import KpiFileError, load_mapping
    from qa_service.performance.kpi_files import read_kpi_file

    try:
        parsed = read_kpi_file(file, load_mapping(mapping) if mapping else None, sheet=sheet)
    except (KpiFileError, OSError) as exc:
        err_console.print(f"[red]cannot import {escape(str(file))}:[/red] {escape(str(exc))}")
        raise typer.Exit(2)
    for note in parsed.notes:
        console.print(note, markup=False)
    if parsed.ignored_columns:
        console.print(f"ignored columns (not KPI fields; map them with --mapping): {escape(', '.join(parsed.ignored_columns))}")
    if api:
        stored, refused = _post(api, api_key, file, parsed, replace)
    else:
        from qa_service.performance.audit import cli_actor, record_import
        from qa_service.performance.service import import_kpis as store_kpis

        rt = runtime_for(data_dir)
        with rt.session() as s:  # the rows and their audit event together
            result = store_kpis(session=s, records=parsed.records, source=file.name, known=rt.known_ids,
                                replace=replace)
            record_import(session=s, actor=cli_actor(), file=file.name, records=parsed.records,
                          inserted=result.inserted, replaced=result.replaced, unchanged=result.unchanged,
                          refused=result.errors, replace=replace,
                          rejected=len({(e.sheet, e.line) for e in [*parsed.errors, *result.errors]}))
        stored = {"inserted": result.inserted, "replaced": result.replaced, "updated_fields": result.updated_fields,
                  "cleared_fields": result.cleared_fields, "unchanged": result.unchanged,
                  "warnings": result.notes.warnings}
        refused = result.errors
    errors = parsed.in_order([*parsed.errors, *refused])
    rejected = len({(e.sheet, e.line) for e in errors})
    console.print(f"{escape(str(file))}: {stored['inserted']} new, {stored['replaced']} replaced, {rejected} rejected "
                  f"(columns: {', '.join(f'{h}→{f}' for h, f in parsed.columns.items())})", markup=False)
    if stored.get("updated_fields"):
        kept = "; the other fields kept as stored" if not replace else ""
        console.print(f"replaced rows: updated fields {', '.join(stored['updated_fields'])}{kept}", markup=False)
    if stored.get("unchanged"):
        console.print(f"replaced rows: {stored['unchanged']} unchanged (the same figures as stored)", markup=False)
    if stored.get("cleared_fields"):
        console.print(f"replaced rows: cleared fields {', '.join(stored['cleared_fields'])} (--replace)", markup=False)
    for warning in stored.get("warnings") or ():
        err_console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    for e in errors[:50]:
        err_console.print(f"  {e}", markup=False)
    if len(errors) > 50:
        err_console.print(f"  … and {len(errors) - 50} more")
    if errors:
        raise typer.Exit(1)


def _post(api: str, api_key: str | None, file: Path, parsed, replace: bool) -> tuple[dict, list]:
    """POST the parsed records to ``/v1/kpis``: (counts stored, rows the server refused, by file line)."""
    import httpx

    from qa_service.performance.kpi import RowError

    payload = {"records": [_record_json(r) for r in parsed.records], "source": file.name}
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        resp = httpx.post(f"{api.rstrip('/')}/v1/kpis", json=payload, headers=headers, timeout=300,
                          params={"replace": "true"} if replace else None) if parsed.records else None
    except httpx.HTTPError as exc:  # unreachable, not a URL
        err_console.print(f"[red]cannot reach --api {escape(api)}:[/red] {escape(str(exc) or type(exc).__name__)}")
        raise typer.Exit(2) from None
    if resp is None:
        return {"inserted": 0, "replaced": 0}, []
    body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else None
    # The server numbers the records it was sent; the file's lines are what the user can find.
    if resp.status_code == 200:
        return body, [RowError(parsed.records[e["line"] - 1].line, e["field"], e["problem"], e.get("value"),
                               parsed.records[e["line"] - 1].sheet) for e in body.get("errors", ())]
    rows = [d for d in (body or {}).get("detail", ()) if isinstance(d, dict) and len(d.get("loc", ())) == 4
            and isinstance(d["loc"][2], int)] if resp.status_code == 422 else []
    if not rows:
        err_console.print(f"[red]{resp.status_code}[/red] {escape(resp.text[:500])}")
        raise typer.Exit(1)
    return {"inserted": 0, "replaced": 0}, [RowError(parsed.records[d["loc"][2] - 1].line, d["loc"][3], d["msg"],
                                                      d.get("input"), parsed.records[d["loc"][2] - 1].sheet)
                                            for d in rows]


def _record_json(r) -> dict:
    key = {"date": r.date_from.isoformat()} if r.date_from == r.date_to else \
        {"period": f"{r.date_from.isoformat()}..{r.date_to.isoformat()}"}
    return {"agent_id": r.agent_id, **key, **({"team": r.team} if r.team else {}), **r.values}


@app.command("delete-kpis")
def delete_kpis(
    agent: Annotated[str, typer.Option(help="The agent whose KPI rows to delete")],
    period: Annotated[Optional[str], typer.Option(help="Rows lying wholly inside this period: 2026-10, 2026-W43, "
                                                       "2026-Q4 or 2026-10-01..2026-10-15")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every KPI row of the agent, whatever its days")] = False,
    team: Annotated[Optional[str], typer.Option(help="Only rows filed under this team")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count the rows; delete nothing")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
    data_dir: DataDir = None,
) -> None:
    """Delete an agent's KPI rows (a typo'd agent id, a wrong row): counted first, then deleted.

    Exit 0: deleted (or nothing matched in the period); 1: not confirmed; 2: no --period or --all, a bad
    period, or an agent with no KPI row at all (mistyped?).
    """
    from qa_service.performance.audit import cli_actor
    from qa_service.performance.kpi_checks import agent_has_kpis
    from qa_service.performance.kpi_checks import delete_kpis as delete
    from qa_service.period import parse_period

    agent = agent.strip()  # rows stored as given or folded match (text.id_forms): ０００１２６ and 000126

    if (period is None) == (not all_):
        err_console.print("[red]give --period or --all[/red] (which of the agent's KPI rows to delete)")
        raise typer.Exit(2)
    try:
        p = parse_period(period) if period is not None else None
    except ValueError as exc:
        err_console.print(f"[red]--period:[/red] {escape(str(exc))}")
        raise typer.Exit(2)
    scope = (f"in {p.label} ({p.start}..{p.end})" if p else "in any period") + (f" filed under team {team}"
                                                                                   if team else "")
    rt = runtime_for(data_dir)
    with rt.session() as s:
        if not agent_has_kpis(session=s, agent_id=agent):
            err_console.print(f"no KPI row at all is stored for agent {agent}: mistyped?", markup=False)
            raise typer.Exit(2)
        found = delete(session=s, agent_id=agent, period=p, team=team, dry_run=True).matched
    console.print(f"agent {agent}: {found} KPI row(s) {scope}", markup=False, highlight=False)
    if dry_run or not found:
        return
    if not yes and not typer.confirm(f"delete them? (the agent's figures and appraisals {scope} change)"):
        raise typer.Exit(1)
    with rt.session() as s:
        out = delete(session=s, agent_id=agent, period=p, team=team, actor=cli_actor())
    console.print(f"deleted {out.deleted} KPI row(s) of agent {agent} {scope}", markup=False, highlight=False)


class ExportFormat(str, Enum):
    xlsx = "xlsx"
    csv = "csv"
    json = "json"


@app.command("export-appraisals")
def export_appraisals(
    period: Annotated[str, typer.Option(help="2026-10, 2026-W43, 2026-Q4 or 2026-10-01..2026-10-15")],
    format: Annotated[Optional[ExportFormat], typer.Option(
        "--format", help="xlsx, csv or json (default: from --output's suffix, else xlsx)")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="File to write (default: "
                                                   "appraisal-<period>[-<team>].xlsx here; csv/json to stdout)")] = None,
    scheme: Annotated[Optional[str], typer.Option(help="Scheme for every agent (default: by team)")] = None,
    team: Annotated[Optional[str], typer.Option(help="Only this team")] = None,
    scores: Annotated[str, typer.Option(help="machine (every scored transcript) or final (reviewed ones, after "
                                             "review and appeals)")] = "machine",
    data_dir: DataDir = None,
) -> None:
    """Appraisals for a period: every metric's value, attainment, points, total, grade and rank in team."""
    from qa_service.errors import Invalid, RulePackError
    from qa_service.performance.audit import cli_actor, record_export
    from qa_service.performance.service import export_appraisals as export
    from qa_service.performance.service import unknown_team
    from qa_service.period import parse_period

    try:
        p = parse_period(period)
    except ValueError as exc:
        err_console.print(f"[red]--period:[/red] {escape(str(exc))}")
        raise typer.Exit(2)
    if format is None:  # out.csv used to get XLSX bytes
        suffix = output.suffix.lower().lstrip(".") if output is not None else ""
        format = ExportFormat(suffix) if suffix in ("csv", "json") else ExportFormat.xlsx
    if output is not None and (output.is_dir() or not output.name):
        err_console.print(f"[red]--output:[/red] {escape(str(output))} is a folder; give a file name")
        raise typer.Exit(2)
    if scores not in ("machine", "final"):
        err_console.print(f"[red]--scores:[/red] {scores!r} is neither machine nor final")
        raise typer.Exit(2)
    rt = runtime_for(data_dir)
    try:
        with rt.read_sessions() as s:
            unknown = unknown_team(session=s, team=team)
            if unknown:  # was: exit 0 and "the export has no rows"
                err_console.print(f"qa export-appraisals: --team: {unknown}", markup=False, soft_wrap=True)
                raise typer.Exit(2)
            out = export(session=s, settings=rt.settings, schemes=rt.schemes.get(), period=p, fmt=format.value,
                         scheme=scheme, team=team, final=scores == "final")
    except (RulePackError, Invalid) as exc:
        err_console.print(f"[red]cannot appraise:[/red] {escape(str(exc))}")
        raise typer.Exit(2)
    data = out.content
    for warning in out.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    if out.rows == 0:  # a mistyped --team or an empty period: say so, whatever is written
        err_console.print(f"no agent has KPIs or scored conversations in {p.label}"
                          + (f" in team {team!r}" if team else "") + "; the export has no rows", markup=False)
    if output is None and format is ExportFormat.xlsx:
        output = Path(out.filename)  # appraisal-<period>[-<team>].xlsx, as the API names it
    if output is None:
        sys.stdout.write(data if isinstance(data, str) else data.decode())
    else:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        except OSError as exc:
            err_console.print(f"[red]cannot write --output:[/red] {escape(str(exc))}")
            raise typer.Exit(2)
        err_console.print(f"{out.rows} agent(s), period {p.label} ({p.start}..{p.end}) → {output}")
    unrecorded = record_export(runtime=rt, actor=cli_actor(), period=p, team=team, fmt=format.value, rows=out.rows,
                               scheme=scheme, scores=scores)
    if unrecorded:  # the file is written and stands; the trail lacks it
        err_console.print(f"[yellow]warning:[/yellow] the export is not recorded in the audit trail: {escape(unrecorded)}")

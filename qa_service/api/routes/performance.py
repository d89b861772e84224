"""/v1/kpis, /v1/performance, /v1/appraisals: operational KPIs in, performance records and appraisals out."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError

from qa_service.api import presenters
from qa_service.api.auth import Ingest, PerformanceRead, Principal, scope_team
from qa_service.api.deps import AgentQuery, ReadSessionDep, RuntimeDep, SessionDep, SettingsDep, period_param
from qa_service.api.schemas import KpiDeleted, KpiImportRead, KpiRead, KpiRowError
from qa_service.errors import RulePackError
from qa_service.performance import audit, horizon, kpi_checks, scoring_mix, service
from qa_service.performance.kpi import KPI_FIELDS, KpiFileError, mapping_problem, parse_records
from qa_service.performance.kpi_files import OLE_MAGIC, XLSX_TYPES, ZIP_MAGIC, read_kpi_bytes
from qa_service.period import FORMATS
from qa_service.rules.scheme import scheme_dict
from qa_service.storage import kpis as kpi_repo
from qa_service.text import fold_id, fold_id_or_none

router = APIRouter(tags=["performance"])
MAX_KPI_RECORDS = 100_000

PeriodQuery = Annotated[str, Query(description=f"Reporting period: {FORMATS}", examples=["2026-10"])]
ScoresQuery = Annotated[Literal["machine", "final"], Query(
    description="machine: every scored transcript's machine score; final: only reviewed transcripts, with the "
                "final score after review and appeals")]


def content_disposition(filename: str) -> str:
    """An attachment header every client reads: an ASCII ``filename`` (other characters as ``_``) and, when the
    name is not plain ASCII, the exact one as RFC 5987 ``filename*`` (a Chinese team name)."""
    plain = re.sub(r'[^A-Za-z0-9._-]', "_", filename)
    return f'attachment; filename="{plain}"' + (f"; filename*=UTF-8''{quote(filename, safe='')}"
                                                 if plain != filename else "")


def _invalid(loc: list, msg: str) -> RequestValidationError:
    return RequestValidationError([{"loc": loc, "type": "value_error", "msg": msg}])


@router.post(
    "/v1/kpis",
    response_model=KpiImportRead,
    responses={422: {"description": "Nothing could be stored: every row is bad, or the columns are unusable"}},
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "object", "properties": {
            "records": {"type": "array", "items": {"type": "object"}},
            "mapping": {"type": "object", "additionalProperties": {"type": "string"}},
            "source": {"type": "string"}}, "required": ["records"]}},
        "text/csv": {"schema": {"type": "string"}},
        XLSX_TYPES[0]: {"schema": {"type": "string", "format": "binary"}},
    }}},
    tags=["performance"],
)
async def import_kpis(request: Request, runtime: RuntimeDep, principal: Ingest, replace: Annotated[bool, Query(
        description="Replace records already stored whole (fields a row lacks are cleared) instead of setting only "
                    "the fields it carries")] = False,
        sheet: Annotated[str | None, Query(description="XLSX body: import only this sheet")] = None) -> KpiImportRead:
    """Store KPI records (JSON ``{"records": [...]}``, a CSV body or an XLSX body); good rows land, bad rows
    are listed. A CSV body is read in its declared charset (``text/csv; charset=gbk``), else UTF-8 or GB18030.

    Canonical fields: ``agent_id``, ``date`` (or ``period``), ``team`` and the KPI counts
    (see ``qa_service/performance/kpi.py``); Chinese headers (坐席工号, 日期, 接待量, 满意度…) work too.
    An agent and day already stored is updated, never added to: the fields a row carries are set and the
    others kept (``replace=true``: the record is replaced whole). A row sharing days with a stored row of
    the same agent over other days (a month next to its days) is a row error, and changes nothing.
    """
    body = await request.body()
    ctype, _, params = request.headers.get("content-type", "").partition(";")
    ctype = ctype.strip().lower()
    charset = next((v.strip() for k, _, v in (p.partition("=") for p in params.split(";"))
                    if k.strip().lower() == "charset"), None)
    is_xlsx = body.startswith(ZIP_MAGIC) or ctype in XLSX_TYPES
    is_csv = ctype in ("text/csv", "text/plain", "application/csv", "text/tab-separated-values",
                       "application/vnd.ms-excel") or is_xlsx \
        or body.startswith(OLE_MAGIC)
    source = request.query_params.get("source")
    try:
        if is_csv:  # the same reading as qa import-kpis: XLSX by its signature, text in its charset
            parsed = await run_in_threadpool(read_kpi_bytes, body, ".csv", charset=charset, sheet=sheet)
        else:
            try:
                text = body.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise _invalid(["body"], f"request body is not valid UTF-8, as JSON must be (byte at position {exc.start}); "
                                         "send a CSV body with Content-Type: text/csv; charset=gbk, or an "
                                         "XLSX body") from None
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise _invalid(["body"], f"not JSON ({exc.msg} at line {exc.lineno}); send "
                                         '{"records": [...]} or a CSV body with Content-Type: text/csv') from None
            if isinstance(data, list):
                data = {"records": data}
            if not isinstance(data, dict) or not isinstance(data.get("records"), list):
                raise _invalid(["body", "records"], 'send {"records": [{"agent_id": ..., "date": ..., ...}]}')
            unknown = set(data) - {"records", "mapping", "source"}
            if unknown:
                raise _invalid(["body", sorted(unknown)[0]], "unknown key; the body has records, mapping, source")
            mapping = data.get("mapping")
            if mapping is not None and not (isinstance(mapping, dict)
                                            and all(isinstance(v, str) for v in mapping.values())):
                raise _invalid(["body", "mapping"], "a mapping is {\"their header\": \"canonical_field\"}")
            if mapping is not None and (problem := mapping_problem(mapping)):
                raise _invalid(["body", "mapping"], problem)
            if len(data["records"]) > MAX_KPI_RECORDS:
                raise _invalid(["body", "records"], f"{len(data['records'])} records; the limit is {MAX_KPI_RECORDS} "
                                                    "per request")
            if not data["records"]:
                raise _invalid(["body", "records"], "no records; send at least one")
            source = source or (data.get("source") if isinstance(data.get("source"), str) else None)
            parsed = parse_records(data["records"], mapping, label="record")  # line: position, first = 1
    except KpiFileError as exc:
        raise _invalid(["body"], str(exc)) from None
    result = await run_in_threadpool(_store_kpis, runtime, parsed, source or "api", replace, _actor(principal))
    errors = parsed.in_order([*parsed.errors, *result.errors])
    if errors and not (result.inserted or result.replaced):
        raise RequestValidationError([
            # loc: a CSV body's line (header = 1); an XLSX body's sheet (in a workbook of several) and row;
            # a JSON body's index in records (line - 1: first = 0)
            {"loc": ["body", "xlsx", *([e.sheet] if e.sheet else []), e.line, e.field] if is_xlsx else
             ["body", "csv", e.line, e.field] if is_csv else ["body", "records", e.line - 1, e.field],
             "type": "value_error",
             "msg": e.problem, "input": e.value} for e in errors[:200]])
    return KpiImportRead(inserted=result.inserted, replaced=result.replaced,
                         rejected=len({(e.sheet, e.line) for e in errors}), notes=parsed.notes,
                         errors=[KpiRowError(**e.as_dict()) for e in errors],
                         columns=parsed.columns, ignored_columns=parsed.ignored_columns,
                         updated_fields=result.updated_fields, cleared_fields=result.cleared_fields,
                         unchanged=result.unchanged, unknown_agents=result.notes.unknown_agents,
                         unknown_teams=result.notes.unknown_teams, warnings=result.notes.warnings)


def _actor(principal: Principal) -> audit.Actor:
    """Who the audit trail names: the key (its name and id), or ``anonymous`` with access control off."""
    return audit.Actor(principal.name or "anonymous", principal.key_id)


def _store_kpis(runtime, parsed, source: str, replace: bool, actor: audit.Actor) -> service.KpiImport:
    """Store the rows and write the import to the audit trail, in one transaction."""
    with runtime.session() as session:
        result = service.import_kpis(session=session, records=parsed.records, source=source,
                                     known=runtime.known_ids, replace=replace)
        audit.record_import(session=session, actor=actor, file=source, records=parsed.records,
                            inserted=result.inserted, replaced=result.replaced, unchanged=result.unchanged,
                            refused=result.errors, replace=replace,
                            rejected=len({(e.sheet, e.line) for e in [*parsed.errors, *result.errors]}))
        return result


@router.delete("/v1/kpis", response_model=KpiDeleted)
def delete_kpis(
    runtime: RuntimeDep, principal: Ingest,
    agent_id: Annotated[str | None, Query(description=(
        "The agent whose records to delete (required): rows stored under the id as sent and under its "
        "half-width form"))] = None,
    period: Annotated[str | None, Query(description=f"Records lying wholly inside this period: {FORMATS}")] = None,
    all_: Annotated[bool, Query(alias="all", description="Every record of the agent, whatever its days (instead of period)")] = False,
    team: Annotated[str | None, Query(description="Only records filed under this team")] = None,
    dry_run: Annotated[bool, Query(description="Count the matching records; delete nothing")] = False,
) -> KpiDeleted:
    """Delete an agent's KPI records (a typo'd agent id, a wrong row): those lying wholly inside ``period``, or
    every one with ``all=true``; counted first. A team-scoped key deletes only its team's records."""
    if not agent_id or not agent_id.strip():
        raise _invalid(["query", "agent_id"], "is required: the agent whose KPI records to delete")
    if (period is None) == (not all_):
        raise _invalid(["query", "period"], "give period=… or all=true (which of the agent's records to delete), "
                                            "not both")
    p = period_param(period) if period is not None else None
    team = scope_team(principal, team)
    with runtime.session() as session:
        out = kpi_checks.delete_kpis(session=session, agent_id=agent_id, period=p, team=team, dry_run=dry_run,
                                     actor=_actor(principal))
    return KpiDeleted(agent_id=fold_id(agent_id), period=p.label if p else None, team=team, matched=out.matched,
                      deleted=out.deleted, dry_run=dry_run)


@router.get("/v1/kpis", response_model=list[KpiRead])
def list_kpis(session: SessionDep, period: PeriodQuery, principal: PerformanceRead, agent_id: AgentQuery = None,
              team: str | None = None) -> list[KpiRead]:
    """The imported KPI records lying inside the period."""
    p = period_param(period)
    rows = kpi_repo.list_in_range(session=session, start=p.start, end=p.end, agent_id=agent_id,
                                  team=scope_team(principal, team))
    return [presenters.kpi_read(r, tuple(KPI_FIELDS)) for r in rows]


@router.get("/v1/performance")
def performance(session: ReadSessionDep, settings: SettingsDep, period: PeriodQuery, principal: PerformanceRead,
                agent_id: AgentQuery = None, team: str | None = None, scores: ScoresQuery = "machine"
                ) -> dict[str, Any]:
    """Per-agent and per-team records: KPI figures (ratios of sums) next to QA figures with sample sizes.
    ``warnings``: what may make the figures misleading, e.g. reports of the period made by more than one
    scoring version (rule pack or scorecard: stored reports keep the scoring they were made with)."""
    p = period_param(period)
    team = scope_team(principal, team)
    agents, teams = service.records(session=session, settings=settings, period=p, agent_id=agent_id,
                                    team=team, final=scores == "final")
    unknown = service.unknown_team(session=session, team=team, scoped=principal.team is not None)
    return {"period": p.label, "from": p.start.isoformat(), "to": p.end.isoformat(), "scores": scores,
            "warnings": [*([unknown] if unknown else []),
                         *scoring_mix.warnings(session=session, period=p, team=team),
                         *horizon.warnings(session=session, period=p)],
            "kpi_rows_outside": service.kpi_rows_outside(session=session, period=p, team=team, agent_id=agent_id,
                                                         final=scores == "final"),
            "agents": [r.as_dict() for r in agents], "teams": [r.as_dict() for r in teams]}


@router.get("/v1/appraisal-schemes")
def list_schemes(runtime: RuntimeDep, _principal: PerformanceRead) -> list[dict[str, Any]]:
    """The loaded appraisal schemes (metrics, weights, thresholds, grades)."""
    return [scheme_dict(s) for _, s in sorted(runtime.schemes.get().items())]


@router.get("/v1/appraisals", responses={200: {"content": {
    "application/json": {}, "text/csv": {},
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}})
def appraisals(
    runtime: RuntimeDep, session: ReadSessionDep, period: PeriodQuery, principal: PerformanceRead,
    scheme: Annotated[str | None, Query(description="Scheme for every agent (default: by team, else the default)")] = None,
    team: str | None = None, agent_id: AgentQuery = None,
    format: Annotated[Literal["json", "csv", "xlsx"], Query(description="json, csv or xlsx")] = "json",
    scores: ScoresQuery = "machine",
) -> Response:
    """One row per agent: every metric's value, attainment, points, total, grade, rank in team, samples."""
    p = period_param(period)
    try:
        schemes = runtime.schemes.get()
    except RulePackError as exc:
        return Response(json.dumps({"detail": f"appraisal schemes are invalid: {exc}"}, ensure_ascii=False),
                        status_code=500, media_type="application/json")
    team = scope_team(principal, team)
    out = service.export_appraisals(session=session, settings=runtime.settings, schemes=schemes, period=p,
                                    fmt=format, scheme=scheme, team=team, agent_id=agent_id,
                                    final=scores == "final", scoped=principal.team is not None)
    audit.record_export(runtime=runtime, actor=_actor(principal), period=p, team=team, fmt=format, rows=out.rows,
                        scheme=scheme, scores=scores, agent_id=fold_id_or_none(agent_id),
                        read=session)  # a failure is logged, no 500
    headers = {"Content-Disposition": content_disposition(out.filename)} if format != "json" else None
    return Response(out.content, media_type=out.media_type, headers=headers)

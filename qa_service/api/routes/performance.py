"""/v1/kpis, /v1/performance, /v1/appraisals: operational KPIs in, performance records and appraisals out."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from qa_service.api.auth import Ingest, PerformanceRead, scope_team
from qa_service.api.deps import SessionDep, SessionsDep, SettingsDep
from qa_service.errors import RulePackError
from qa_service.performance import export
from qa_service.performance.appraisal import appraisal_rows
from qa_service.performance.kpi import KPI_FIELDS, KpiFileError, parse_csv_text, parse_records
from qa_service.performance.period import FORMATS, Period, parse_period
from qa_service.performance.scheme import AppraisalScheme, SchemeBook, default_schemes_dir, scheme_dict
from qa_service.storage import kpis as kpi_repo
from qa_service.storage import performance as perf_repo
from qa_service.storage.db import session_scope

router = APIRouter(tags=["performance"])
MAX_KPI_RECORDS = 100_000

PeriodQuery = Annotated[str, Query(description=f"Reporting period: {FORMATS}", examples=["2026-10"])]
ScoresQuery = Annotated[Literal["machine", "final"], Query(
    description="machine: every scored transcript's machine score; final: only reviewed transcripts, with the "
                "final score after review and appeals")]


class KpiRowError(BaseModel):
    line: int = Field(description="CSV line (header = 1) or the record's position (first = 1)")
    field: str
    problem: str
    value: str | None = None


class KpiImportRead(BaseModel):
    inserted: int
    replaced: int = Field(description="Records for an agent and days already stored, replaced whole")
    rejected: int
    errors: list[KpiRowError]
    columns: dict[str, str] = Field(description="Header or key in the input → the field it was read as")
    ignored_columns: list[str]


def _period(text: str) -> Period:
    try:
        return parse_period(text)
    except ValueError as exc:
        raise RequestValidationError([{"loc": ["query", "period"], "type": "value_error", "msg": str(exc)}]) from None


def _invalid(loc: list, msg: str) -> RequestValidationError:
    return RequestValidationError([{"loc": loc, "type": "value_error", "msg": msg}])


def _schemes(request: Request) -> dict[str, AppraisalScheme]:
    book: SchemeBook | None = getattr(request.app.state, "schemes", None)
    if book is None:
        book = request.app.state.schemes = SchemeBook(default_schemes_dir(request.app.state.settings))
    return book.get()


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
    }}},
    tags=["performance"],
)
async def import_kpis(request: Request, settings: SettingsDep, sessions: SessionsDep, _principal: Ingest
                      ) -> KpiImportRead:
    """Store KPI records (JSON ``{"records": [...]}`` or a CSV body); good rows land, bad rows are listed.

    Canonical fields: ``agent_id``, ``date`` (or ``period``), ``team`` and the KPI counts
    (see ``qa_service/performance/kpi.py``); Chinese headers (坐席工号, 日期, 接待量, 满意度…) work too.
    An agent and day already stored is replaced, never added to.
    """
    body = await request.body()
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    source = request.query_params.get("source")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _invalid(["body"], f"request body is not valid UTF-8 (byte at position {exc.start})") from None
    try:
        if ctype in ("text/csv", "text/plain", "application/csv"):
            parsed = parse_csv_text(text)
        else:
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
            if len(data["records"]) > MAX_KPI_RECORDS:
                raise _invalid(["body", "records"], f"{len(data['records'])} records; the limit is {MAX_KPI_RECORDS} "
                                                    "per request")
            if not data["records"]:
                raise _invalid(["body", "records"], "no records; send at least one")
            source = source or (data.get("source") if isinstance(data.get("source"), str) else None)
            parsed = parse_records(data["records"], mapping)
    except KpiFileError as exc:
        raise _invalid(["body"], str(exc)) from None
    if parsed.errors and not parsed.records:
        raise RequestValidationError([
            {"loc": ["body", "records" if ctype != "text/csv" else "csv", e.line, e.field], "type": "value_error",
             "msg": e.problem, "input": e.value} for e in parsed.errors[:200]])
    with session_scope(sessions) as s:
        result = kpi_repo.upsert_many(session=s, records=parsed.records, source=source or "api")
    return KpiImportRead(inserted=result.inserted, replaced=result.replaced, rejected=len({e.line for e in parsed.errors}),
                         errors=[KpiRowError(**e.as_dict()) for e in parsed.errors],
                         columns=parsed.columns, ignored_columns=parsed.ignored_columns)


class KpiRead(BaseModel):
    agent_id: str
    team: str | None
    date_from: str
    date_to: str
    values: dict[str, float | int]
    source: str | None


@router.get("/v1/kpis", response_model=list[KpiRead])
def list_kpis(session: SessionDep, period: PeriodQuery, principal: PerformanceRead, agent_id: str | None = None,
              team: str | None = None) -> list[KpiRead]:
    """The imported KPI records lying inside the period."""
    p = _period(period)
    team = scope_team(principal, team)
    rows = kpi_repo.list_in_range(session=session, start=p.start, end=p.end, agent_id=agent_id, team=team)
    return [KpiRead(agent_id=r.agent_id, team=r.team_id, date_from=r.date_from.isoformat(),
                    date_to=r.date_to.isoformat(), source=r.source,
                    values={f: getattr(r, f) for f in KPI_FIELDS if getattr(r, f) is not None}) for r in rows]


@router.get("/v1/performance")
def performance(session: SessionDep, settings: SettingsDep, period: PeriodQuery, principal: PerformanceRead,
                agent_id: str | None = None, team: str | None = None, scores: ScoresQuery = "machine"
                ) -> dict[str, Any]:
    """Per-agent and per-team records: KPI figures (ratios of sums) next to QA figures with sample sizes."""
    p = _period(period)
    team = scope_team(principal, team)
    agents, teams = perf_repo.records_for(session=session, settings=settings, period=p, agent_id=agent_id, team=team,
                                          final=scores == "final")
    return {"period": p.label, "from": p.start.isoformat(), "to": p.end.isoformat(), "scores": scores,
            "kpi_rows_outside": perf_repo.overlapping_kpi_rows(session=session, period=p),
            "agents": [r.as_dict() for r in agents], "teams": [r.as_dict() for r in teams]}


@router.get("/v1/appraisal-schemes")
def list_schemes(request: Request, _principal: PerformanceRead) -> list[dict[str, Any]]:
    """The loaded appraisal schemes (metrics, weights, thresholds, grades)."""
    return [scheme_dict(s) for _, s in sorted(_schemes(request).items())]


@router.get("/v1/appraisals", responses={200: {"content": {
    "application/json": {}, "text/csv": {},
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}})
def appraisals(
    request: Request, session: SessionDep, settings: SettingsDep, period: PeriodQuery, principal: PerformanceRead,
    scheme: Annotated[str | None, Query(description="Scheme for every agent (default: by team, else the default)")] = None,
    team: str | None = None, agent_id: str | None = None,
    format: Annotated[Literal["json", "csv", "xlsx"], Query(description="json, csv or xlsx")] = "json",
    scores: ScoresQuery = "machine",
) -> Response:
    """One row per agent: every metric's value, attainment, points, total, grade, rank in team, samples."""
    p = _period(period)
    team = scope_team(principal, team)
    try:
        schemes = _schemes(request)
    except RulePackError as exc:
        return Response(json.dumps({"detail": f"appraisal schemes are invalid: {exc}"}, ensure_ascii=False),
                        status_code=500, media_type="application/json")
    if scheme and scheme not in schemes:
        raise _invalid(["query", "scheme"], f"no scheme {scheme!r}; loaded: {', '.join(sorted(schemes))}")
    agents, _ = perf_repo.records_for(session=session, settings=settings, period=p, team=team,
                                      final=scores == "final")
    rows = appraisal_rows(agents, schemes, scheme)
    if agent_id:
        rows = [r for r in rows if r["agent_id"] == agent_id]
    name = f"appraisal-{p.label.replace('..', '_')}"
    if format == "csv":
        return Response(export.to_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if format == "xlsx":
        return Response(export.to_xlsx(rows, p, schemes),
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    return Response(export.to_json(rows, p, schemes), media_type="application/json")

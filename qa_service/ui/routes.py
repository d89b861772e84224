"""/ui/: dashboards, the review queue, a transcript with its evidence, appeals, calibration.

Pages are rendered on the server from the same repositories and API shapes the JSON routes use
(Jinja2 escapes everything by default: transcript text is user content); the buttons call the JSON
API. plotly.js is served from the installed ``plotly`` package (nothing from the internet).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from qa_service.api.auth import SESSION_COOKIE, Dashboard, QARead, ReviewWrite, check_team, scope_team
from qa_service.api.deps import SessionDep, SessionsDep, SettingsDep
from qa_service.api.routes import reviews as review_api
from qa_service.api.routes.transcripts import transcript_read
from qa_service.errors import AccessDenied
from qa_service.performance.period import parse_period
from qa_service.storage import keys as key_repo
from qa_service.storage import dashboard as dash_repo
from qa_service.storage import reviews as repo
from qa_service.storage import transcripts as transcript_repo
from qa_service.storage.db import session_scope
from qa_service.storage.keys import Principal
from qa_service.ui import labels
from qa_service.ui.highlight import Mark, segments

HERE = Path(__file__).parent
router = APIRouter(prefix="/ui", include_in_schema=False)
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals.update(
    label=labels.label, dim_labels=labels.DIMENSIONS, reasons_all=labels.REASONS, statuses=labels.STATUS,
    severities=labels.SEVERITY, roles=labels.ROLES, verdicts=labels.VERDICTS, appeal_status=labels.APPEALS,
    access_roles=labels.ACCESS_ROLES,
)


def _local(value: datetime | None, tz: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) time in the site's QA_PERFORMANCE__TIMEZONE."""
    return value.astimezone(ZoneInfo(tz)).strftime(fmt) if value else "—"


templates.env.filters["local"] = _local
STATIC = {"ui.css": (HERE / "static" / "ui.css", "text/css"), "ui.js": (HERE / "static" / "ui.js", "text/javascript")}


def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    if name == "plotly.min.js":
        return FileResponse(_plotly_js(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})
    if name not in STATIC:
        raise HTTPException(404, f"no static file {name!r}")
    path, media = STATIC[name]
    return FileResponse(path, media_type=media, headers={"Cache-Control": "no-cache"})


def _counts(session) -> dict[str, int]:
    c = repo.counts(session=session)
    return {"open": c.get("queued", 0) + c.get("in_review", 0), "appeals_open": c.get("appeals_open", 0)}


def _page(request: Request, name: str, page: str, session, me: Principal, **context: Any) -> HTMLResponse:
    settings = request.app.state.settings
    counts = _counts(session) if me.team is None else None  # queue-wide counts are not a scoped key's to see
    return templates.TemplateResponse(request, name, {
        "page": page, "counts": counts, "tz": settings.performance.timezone, "me": me,
        "auth": settings.auth_enforced, **context})


def _blank(value: str | None) -> str | None:
    return value if value not in (None, "") else None


def _number(value: str | None, field: str) -> float | None:
    if _blank(value) is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise HTTPException(422, f"{field}: {value!r} is not a number") from None


@router.get("", include_in_schema=False)
def ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/")


@router.get("/", response_class=HTMLResponse)
def dashboard_page(request: Request, session: SessionDep, settings: SettingsDep, me: Dashboard,
                   period: str | None = None, team: str | None = None, agent_id: str | None = None) -> HTMLResponse:
    """看板: team trend, agents compared, an agent's radar, frequent findings."""
    tz = ZoneInfo(settings.performance.timezone)
    period, team, agent_id = _blank(period), scope_team(me, _blank(team)), _blank(agent_id)
    label = period or dash_repo.latest_month(session=session, tz=tz)
    data, error = None, None
    if label:
        try:
            data = dash_repo.dashboard(session=session, period=parse_period(label), tz=tz, team=team,
                                       agent_id=agent_id)
        except ValueError as exc:
            error = f"周期：{exc}"
    cal, _ = repo.calibration(session=session, pass_mark=settings.review.pass_mark, team=team)
    chart_data = None
    if data:
        chart_data = {**data}
        if data["radar"]:
            chart_data["radar"] = {**data["radar"],
                                   "labels": [labels.label(labels.DIMENSIONS, n) for n in data["radar"]["dimensions"]]}
    return _page(request, "dashboard.html", "dashboard", session, me, data=data, chart_data=chart_data, period=label,
                 agent_id=agent_id, error=error, kappa=cal.agreement.kappa if cal.agreement else None)


@router.get("/queue", response_class=HTMLResponse)
def queue_page(request: Request, session: SessionDep, settings: SettingsDep, me: QARead,
               status: str = "open", team: str | None = None, agent_id: str | None = None, rule: str | None = None,
               reason: str | None = None, severity: str | None = None, period: str | None = None,
               score_min: str | None = None, score_max: str | None = None, assigned_to: str | None = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Annotated[int, Query(ge=0)] = 0
               ) -> HTMLResponse:
    """复核队列 with the API's filters; each row opens the transcript."""
    f = repo.QueueFilter(
        status=status if status in ("open", "queued", "in_review", "done", "all") else "open",
        team=scope_team(me, _blank(team)), agent_id=_blank(agent_id), rule=_blank(rule), reason=_blank(reason),
        severity=severity if severity in labels.SEVERITY else None, score_min=_number(score_min, "score_min"),
        score_max=_number(score_max, "score_max"), assigned_to=_blank(assigned_to))
    error = None
    if _blank(period):
        try:
            f.since, f.until = parse_period(period).bounds(ZoneInfo(settings.performance.timezone))
        except ValueError as exc:
            error = f"周期：{exc}"
    rows, total = repo.list_queue(session=session, flt=f, limit=limit, offset=offset)
    shown = {"status": f.status, "team": f.team, "agent_id": f.agent_id, "rule": f.rule, "reason": f.reason,
             "severity": f.severity, "period": _blank(period), "score_min": f.score_min, "score_max": f.score_max,
             "assigned_to": f.assigned_to}

    def query(**change) -> str:
        return urlencode({k: v for k, v in {**shown, "limit": limit, **change}.items() if v is not None})

    return _page(request, "queue.html", "queue", session, me, items=[review_api.summary(r, t) for r, t in rows],
                 total=total, f=type("F", (), shown), reasons=labels.REASONS, limit=limit, offset=offset,
                 query=query, error=error)


def _time(ms: int | None) -> str | None:
    if ms is None:
        return None
    s = ms // 1000
    return f"{s // 60:02d}:{s % 60:02d}"


@router.get("/transcripts/{transcript_id}", response_class=HTMLResponse)
def transcript_page(transcript_id: int, request: Request, session: SessionDep, settings: SettingsDep, me: QARead
                    ) -> HTMLResponse:
    """A conversation as chat bubbles, each finding highlighted in place, with the review controls."""
    row = transcript_repo.get(session=session, transcript_id=transcript_id)
    if row is None:
        raise HTTPException(404, f"transcript {transcript_id} not found")
    check_team(me, row.team_id)
    t = transcript_read(row)
    review_row = repo.for_transcript(session=session, transcript_id=transcript_id)
    review = review_api.review_read(review_row, settings) if review_row else None
    report = t.report
    if review:
        findings = review.findings
    else:
        findings = [review_api.ReviewedFinding(**f.model_dump(), verdict=None) for f in report.findings] if report else []
    marks: dict[str, Any] = {}
    by_seq: dict[int, list[Mark]] = {}
    rejected = set()
    for f in findings:
        key = f"f{f.id}"
        marks[key] = f
        by_seq.setdefault(f.utterance_index, []).append(Mark(key, f.span[0], f.span[1], f.severity))
        if f.verdict == "rejected":
            rejected.add(key)
    for m in review.manual_findings if review else []:
        key = f"m{m.id}"
        marks[key] = m
        by_seq.setdefault(m.utterance_index, []).append(Mark(key, m.span[0], m.span[1], m.severity))
        if m.withdrawn:
            rejected.add(key)
    bubbles = [{"seq": u.seq, "role": u.role.value if hasattr(u.role, "value") else u.role,
                "role_label": labels.label(labels.ROLES, getattr(u.role, "value", u.role)), "time": _time(u.start_ms),
                "segments": segments(u.text, by_seq.get(u.seq, []))} for u in t.utterances]
    dims = []
    trajectory = None
    if report:
        final = (review.final_dimensions or {}) if review else {}
        for name, d in report.dimension_details.items():
            dims.append({"name": name, "label": labels.label(labels.DIMENSIONS, name), "weight": d.get("weight", 0),
                         "machine": d.get("score", 0), "final": final.get(name), "applicable": d.get("applicable", True)})
        points = [(u["seq"], u["valence"]) for u in
                  ((report.dimension_details.get("sentiment") or {}).get("metrics") or {}).get("utterances", [])
                  if u.get("role") == "customer"]
        if points:
            trajectory = {"seq": [p[0] for p in points], "valence": [p[1] for p in points]}
    appealable = {}
    if review and review.status == "done" and review.appeal_deadline and datetime.now(
            review.appeal_deadline.tzinfo) <= review.appeal_deadline:
        taken = {("f", a.finding_id) for a in review.appeals} | {("m", a.manual_finding_id) for a in review.appeals}
        appealable = {f"f{f.id}": ("f", f.id) not in taken for f in findings}
        appealable |= {f"m{m.id}": ("m", m.id) not in taken for m in review.manual_findings}
    return _page(request, "transcript.html", "queue", session, me, t=t, review=review, report=report,
                 findings=findings, bubbles=bubbles, marks=marks, rejected=sorted(rejected), dims=dims,
                 trajectory=trajectory, appealable=appealable)


@router.get("/appeals", response_class=HTMLResponse)
def appeals_page(request: Request, session: SessionDep, me: QARead, status: str | None = "open",
                 team: str | None = None) -> HTMLResponse:
    """申诉: open appeals for leads to decide, and decided ones."""
    status = status if status in labels.APPEALS else None
    team = scope_team(me, _blank(team))
    rows, total = repo.list_appeals(session=session, status=status, team=_blank(team), limit=500)
    return _page(request, "appeals.html", "appeals", session, me, items=[review_api.appeal_read(a, r, t) for a, r, t in rows],
                 total=total, status=status, team=_blank(team))


@router.get("/calibration", response_class=HTMLResponse)
def calibration_page(request: Request, session: SessionDep, settings: SettingsDep, me: ReviewWrite,
                     period: str | None = None, team: str | None = None) -> HTMLResponse:
    """规则校准: precision per rule and dimension, κ, rules for their owners to fix."""
    error, p = None, None
    if _blank(period):
        try:
            p = parse_period(period)
        except ValueError as exc:
            error = f"周期：{exc}"
    team = scope_team(me, _blank(team))
    cal = review_api.calibration_read(session, request, settings, p, team)
    return _page(request, "calibration.html", "calibration", session, me, cal=cal, period=_blank(period),
                 team=team, error=error)


# --- login -----------------------------------------------------------------------------------------------------

def _safe_next(target: str | None) -> str:
    """Only a path on this site (no //host or scheme: an open redirect otherwise)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/ui/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None, failed: bool = False) -> HTMLResponse:
    """Log in with an API key; the browser keeps a session cookie (QA_AUTH__SESSION_HOURS)."""
    settings = request.app.state.settings
    return templates.TemplateResponse(request, "login.html", {
        "page": "login", "counts": None, "me": None, "auth": settings.auth_enforced, "next": _safe_next(next),
        "failed": failed})


async def _login_form(request: Request) -> tuple[str, str | None, bool]:
    """(key, next, is_form): a JSON body from the page's script, or a plain form post without script."""
    raw = (await request.body())[:4096]
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        fields = parse_qs(raw.decode("utf-8", "replace"))
        return (fields.get("key") or [""])[0].strip(), (fields.get("next") or [None])[0], True
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        data = None
    key = data.get("key") if isinstance(data, dict) else None
    if not isinstance(key, str) or not key.strip():
        raise RequestValidationError([{"loc": ["body", "key"], "type": "missing", "msg": "send {\"key\": \"qak_…\"}"}])
    return key.strip(), None, False


@router.post("/login")
async def login(request: Request, sessions: SessionsDep, settings: SettingsDep) -> Response:
    """Exchange a key for a login cookie (HttpOnly, SameSite=Strict); the key is not kept by the browser."""
    key, target, is_form = await _login_form(request)

    def start() -> tuple[str, dict] | None:
        with session_scope(sessions) as session:
            row = key_repo.authenticate(session=session, key=key)
            if row is None:
                return None
            token = key_repo.start_login(session=session, key_row=row, hours=settings.auth.session_hours)
            return token, {"name": row.name, "role": row.role, "team": row.team_id}

    started = await run_in_threadpool(start)
    if started is None:
        if is_form:
            return RedirectResponse(f"/ui/login?failed=1&next={quote(_safe_next(target))}", status_code=303)
        raise AccessDenied(401, "invalid or revoked API key")
    token, who = started
    response = RedirectResponse(_safe_next(target), status_code=303) if is_form else JSONResponse(who)
    secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
    response.set_cookie(SESSION_COOKIE, token, max_age=int(settings.auth.session_hours * 3600), httponly=True,
                        samesite="strict", secure=secure, path="/")
    return response


@router.post("/logout")
def logout(request: Request, sessions: SessionsDep) -> JSONResponse:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with session_scope(sessions) as session:
            key_repo.end_login(session=session, token=token)
    response = JSONResponse({"logged_out": True})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response

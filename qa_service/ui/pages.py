"""/ui/: dashboards, the review queue, a transcript with its evidence, appeals, calibration.

Pages are rendered on the server from the services and the API's presenters (the same shapes the
JSON routes return); the buttons call the JSON API. plotly.js is served from the installed
``plotly`` package (nothing from the internet).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from qa_service.access.service import missing
from qa_service.api import presenters
from qa_service.api.auth import Dashboard, QARead, ReviewWrite, admits, check_team, scope_team
from qa_service.api.deps import OFFSET_MAX, ReadSessionDep, RowId, RuntimeDep, SessionDep, SettingsDep
from qa_service.api.schemas import ReviewedFinding
from qa_service.api.ui_errors import FIELD_LABELS, period_in_chinese
from qa_service.errors import ConfigError, NotFound, RulePackError
from qa_service.live import supervise
from qa_service.period import parse_period
from qa_service.review import listing
from qa_service.review import service as review_service
from qa_service.review.calibration_report import calibration_report
from qa_service.review.appeals import unappealable
from qa_service.scoring.titles import title
from qa_service.storage import dashboard as dash_repo
from qa_service.storage import reviews as review_repo
from qa_service.storage import transcripts as transcript_repo
from qa_service.ui import charts, labels
from qa_service.ui.highlight import Mark, Segment, segments
from qa_service.ui.render import HERE, page

router = APIRouter(prefix="/ui", include_in_schema=False)
QUEUE_PAGE_MAX = 500  # rows a queue page lists at most: 分配 deals out at most that many (the rows shown)
TRUE, FALSE = ("true", "1", "on", "yes", "y", "t"), ("false", "0", "off", "no", "n", "f")  # as pydantic reads a bool
STATIC = {"ui.css": (HERE / "static" / "ui.css", "text/css"), "ui.js": (HERE / "static" / "ui.js", "text/javascript"),
          "live.js": (HERE / "static" / "live.js", "text/javascript")}


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


def _blank(value: str | None) -> str | None:
    return value if value not in (None, "") else None


def _number(value: str | None, field: str) -> float | None:
    if _blank(value) is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise HTTPException(422, f"{FIELD_LABELS.get(field, field)}（{field}）：“{value}” 不是数字") from None


@router.get("", include_in_schema=False)
def ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/")


@router.get("/", response_class=HTMLResponse)
def dashboard_page(request: Request, runtime: RuntimeDep, session: ReadSessionDep, me: Dashboard,
                   period: str | None = None, team: str | None = None, agent_id: str | None = None) -> HTMLResponse:
    """看板: team trend, agents compared, an agent's radar, frequent findings."""
    tz = ZoneInfo(runtime.settings.performance.timezone)
    period, team, agent_id = _blank(period), scope_team(me, _blank(team)), _blank(agent_id)
    label = period or dash_repo.latest_month(session=session, tz=tz)
    data, error, chosen = None, None, None
    if label:
        try:
            chosen = parse_period(label)
            data = dash_repo.dashboard(session=session, period=chosen, tz=tz, team=team, agent_id=agent_id,
                                       shrinkage_n=runtime.settings.performance.shrinkage_n)
        except ValueError as exc:
            error = period_in_chinese(exc)
    chart_data = None
    if data:
        data = {**data, "top_findings": _titled(runtime, data["top_findings"])}
    if data and agent_id and (data["radar"] or {}).get("agent_id") != agent_id:
        # the radar fell back to the best agent: it read as the one asked for
        error = f"未找到该坐席：{agent_id}（本周期{'、本团队' if team else ''}没有其已评分会话）"
        data = {**data, "radar": None}
    if data:
        chart_data = {**data}
        if data["radar"]:
            chart_data["radar"] = {**data["radar"],
                                   "labels": [labels.label(labels.DIMENSIONS, n) for n in data["radar"]["dimensions"]]}
    calibrates = admits(ReviewWrite, me)  # the κ card: only for those /ui/calibration answers
    kappa = None
    if calibrates:
        report = calibration_report(session=session, runtime=runtime, period=chosen, team=team)
        kappa = report.calibration.agreement.kappa if report.calibration.agreement else None
    intervention = {}
    if chosen is not None:
        since, until = chosen.bounds(tz)
        intervention = supervise.intervention(session=session, since=since, until=until, by="team",
                                              sla_s=runtime.settings.live.intervention_sla.total_seconds())
        if team:
            intervention = {k: v for k, v in intervention.items() if k == team}
    sla_h = runtime.settings.live.intervention_sla.total_seconds() / 3600
    return page(request, "dashboard.html", "dashboard", session, me, data=data, chart_data=chart_data, period=label,
                alternatives=charts.dashboard(chart_data) if chart_data else {},
                agent_id=agent_id, error=error, kappa=kappa, calibrates=calibrates, intervention=intervention, sla_label=f"{sla_h:g} 小时")


def _titled(runtime, top: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """高频问题: each bar labelled with what fits every finding it counts, the rule's own message (was: one
    finding's, e.g. "客户异议（service）未得到处理…" over policy, service and delay objections alike)."""
    try:
        messages = runtime.rulebook.ready().messages()
    except (RulePackError, ConfigError):  # a broken pack still leaves the dashboard readable
        messages = {}
    return [{**f, "message": title(f["rule_id"], messages, f["message"])} for f in top]


def _flag_labels(runtime, pack: str | None = None) -> tuple[dict[str, str], set[str]]:
    """The loaded packs' flag labels (``pack``'s first) and the flags they can raise."""
    try:
        book = runtime.rulebook.ready()
        return book.flag_labels(pack), book.flags()
    except (RulePackError, ConfigError):  # a broken pack: the built-in labels still name what they know
        return {}, set()


@router.get("/queue", response_class=HTMLResponse)
def queue_page(request: Request, session: SessionDep, me: QARead,
               status: str = "open", team: str | None = None, agent_id: str | None = None, rule: str | None = None,
               reason: str | None = None, severity: str | None = None, period: str | None = None,
               score_min: str | None = None, score_max: str | None = None, assigned_to: str | None = None,
               unassigned: str | None = None, limit: Annotated[int, Query(ge=1, le=QUEUE_PAGE_MAX)] = 50,
               offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0
               ) -> HTMLResponse:
    """复核队列 with the API's filters; each row opens the transcript. A filter it cannot apply is said, and
    no rows are listed (the unfiltered queue read as the filtered one)."""
    runtime = request.app.state.runtime
    only_unassigned = (_blank(unassigned) or "false").lower()  # as /v1/reviews reads it (Was: ignored)
    asked = listing.QueueQuery(
        status=status, team=scope_team(me, _blank(team)), agent_id=_blank(agent_id), rule=_blank(rule),
        reason=_blank(reason), severity=_blank(severity), period=_blank(period),
        score_min=_number(score_min, "score_min"), score_max=_number(score_max, "score_max"),
        assigned_to=_blank(assigned_to), unassigned=True if only_unassigned in TRUE else None)
    f, problems = listing.queue_filter(asked, session=session, rulebook=runtime.rulebook, timezone=runtime.timezone)
    said = {p.field: p for p in problems}
    errors = [f"状态：{status!r} 无效，可选 {', '.join(listing.QUEUE_STATUSES)}"] if "status" in said else []
    if "severity" in said:
        errors.append(f"严重度：{severity!r} 无效，可选 {', '.join(labels.SEVERITY)}")
    if only_unassigned not in TRUE + FALSE:
        errors.append(f"未分配：{unassigned!r} 无效，可选 true、false")
    if "reason" in said:
        errors.append(f"原因：{reason!r} 无效")
    if "period" in said:
        errors.append(period_in_chinese(ValueError(str(said["period"]))))
    rows, total = listing.list_queue(session=session, flt=f, limit=limit, offset=offset) if not errors else ([], 0)
    error = "；".join(errors) or None
    shown = {"status": f.status, "team": f.team, "agent_id": f.agent_id, "rule": f.rule, "reason": f.reason,
             "severity": f.severity, "period": _blank(period), "score_min": f.score_min, "score_max": f.score_max,
             "assigned_to": f.assigned_to, "unassigned": "true" if f.unassigned else None}

    def query(**change) -> str:
        return urlencode({k: v for k, v in {**shown, "limit": limit, **change}.items() if v is not None})

    pack_labels, pack_flags = _flag_labels(runtime)
    return page(request, "queue.html", "queue", session, me,
                items=[presenters.review_summary(r, t) for r, t in rows], total=total, f=type("F", (), shown),
                reasons=labels.reason_options(pack_labels, pack_flags), reasons_all=labels.reason_labels(pack_labels),
                limit=limit, offset=offset, query=query, error=error,
                assign_max=QUEUE_PAGE_MAX)


def _time(ms: int | None) -> str | None:
    if ms is None:
        return None
    s = ms // 1000
    return f"{s // 60:02d}:{s % 60:02d}"


def _marks(findings: list, manual: list) -> tuple[dict[str, Any], dict[int, list[Mark]], dict[str, str]]:
    """Every finding (machine ``f<id>``, manual ``m<id>``) as a highlight on its utterance, and those that no
    longer count (rejected, or withdrawn by an accepted appeal) with what the highlight's title says instead of
    their points. Was: a withdrawn manual finding kept its (−5) and its severity in the highlight."""
    marks: dict[str, Any] = {}
    by_index: dict[int, list[Mark]] = {}
    void: dict[str, str] = {}
    for prefix, items in (("f", findings), ("m", manual)):
        for item in items:
            key = f"{prefix}{item.id}"
            marks[key] = item
            if getattr(item, "overturned_by_appeal", None):
                void[key] = f"申诉 #{item.overturned_by_appeal} 成立，不扣分"
            elif getattr(item, "verdict", None) == "rejected":
                void[key] = "机检错误，不扣分"
            elif getattr(item, "withdrawn", False):
                void[key] = "申诉成立，已撤销"
            by_index.setdefault(item.utterance_index, []).append(
                Mark(key, item.span[0], item.span[1], item.severity, counts=key not in void))
    return marks, by_index, void


def _evidence(seg: Segment, marks: dict[str, Any], void: dict[str, str]) -> dict[str, str]:
    """A highlight as the page draws it: a link to its (first) finding's card, named with its severity in words,
    described by each finding it shows (severity, message, points). Was: a <mark> a mouse could click, its
    explanation only in its title (hover) and its severity only in its colour."""
    first = seg.keys[0]
    anchor = f"finding-{first[1:]}" if first.startswith("f") else f"manual-{first[1:]}"
    level = labels.label(labels.SEVERITY, seg.severity) if seg.severity else "不扣分"
    title = "；".join(f"{marks[k].message}（{void[k] if k in void else '%+g' % marks[k].points}）" for k in seg.keys)
    said = "；".join(f"{marks[k].message}（{void[k]}）" if k in void else
                    f"{labels.label(labels.SEVERITY, marks[k].severity)}：{marks[k].message}（{marks[k].points:+g}）"
                    for k in seg.keys)  # one that no longer counts has no severity (it costs nothing)
    return {"anchor": anchor, "name": f"证据（{level}）：{seg.text}", "title": title, "explain": said,
            "void": all(k in void for k in seg.keys)}


@router.get("/transcripts/{transcript_id}", response_class=HTMLResponse)
def transcript_page(transcript_id: RowId, request: Request, runtime: RuntimeDep, session: SessionDep,
                    settings: SettingsDep, me: QARead) -> HTMLResponse:
    """A conversation as chat bubbles, each finding highlighted in place, with the review controls."""
    row = transcript_repo.get(session=session, transcript_id=transcript_id)
    if row is None:
        raise missing(me.team, f"transcript {transcript_id} not found", "transcript_id")
    check_team(me, row.team_id)
    t = presenters.transcript_read(row)
    try:
        review = presenters.review_read(review_service.for_transcript(session=session, transcript_id=transcript_id),
                                        settings.review)
    except NotFound:
        review = None
    report = t.report
    if review:
        findings = review.findings
    else:
        findings = [ReviewedFinding(**f.model_dump(), verdict=None) for f in report.findings] if report else []
    marks, by_index, rejected = _marks(findings, review.manual_findings if review else [])
    bubbles = [{"seq": u.seq, "role": u.role.value, "role_label": labels.label(labels.ROLES, u.role.value),
                "time": _time(u.start_ms), "segments": [(seg, _evidence(seg, marks, rejected) if seg.keys else None)
                                                        for seg in segments(u.text, by_index.get(u.seq, []))]}
               for u in t.utterances]
    dims, trajectory = [], None
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
        # the API's own predicate (review.appeals.unappealable): a bonus, a 0-point or uncertain finding, a
        # rejected one is not offered (the page offered 0-point ones, which the API then refused)
        appealable = {f"f{f.id}": ("f", f.id) not in taken and unappealable(
            "", points=f.points, fatal=f.fatal, uncertain=f.uncertain, rejected=f.verdict != "confirmed") is None
            for f in findings}
        appealable |= {f"m{m.id}": ("m", m.id) not in taken and not m.withdrawn
                       and unappealable("", points=m.points, fatal=m.fatal) is None for m in review.manual_findings}
    # the live alerts raised while it went on (a live conversation's), with what the supervisors noted
    live_alerts = [presenters.alert_read(a) for a in supervise.transcript_alerts(session=session,
                                                                                transcript_id=transcript_id)]
    # the learned detectors' model (qa-detectors@2) as its findings name it: a report records it nowhere else
    detector_models = sorted({f.model for f in report.findings if f.model}) if report else []
    return page(request, "transcript.html", "queue", session, me, t=t, review=review, report=report,
                detector_models=detector_models, findings=findings,
                reasons_all=labels.reason_labels(_flag_labels(runtime, report.rule_pack if report else None)[0]), bubbles=bubbles, marks=marks, rejected=rejected, dims=dims,
                trajectory=trajectory, trajectory_alt=charts.trajectory(trajectory) if trajectory else None,
                appealable=appealable, live_alerts=live_alerts)


@router.get("/appeals", response_class=HTMLResponse)
def appeals_page(request: Request, session: SessionDep, me: QARead, status: str | None = "open",
                 team: str | None = None) -> HTMLResponse:
    """申诉: open appeals for leads to decide, and decided ones."""
    status = status if status in labels.APPEALS else None
    team = scope_team(me, _blank(team))
    rows, total = review_repo.list_appeals(session=session, status=status, team=_blank(team), limit=500)
    return page(request, "appeals.html", "appeals", session, me,
                items=[presenters.appeal_read(a, r, t) for a, r, t in rows], total=total, status=status,
                team=_blank(team))


@router.get("/calibration", response_class=HTMLResponse)
def calibration_page(request: Request, runtime: RuntimeDep, session: ReadSessionDep, me: ReviewWrite,
                     period: str | None = None, team: str | None = None) -> HTMLResponse:
    """规则校准: precision per rule and dimension, κ, rules for their owners to fix. A period it cannot read is
    said, and no figures are shown (they were every period's, under the error, read as the period typed)."""
    error, p = None, None
    if _blank(period):
        try:
            p = parse_period(period)
        except ValueError as exc:
            error = period_in_chinese(exc)
    team = scope_team(me, _blank(team))
    cal = None
    if error is None:
        cal = presenters.calibration_read(calibration_report(session=session, runtime=runtime, period=p, team=team),
                                          runtime.settings.review)
    return page(request, "calibration.html", "calibration", session, me, cal=cal, period=_blank(period), team=team,
                error=error)

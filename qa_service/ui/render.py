"""Templates and the page frame every /ui page shares (Jinja2 escapes everything: transcript text is
user content)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from qa_service.access.service import Principal
from qa_service.api.auth import Appellant, QARead, ReviewWrite, Supervise, admits
from qa_service.api.ui_errors import script_words
from qa_service.review import service as review_service
from qa_service.text import visible_bidi
from qa_service.ui import labels

HERE = Path(__file__).parent


def shown(value: Any) -> Any:
    """Every ``{{ … }}`` of a page passes here before it is escaped (Jinja's ``finalize``): bidirectional
    controls are shown as their code, not obeyed (``text.visible_bidi``)."""
    return visible_bidi(value) if isinstance(value, str) else value


templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.finalize = shown  # before any template is compiled: finalize is built into the compiled code
templates.env.globals.update(
    label=labels.label, dim_labels=labels.DIMENSIONS, reasons_all=labels.REASONS, statuses=labels.STATUS,
    severities=labels.SEVERITY, roles=labels.ROLES, verdicts=labels.VERDICTS, appeal_status=labels.APPEALS,
    access_roles=labels.ACCESS_ROLES, alert_severities=labels.ALERT_SEVERITY, alert_statuses=labels.ALERT_STATUS,
    ui_words=script_words(),  # the fields' labels and the problems in Chinese, for ui.js's message bar
)


def local_time(value: datetime | None, tz: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) time in the site's QA_PERFORMANCE__TIMEZONE."""
    return value.astimezone(ZoneInfo(tz)).strftime(fmt) if value else "—"


templates.env.filters["local"] = local_time


def page(request: Request, name: str, page_id: str, session, me: Principal, **context: Any) -> HTMLResponse:
    """A full page: the template plus the frame (queue badges, a scoped key's of its team; time zone, who is in)."""
    settings = request.app.state.runtime.settings
    # the pages this key may open: the others are not linked (HR would meet a 403 behind 复核队列)
    nav = {"queue": admits(QARead, me), "appeals": admits(QARead, me), "calibration": admits(ReviewWrite, me),
           "live": admits(Supervise, me)}
    # the controls this key may use: the others are not shown (a supervisor met an English 403 behind 分配)
    can = {"review": admits(ReviewWrite, me), "appeal": admits(Appellant, me)}
    # a scoped key's own team's counts, never the others' (was: none at all for a team's supervisor or reviewer)
    counts = review_service.queue_counts(session=session, team=me.team) if nav["queue"] else None
    response = templates.TemplateResponse(request, name, {
        "page": page_id, "counts": counts, "nav": nav, "can": can, "tz": settings.performance.timezone, "me": me,
        "auth": settings.auth_enforced, **context})
    # never kept: after 退出 the Back button showed the transcript again from the browser's cache
    response.headers["Cache-Control"] = "no-store"
    return response

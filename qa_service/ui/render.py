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
from qa_service.review import service as review_service
from qa_service.ui import labels

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals.update(
    label=labels.label, dim_labels=labels.DIMENSIONS, reasons_all=labels.REASONS, statuses=labels.STATUS,
    severities=labels.SEVERITY, roles=labels.ROLES, verdicts=labels.VERDICTS, appeal_status=labels.APPEALS,
    access_roles=labels.ACCESS_ROLES,
)


def local_time(value: datetime | None, tz: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) time in the site's QA_PERFORMANCE__TIMEZONE."""
    return value.astimezone(ZoneInfo(tz)).strftime(fmt) if value else "—"


templates.env.filters["local"] = local_time


def page(request: Request, name: str, page_id: str, session, me: Principal, **context: Any) -> HTMLResponse:
    """A full page: the template plus the frame (queue badges for unscoped keys, time zone, who is in)."""
    settings = request.app.state.runtime.settings
    counts = review_service.queue_counts(session=session) if me.team is None else None  # not a scoped key's to see
    return templates.TemplateResponse(request, name, {
        "page": page_id, "counts": counts, "tz": settings.performance.timezone, "me": me,
        "auth": settings.auth_enforced, **context})

"""What /readyz answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ReadinessRead(BaseModel):
    """``ready`` (200) or ``not ready`` (503), with each check's outcome."""

    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(description=(
        "database, redis, alert_rules (live QA on), workers (under qa serve --workers N): `ok`, or what is wrong "
        "(`unreachable: <error type>`, `error: …`, `<n> alive of <m>`)"))

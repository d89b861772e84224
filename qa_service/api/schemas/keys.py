"""API keys."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from qa_service.access.roles import AccessRole


class KeyCreate(BaseModel):
    role: AccessRole
    team: str | None = Field(None, min_length=1, max_length=200, description="Required for supervisor")
    name: str | None = Field(None, min_length=1, max_length=200, description="Who uses it (default role-prefix)")


class KeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    prefix: str
    name: str
    role: str
    team: str | None
    created_at: datetime
    created_by: str | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyRead):
    key: str = Field(description="The key itself: shown this once, only its hash is stored")
    warnings: list[str] = Field(default_factory=list,
                                description="Notes on the new key, e.g. a team no conversation has named yet")

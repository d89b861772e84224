"""/v1/keys: API keys for admins (the same as ``qa keys create|list|revoke``)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from qa_service.api.auth import Admin, forget_verified_keys
from qa_service.api.deps import RowId, SessionDep, SessionsDep
from qa_service.errors import ReviewError
from qa_service.storage import keys as repo
from qa_service.storage.db import session_scope
from qa_service.storage.tables import ApiKey

router = APIRouter(prefix="/v1/keys", tags=["access"])


class KeyCreate(BaseModel):
    role: repo.AccessRole
    team: str | None = Field(None, min_length=1, max_length=200, description="Required for supervisor")
    name: str | None = Field(None, min_length=1, max_length=200, description="Who uses it (default role-prefix)")


class KeyRead(BaseModel):
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


def key_read(row: ApiKey) -> KeyRead:
    return KeyRead(id=row.id, prefix=row.prefix, name=row.name, role=row.role, team=row.team_id,
                   created_at=row.created_at, created_by=row.created_by, last_used_at=row.last_used_at,
                   revoked_at=row.revoked_at)


@router.get("", response_model=list[KeyRead])
def list_keys(session: SessionDep, _principal: Admin, include_revoked: bool = False) -> list[KeyRead]:
    """Keys (never the keys themselves: only their public prefix)."""
    return [key_read(r) for r in repo.list_keys(session=session, include_revoked=include_revoked)]


@router.post("", response_model=KeyCreated, status_code=status.HTTP_201_CREATED)
def create_key(body: KeyCreate, sessions: SessionsDep, principal: Admin) -> KeyCreated:
    """A new key; the response holds it once."""
    with session_scope(sessions) as session:
        try:
            row, key = repo.create(session=session, role=body.role, team=body.team, name=body.name,
                                   created_by=principal.name)
        except repo.InvalidKeyRequest as exc:
            raise ReviewError(422, str(exc), exc.field) from None
        return KeyCreated(**key_read(row).model_dump(), key=key)


@router.delete("/{key_id}", response_model=KeyRead)
def revoke_key(key_id: RowId, sessions: SessionsDep, _principal: Admin) -> KeyRead:
    """Revoke a key at once (its web logins end too)."""
    with session_scope(sessions) as session:
        row = repo.revoke(session=session, ident=str(key_id))
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"key {key_id} not found")
        read = key_read(row)
    forget_verified_keys()  # after the commit: no request may pass on the cached key from now on
    return read

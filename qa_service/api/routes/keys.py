"""/v1/keys: API keys for admins (the same as ``qa keys create|list|revoke``)."""

from __future__ import annotations

from fastapi import APIRouter, status

from qa_service.access import service as access
from qa_service.api import presenters
from qa_service.api.auth import Admin
from qa_service.api.deps import RowId, RuntimeDep, SessionDep
from qa_service.api.schemas import KeyCreate, KeyCreated, KeyRead
from qa_service.errors import NotFound
from qa_service.review import assignment
from qa_service.storage import keys as repo

router = APIRouter(prefix="/v1/keys", tags=["access"])


@router.get("", response_model=list[KeyRead])
def list_keys(session: SessionDep, _principal: Admin, include_revoked: bool = False) -> list[KeyRead]:
    """Keys (never the keys themselves: only their public prefix)."""
    return [presenters.key_read(r) for r in repo.list_keys(session=session, include_revoked=include_revoked)]


@router.post("", response_model=KeyCreated, status_code=status.HTTP_201_CREATED)
def create_key(body: KeyCreate, runtime: RuntimeDep, principal: Admin) -> KeyCreated:
    """A new key; the response holds it once."""
    with runtime.session() as session:
        row, key = access.create_key(session=session, role=body.role, team=body.team, name=body.name,
                                     created_by=principal.name)
        note = access.team_note(session=session, team=body.team)
        return KeyCreated(**presenters.key_read(row).model_dump(), key=key, warnings=[note] if note else [])


@router.delete("/{key_id}", response_model=KeyRead)
def revoke_key(key_id: RowId, runtime: RuntimeDep, principal: Admin) -> KeyRead:
    """Revoke a key at once (its web logins end too, and the open reviews assigned to its name are unassigned,
    audited as ``unassigned``); the last active admin key is refused (409)."""
    with runtime.session() as session:
        row = access.revoke_key(session=session, key_id=key_id, keep_an_admin=True)
        if row is None:
            raise NotFound(f"key {key_id} not found", "key_id")
        assignment.release(session=session, reviewer=row.name, reason=assignment.KEY_REVOKED, by=principal.name)
        read = presenters.key_read(row)
    runtime.verified_keys.clear()  # after the commit: no request may pass on the cached key from now on
    return read

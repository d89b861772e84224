"""API keys and web UI login sessions.

A key reads ``qak_<prefix>_<secret>``: the prefix finds the row, the SHA-256 of the whole key is
compared in constant time. Keys are 256-bit random strings, so a plain SHA-256 is enough at rest
(a slow password hash guards guessable secrets; these are not). The key itself is returned once,
by :func:`create`, and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, get_args

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from qa_service.storage.tables import ApiKey, LoginSession, utcnow

AccessRole = Literal["ingest", "reviewer", "supervisor", "hr", "admin"]
ROLES: tuple[str, ...] = get_args(AccessRole)
# Roles a team may scope; a supervisor must have one. Ingest and admin act on every team.
TEAM_ROLES = {"reviewer", "supervisor", "hr"}
KEY_PREFIX = "qak_"
LAST_USED_EVERY_S = 60  # last_used_at is a hint, not a log: one write a minute per key at most


class InvalidKeyRequest(ValueError):
    """A key request that cannot be honoured (unknown role, supervisor without a team…)."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id, name, role and team (None: every team)."""

    key_id: int | None
    name: str | None
    role: str
    team: str | None = None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_new(*, role: str, team: str | None) -> None:
    if role not in ROLES:
        raise InvalidKeyRequest(f"unknown role {role!r}; roles: {', '.join(ROLES)}", "role")
    if role == "supervisor" and not team:
        raise InvalidKeyRequest("a supervisor key needs --team: supervisors see their own team only", "team")
    if team and role not in TEAM_ROLES:
        raise InvalidKeyRequest(f"role {role} is not team-scoped; --team applies to {', '.join(sorted(TEAM_ROLES))}", "team")


def create(*, session: Session, role: str, team: str | None = None, name: str | None = None,
           created_by: str | None = None) -> tuple[ApiKey, str]:
    """A new key row and the key itself (shown to the caller once; only its hash is stored)."""
    check_new(role=role, team=team)
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(prefix=prefix, key_hash=digest(key), name=name or f"{role}-{prefix}", role=role, team_id=team,
                 created_by=created_by)
    session.add(row)
    session.flush()
    return row, key


def list_keys(*, session: Session, include_revoked: bool = False) -> list[ApiKey]:
    stmt = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(stmt))


def get(*, session: Session, ident: str) -> ApiKey | None:
    """By numeric id, prefix, or the key's printed form ``qak_<prefix>_…``."""
    ident = ident.strip()
    if ident.isdigit():
        return session.get(ApiKey, int(ident))
    if ident.startswith(KEY_PREFIX):
        ident = ident[len(KEY_PREFIX):].split("_", 1)[0]
    return session.scalar(select(ApiKey).where(ApiKey.prefix == ident))


def revoke(*, session: Session, ident: str) -> ApiKey | None:
    """Revoke a key (and end its UI logins); None when no such key. Revoking twice keeps the first time."""
    row = get(session=session, ident=ident)
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    session.execute(delete(LoginSession).where(LoginSession.key_id == row.id))
    return row


def authenticate(*, session: Session, key: str) -> ApiKey | None:
    """The live key row for ``key``; None for a malformed, unknown, wrong or revoked key."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    prefix, _, rest = key[len(KEY_PREFIX):].partition("_")
    if not rest:
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, digest(key)):
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > timedelta(seconds=LAST_USED_EVERY_S):
        row.last_used_at = now
        session.commit()
    return row


def principal(row: ApiKey) -> Principal:
    return Principal(key_id=row.id, name=row.name, role=row.role, team=row.team_id)


def start_login(*, session: Session, key_row: ApiKey, hours: float) -> str:
    """A login session for the web UI; returns the cookie token (its hash is stored)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.execute(delete(LoginSession).where(LoginSession.expires_at < now))
    session.add(LoginSession(token_hash=digest(token), key_id=key_row.id, created_at=now,
                             expires_at=now + timedelta(hours=hours)))
    return token


def login_key(*, session: Session, token: str) -> ApiKey | None:
    """The live key behind a login cookie; None when expired, ended or the key was revoked."""
    if len(token) > 200:
        return None
    login = session.get(LoginSession, digest(token))
    if login is None or login.expires_at < utcnow():
        return None
    row = session.get(ApiKey, login.key_id)
    return row if row is not None and row.revoked_at is None else None


def end_login(*, session: Session, token: str) -> None:
    session.execute(delete(LoginSession).where(LoginSession.token_hash == digest(token)))

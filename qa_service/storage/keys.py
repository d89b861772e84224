"""API key and web login rows (the policy — roles, hashing, expiry — is in ``access/service.py``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from qa_service.storage.sqlite_writer import begin_write
from qa_service.storage.tables import ApiKey, LoginSession, Team


def create(*, session: Session, prefix: str, key_hash: str, name: str, role: str, team: str | None,
           created_by: str | None) -> ApiKey:
    row = ApiKey(prefix=prefix, key_hash=key_hash, name=name, role=role, team_id=team, created_by=created_by)
    session.add(row)
    session.flush()
    return row


def team_exists(*, session: Session, team: str) -> bool:
    return session.get(Team, team) is not None


def team_ids(*, session: Session, limit: int) -> list[str]:
    return list(session.scalars(select(Team.id).order_by(Team.id).limit(limit)))


def list_keys(*, session: Session, include_revoked: bool = False) -> list[ApiKey]:
    stmt = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(stmt))


def get(*, session: Session, key_id: int) -> ApiKey | None:
    return session.get(ApiKey, key_id)


def lock_keys(*, session: Session) -> None:
    """Make this transaction's key changes take turns with every other's, before it reads what a change
    checks (no two active keys of one name; not the last admin key): on PostgreSQL a transaction-scoped
    advisory lock, on SQLite the database's one writer (``BEGIN IMMEDIATE``). Without it two requests
    could both see a name free, or both see another admin left, and both go ahead."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('qa_api_keys'))"))
    else:
        begin_write(session.connection())


def active_named(*, session: Session, name: str) -> ApiKey | None:
    """An active (not revoked) key of this name, if any."""
    return session.scalar(select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None)).limit(1))


def active_admin_ids(*, session: Session) -> list[int]:
    """The ids of the active admin keys, their rows locked until the transaction ends (PostgreSQL), in id
    order: two admins revoking each other at once are decided one after the other."""
    query = select(ApiKey.id).where(ApiKey.role == "admin", ApiKey.revoked_at.is_(None)).order_by(ApiKey.id)
    return list(session.scalars(query.with_for_update()))


def get_by_prefix(*, session: Session, prefix: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))


def add_login(*, session: Session, token_hash: str, key_id: int, created_at: datetime, expires_at: datetime) -> None:
    session.add(LoginSession(token_hash=token_hash, key_id=key_id, created_at=created_at, expires_at=expires_at))


def get_login(*, session: Session, token_hash: str) -> LoginSession | None:
    return session.get(LoginSession, token_hash)


def delete_login(*, session: Session, token_hash: str) -> None:
    session.execute(delete(LoginSession).where(LoginSession.token_hash == token_hash))


def end_logins_of(*, session: Session, key_id: int) -> None:
    session.execute(delete(LoginSession).where(LoginSession.key_id == key_id))


def purge_expired_logins(*, session: Session, now: datetime) -> None:
    session.execute(delete(LoginSession).where(LoginSession.expires_at < now))

"""API keys and web UI logins: roles, key creation, authentication (with a short per-process cache).

A key reads ``qak_<prefix>_<secret>``: the prefix finds the row, the SHA-256 of the whole key is
compared in constant time. Keys are 256-bit random strings, so a plain SHA-256 is enough at rest
(a slow password hash guards guessable secrets; these are not). The key itself is returned once,
by :func:`create_key`, and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from qa_service.access.roles import ROLES
from qa_service.errors import Conflict, Forbidden, Invalid, NotFound
from qa_service.runtime import TTLCache
from qa_service.text import LABEL_MAX_CHARS, label
from qa_service.text import label_problem as text_label_problem
from qa_service.storage import keys as repo
from qa_service.storage.tables import ApiKey, utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# Roles a team may scope; a supervisor must have one. Ingest and admin act on every team.
TEAM_ROLES = {"reviewer", "supervisor", "hr"}
KEY_PREFIX = "qak_"
MAX_KEY_ID = 2**31 - 1  # api_keys.id is a 32-bit integer: a longer run of digits can only be a prefix
LAST_USED_EVERY_S = 60  # last_used_at is a hint, not a log: one write a minute per key at most
# A verified key is trusted for runtime.KEY_CACHE_S without asking the database again (per process):
# one indexed read per request cost ingest 17–25% on SQLite. Revoking through this process forgets at
# once; a revocation made elsewhere (qa keys revoke, another API process) holds within that window.


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id, name, role and team (None: every team)."""

    key_id: int | None
    name: str | None
    role: str
    team: str | None = None


OPEN = Principal(key_id=None, name=None, role="admin")  # access control off: an anonymous admin


def check_team(scope: str | None, team: str | None) -> None:
    """A key scoped to team ``scope`` may touch only that team's records."""
    if scope is not None and team != scope:
        raise Forbidden(f"this key sees team {scope} only")


def missing(scope: str | None, message: str, field: str) -> Forbidden | NotFound:
    """What to raise for an id that does not exist: NotFound (404) — but for a key scoped to team
    ``scope`` the very 403 another team's item gets (:func:`check_team`), so a scoped key cannot tell
    the ids of other teams' items from ids never used."""
    return Forbidden(f"this key sees team {scope} only") if scope is not None else NotFound(message, field)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def label_problem(value: str) -> str | None:
    """Why ``value`` cannot name a key or its team, or None (``text.label_problem``: printable, at most
    LABEL_MAX_CHARS, no space at either end — `` after-sales`` prints like ``after-sales`` but scopes a key
    to a team nobody's data names). Conversations' teams and agents are checked the same way."""
    return text_label_problem(value, LABEL_MAX_CHARS)


def label_value(value: str | None) -> str | None:
    """A pydantic ``AfterValidator`` for a person's name in a request (``by``, a reviewer): checked as a key's
    name is (:func:`label_problem`), so that ``Zhao `` cannot pass for someone other than ``Zhao``."""
    return label(value)


def check_label(value: str | None, field: str) -> None:
    """A key's name or team is printed in listings, logs and the audit trail (:func:`label_problem`)."""
    problem = label_problem(value) if value is not None else None
    if problem:
        raise Invalid(f"{field} {problem}", field)


def check_new(*, role: str, team: str | None, name: str | None = None) -> None:
    check_label(name, "name")
    check_label(team, "team")
    if role not in ROLES:
        raise Invalid(f"unknown role {role!r}; roles: {', '.join(ROLES)}", "role")
    if role == "supervisor" and not team:
        raise Invalid("a supervisor key needs --team: supervisors see their own team only", "team")
    if team and role not in TEAM_ROLES:
        raise Invalid(f"role {role} is not team-scoped; --team applies to {', '.join(sorted(TEAM_ROLES))}", "team")


def create_key(*, session: Session, role: str, team: str | None = None, name: str | None = None,
               created_by: str | None = None) -> tuple[ApiKey, str]:
    """A new key row and the key itself (shown to the caller once; only its hash is stored)."""
    check_new(role=role, team=team, name=name)
    prefix = secrets.token_hex(4)
    name = name or f"{role}-{prefix}"
    repo.lock_keys(session=session)
    taken = repo.active_named(session=session, name=name)
    if taken is not None:
        # Names identify people: the audit trail, verdicts and appeals record the name, and "an appellant
        # may not decide their own appeal" compares names. Whatever the roles, two live keys may not share one.
        raise Conflict(f"an active key is already named {name!r} (key {taken.id}, {taken.role}); names identify "
                       "who acts in the audit trail — choose another name, or revoke that key first", "name")
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = repo.create(session=session, prefix=prefix, key_hash=digest(key), name=name,
                      role=role, team=team, created_by=created_by)
    return row, key


def team_note(*, session: Session, team: str | None) -> str | None:
    """A note when a key is scoped to a team no conversation, agent or KPI row has named yet: a
    misspelt team gives a key that silently sees nothing. Not refused — a site may create its
    supervisors' keys before their teams' first conversations arrive."""
    if team is None or repo.team_exists(session=session, team=team):
        return None
    known = repo.team_ids(session=session, limit=10)
    listed = f"known teams: {', '.join(known)}" if known else "no team is known yet"
    return (f"team {team!r} is not known yet ({listed}); the key sees that team's data once it arrives "
            f"— check the spelling")


REVIEW_ROLES = ("reviewer", "admin")  # the roles whose keys may judge a review (api.auth's ReviewWrite)


def check_assignees(*, session: Session, names: list[str], teams: dict[int, str | None]) -> None:
    """With access control on, a review is assigned to a person who can then work on it: an active key of
    that name (``rev.lii``, a typo, is a 422 naming it), of a role that judges reviews, and — for a key
    scoped to a team — of the team of every review it may be dealt (``teams``: review id → team; else a 409
    naming both). Was: any text was accepted, and the review then sat in nobody's list, or in the list of a
    reviewer whose key got a 403 opening it. Checked before anything is assigned."""
    for name in names:
        row = repo.active_named(session=session, name=name)
        if row is None:
            raise Invalid(f"reviewers: {name!r} is no active key's name (reviewers are named as their keys are; "
                          "check the spelling, or create the key first)", "reviewers")
        if row.role not in REVIEW_ROLES:
            raise Invalid(f"reviewers: {name!r} is a {row.role} key, which cannot judge reviews (roles that can: "
                          f"{', '.join(REVIEW_ROLES)})", "reviewers")
        blind = sorted(rid for rid, team in teams.items() if row.team_id is not None and team != row.team_id)
        if blind:
            raise Conflict(f"reviewers: {name!r} is scoped to team {row.team_id} and cannot see reviews {blind} "
                           f"(team {', '.join(sorted({str(teams[r]) for r in blind}))}); assign them to a reviewer "
                           "of that team or one not scoped to a team", "reviewers")


def find_key(*, session: Session, ident: str) -> ApiKey | None:
    """By numeric id, prefix, or the key's printed form ``qak_<prefix>_…``.

    A prefix may be all digits (``41304473``): such an ident is looked up both ways, and when it is one
    key's id and another key's prefix it is refused (Invalid) naming both — ``qak_<prefix>`` names the
    prefix alone, :func:`revoke_key`'s ``key_id`` (``qa keys revoke --id``) the id alone."""
    ident = ident.strip()
    if ident.startswith(KEY_PREFIX):
        return repo.get_by_prefix(session=session, prefix=ident[len(KEY_PREFIX):].split("_", 1)[0])
    by_prefix = repo.get_by_prefix(session=session, prefix=ident)
    if not ident.isdigit() or int(ident) > MAX_KEY_ID:
        return by_prefix
    by_id = repo.get(session=session, key_id=int(ident))
    if by_id is not None and by_prefix is not None and by_id.id != by_prefix.id:
        raise Invalid(f"{ident} is both the id of key {by_id.id} ({by_id.name}) and the prefix of key {by_prefix.id} "
                      f"({by_prefix.name}): say qak_{ident} for the prefix, or --id {ident} for the id", "key")
    return by_id or by_prefix


def revoke_key(*, session: Session, ident: str | None = None, key_id: int | None = None,
               keep_an_admin: bool = False) -> ApiKey | None:
    """Revoke a key (and end its UI logins), found by ``ident`` (:func:`find_key`) or ``key_id``; None when
    no such key. Revoking twice keeps the first time.

    ``keep_an_admin``: refuse (Conflict) to revoke the last active admin key — through the API nobody
    could manage keys afterwards; the CLI, run on the server, may (and warns: :func:`admins_left`)."""
    repo.lock_keys(session=session)
    row = repo.get(session=session, key_id=key_id) if key_id is not None else find_key(session=session, ident=ident or "")
    if row is None:
        return None
    if keep_an_admin and row.role == "admin" and row.revoked_at is None:
        if repo.active_admin_ids(session=session) == [row.id]:
            raise Conflict(f"key {row.id} ({row.name}) is the last active admin key: revoked, nobody could manage keys "
                           "through the API. Create another admin key first (on the server: qa keys create --role "
                           "admin --name …), or revoke this one there with qa keys revoke", "key_id")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    repo.end_logins_of(session=session, key_id=row.id)
    return row


def admins_left(*, session: Session) -> int:
    """How many active admin keys there are."""
    return len(repo.active_admin_ids(session=session))


def key_row(*, session: Session, key: str) -> ApiKey | None:
    """The live key row for ``key``; None for a malformed, unknown, wrong or revoked key."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    prefix, _, rest = key[len(KEY_PREFIX):].partition("_")
    if not rest:
        return None
    row = repo.get_by_prefix(session=session, prefix=prefix)
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, digest(key)):
        return None
    _touch(session, row)
    return row


def _touch(session: Session, row: ApiKey) -> None:
    """Record that the key was used (a key header or a login made with it), once a LAST_USED_EVERY_S at most."""
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > timedelta(seconds=LAST_USED_EVERY_S):
        row.last_used_at = now
        session.commit()


def principal(row: ApiKey) -> Principal:
    return Principal(key_id=row.id, name=row.name, role=row.role, team=row.team_id)


def recently_verified(*, key: str, cache: TTLCache) -> Principal | None:
    """Who holds ``key`` if it was verified within the cache's lifetime (no database read); else None."""
    return cache.get(digest(key))


def authenticate_key(*, session: Session, key: str, cache: TTLCache) -> Principal | None:
    """Who holds ``key`` (None: nobody); a key verified within the cache's lifetime is not looked up again."""
    hit = recently_verified(key=key, cache=cache)
    if hit is not None:
        return hit
    hashed = digest(key)
    generation = cache.generation  # a revocation clearing the cache while we read wins: nothing is cached
    row = key_row(session=session, key=key)
    if row is None:
        cache.drop(hashed)
        return None
    who = principal(row)
    cache.put(hashed, who, generation)
    return who


def start_login(*, session: Session, key_row: ApiKey, hours: float) -> str:
    """A login session for the web UI; returns the cookie token (its hash is stored)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    repo.purge_expired_logins(session=session, now=now)
    repo.add_login(session=session, token_hash=digest(token), key_id=key_row.id, created_at=now,
                   expires_at=now + timedelta(hours=hours))
    return token


def login_principal(*, session: Session, token: str) -> Principal | None:
    """Who is behind a login cookie; None when expired, ended or the key was revoked."""
    if len(token) > 200:
        return None
    login = repo.get_login(session=session, token_hash=digest(token))
    if login is None or login.expires_at < utcnow():
        return None
    row = repo.get(session=session, key_id=login.key_id)
    if row is None or row.revoked_at is not None:
        return None
    _touch(session, row)
    return principal(row)


def still_valid(*, session: Session, principal: Principal, token: str | None = None) -> bool:
    """Whether a caller authenticated earlier (a stream's start) still is: its key not revoked and, when it
    came with a login cookie (``token``), that login neither ended nor expired. Read from the database,
    never the key cache: a long-lived stream must end when the key or login does."""
    if principal.key_id is None:
        return True  # access control off: nobody to re-check
    if token is not None:
        who = login_principal(session=session, token=token)
        return who is not None and who.key_id == principal.key_id
    row = repo.get(session=session, key_id=principal.key_id)
    return row is not None and row.revoked_at is None


def end_login(*, session: Session, token: str) -> None:
    repo.delete_login(session=session, token_hash=digest(token))

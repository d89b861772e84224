"""``qa keys create|list|revoke``: API keys (shown once; only their hash is stored)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer
from rich.markup import escape

from qa_service.access.roles import ROLES
from qa_service.cli.app import DataDir, err_console, keys_app, runtime_for
from qa_service.errors import Conflict, Invalid


KeyRole = Enum("KeyRole", {r: r for r in ROLES}, type=str)


@keys_app.command("create")
def keys_create(
    role: Annotated[KeyRole, typer.Option(help="ingest | reviewer | supervisor | hr | admin")],
    team: Annotated[Optional[str], typer.Option(help="Team the key is scoped to (required for supervisor)")] = None,
    name: Annotated[Optional[str], typer.Option(help="Who uses it; recorded as the actor (default role-prefix)")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a key. It is printed once, as the last line; only its hash is stored."""
    from qa_service.access import service as access

    rt = runtime_for(data_dir)
    settings = rt.settings
    try:
        with rt.session() as s:
            row, key = access.create_key(session=s, role=role.value, team=team, name=name, created_by="cli")
            info = f"key {row.id} created: name={row.name} role={row.role} team={row.team_id or '-'}"
            note = access.team_note(session=s, team=team)
    except (Invalid, Conflict) as exc:
        err_console.print(f"[red]qa keys create:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    typer.echo(info)
    if note:
        err_console.print(f"[yellow]note:[/yellow] {escape(note)}")
    typer.echo("Store it now: it is not shown again (send it as Authorization: Bearer <key> or X-API-Key).")
    if not settings.auth_enforced:
        typer.echo("Note: access control is off for this configuration (QA_AUTH__ENABLED unset and a loopback "
                   "host); keys are checked once it is on.")
    typer.echo(key)


@keys_app.command("list")
def keys_list(
    all_: Annotated[bool, typer.Option("--all", help="Include revoked keys")] = False,
    data_dir: DataDir = None,
) -> None:
    """Keys by id: prefix, name, role, team, created, last used (the keys themselves are not stored)."""
    from qa_service.storage import keys as repo

    def when(value) -> str:
        return value.isoformat(timespec="seconds") if value else "-"

    with runtime_for(data_dir).sessions() as s:
        rows = repo.list_keys(session=s, include_revoked=all_)
    typer.echo("id\tprefix\tname\trole\tteam\tcreated\tlast_used\trevoked")
    for r in rows:
        typer.echo(f"{r.id}\tqak_{r.prefix}\t{r.name}\t{r.role}\t{r.team_id or '-'}\t{when(r.created_at)}\t"
                   f"{when(r.last_used_at)}\t{when(r.revoked_at)}")


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[Optional[str], typer.Argument(help="Key id, prefix (qak_xxxxxxxx) or the key itself")] = None,
    key_id: Annotated[Optional[int], typer.Option("--id", help="The key's id (when its digits are also a prefix)")] = None,
    data_dir: DataDir = None,
) -> None:
    """Revoke a key: its web UI logins end now, running APIs refuse it within 5 s (their key cache); the open
    reviews assigned to its name are unassigned."""
    from qa_service.access import service as access
    from qa_service.review import assignment

    if (key is None) == (key_id is None):
        err_console.print("[red]qa keys revoke:[/red] name one key: its id, prefix or the key itself, or --id ID")
        raise typer.Exit(2)
    with runtime_for(data_dir).session() as s:
        try:
            row = access.revoke_key(session=s, ident=key, key_id=key_id)
        except Invalid as exc:
            err_console.print(f"[red]qa keys revoke:[/red] {escape(str(exc))}")
            raise typer.Exit(2) from None
        if row is None:
            err_console.print(f"[red]no key {escape(repr(key if key is not None else key_id))}[/red] "
                              "(qa keys list --all shows them)")
            raise typer.Exit(1)
        released = assignment.release(session=s, reviewer=row.name, reason=assignment.KEY_REVOKED, by="cli")
        typer.echo(f"key {row.id} ({row.name}, {row.role}) revoked at {row.revoked_at.isoformat(timespec='seconds')}")
        if released:
            typer.echo(f"{len(released)} open review(s) assigned to {row.name} unassigned (back in the queue)")
        if row.role == "admin" and access.admins_left(session=s) == 0:
            err_console.print("[yellow]warning:[/yellow] that was the last active admin key: nobody can manage keys "
                              "through the API (/v1/keys) now. Create one here: qa keys create --role admin --name …")

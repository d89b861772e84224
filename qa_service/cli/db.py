"""``qa db upgrade``."""

from __future__ import annotations

from typing import Annotated

import typer

from qa_service.cli.app import DataDir, console, db_app, settings_for


@db_app.command("upgrade")
def db_upgrade(
    data_dir: DataDir = None,
    revision: Annotated[str, typer.Option(help="Target revision")] = "head",
) -> None:
    """Apply Alembic migrations to the configured database."""
    from qa_service.storage.db import create_db_engine, upgrade

    settings = settings_for(data_dir)
    upgrade(create_db_engine(settings), revision)
    console.print(f"database at {revision}: {settings.database_url}")



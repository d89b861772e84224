"""Alembic environment: the engine is passed in by qa_service.storage.db.upgrade."""

import json

from alembic import context
from sqlalchemy import create_engine

from qa_service.storage.schema import Base

config = context.config
target_metadata = Base.metadata


def _sqlite_foreign_keys(connection, on: bool) -> None:
    """SQLite's foreign keys on or off: outside any transaction (inside one the pragma does nothing)."""
    connection.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    connection.commit()


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:  # plain `alembic` CLI use
        # JSON as the application writes it (storage/db.py json_text): Chinese as itself, not \uXXXX
        engine = create_engine(config.get_main_option("sqlalchemy.url"),
                               json_serializer=lambda v: json.dumps(v, ensure_ascii=False))
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        # SQLite migrations run with foreign keys off, as Alembic's batch mode needs: a table it rebuilds is
        # copied, then dropped, and with them on the drop deletes every row referring to it (ON DELETE
        # CASCADE: revision 0017's rebuild of transcripts took the utterances with it). The rebuilt tables keep
        # their rows and ids, so no reference breaks. Back on before the connection goes back to the pool.
        if sqlite:
            _sqlite_foreign_keys(connection, on=False)
        try:
            with connection.begin():
                context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=sqlite)
                with context.begin_transaction():
                    context.run_migrations()
        finally:
            if sqlite:
                _sqlite_foreign_keys(connection, on=True)


run_migrations_online()

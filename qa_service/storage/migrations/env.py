"""Alembic environment: the engine is passed in by qa_service.storage.db.upgrade."""

import json

from alembic import context
from sqlalchemy import create_engine

from qa_service.storage.schema import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:  # plain `alembic` CLI use
        # JSON as the application writes it (storage/db.py json_text): Chinese as itself, not \uXXXX
        engine = create_engine(config.get_main_option("sqlalchemy.url"),
                               json_serializer=lambda v: json.dumps(v, ensure_ascii=False))
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()

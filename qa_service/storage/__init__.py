"""Persistence: SQLAlchemy 2.0 tables, repositories, Alembic migrations."""

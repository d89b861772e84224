"""``INSERT … ON CONFLICT`` statements for PostgreSQL and SQLite, built once per shape.

Building ``insert(t).on_conflict_do_update(set_={c: stmt.excluded[c] …})`` makes SQLAlchemy derive the
``excluded`` column collection of the whole table again; on the worker's hot path (facts and rollups
of every chunk) that was a fifth of the time spent storing reports. The statements are immutable,
so one per (dialect, table, conflict keys, columns) is built and reused, and its compiled form stays
in SQLAlchemy's cache.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import Table
from sqlalchemy.sql.dml import Insert


def dialect_insert(dialect: str, table: Table) -> Insert:
    """``insert(table)`` of the dialect that has ``ON CONFLICT`` (PostgreSQL or SQLite)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


@cache
def upsert(dialect: str, table: Table, keys: tuple[str, ...], replace: tuple[str, ...] = (),
           add: tuple[str, ...] = ()) -> Insert:
    """Insert rows; on a conflict over ``keys`` set the ``replace`` columns to the new values and add the
    new values of the ``add`` columns to the stored ones."""
    stmt = dialect_insert(dialect, table)
    excluded = stmt.excluded
    return stmt.on_conflict_do_update(index_elements=list(keys), set_={
        **{c: table.c[c] + excluded[c] for c in add}, **{c: excluded[c] for c in replace}})

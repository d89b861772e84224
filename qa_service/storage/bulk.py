"""Many rows into one table the cheapest way the database offers: PostgreSQL's ``COPY``, else executemany.

The hot inserts (an ingest chunk's utterances, a scored chunk's findings and flags: tens of rows per
transcript) went through executemany. On PostgreSQL that is one ``INSERT`` executed per row on the
server, and SQLAlchemy binding every parameter of every row on the client; ``COPY … FROM STDIN`` sends
the rows as one stream into the caller's transaction. Measured on this machine's PostgreSQL with
42,000 utterance rows in chunks of 640 (one ingest run's worth): executemany 453 ms wall, 340 ms of
server CPU; ``COPY`` 206 ms, 180 ms. SQLite (one process, in-memory statement cache) keeps executemany.

``COPY`` writes exactly the values given: the columns' Python-side scalar defaults are filled in here
(what executemany would have done); callable defaults, JSON columns and type decorators (values
SQLAlchemy converts on the way in) are not, so rows that need one keep executemany.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Column, Connection, Table, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeDecorator


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts keyed by column key, every row the same keys) into ``table`` in the
    caller's transaction. Errors are SQLAlchemy's (``IntegrityError``, ``OperationalError``, …) on
    either path, so callers and the API's handlers see the same thing."""
    if not rows:
        return
    first = rows[0].keys()
    if any(r.keys() != first for r in rows):  # executemany reads the first row's keys only
        raise ValueError(f"rows for {table.name} must all have the same keys")
    unknown = first - table.columns.keys()
    if unknown:  # executemany would drop them silently
        raise KeyError(f"{table.name} has no column {sorted(unknown)[0]!r}")
    columns = _copy_columns(conn, table, set(first))
    if columns is None:
        conn.execute(insert(table), list(rows))
        return
    sql = (f"COPY {conn.dialect.identifier_preparer.format_table(table)} "
           f"({', '.join(conn.dialect.identifier_preparer.quote(c.name) for c in columns)}) FROM STDIN")
    fields = [(c.key, c.default.arg if c.default is not None else None) for c in columns]
    if not conn.in_transaction():
        conn.begin()  # reading conn.connection does not begin one: the rows would vanish at check-in
    dbapi = conn.connection.driver_connection
    try:
        with dbapi.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row([row.get(k, d) for k, d in fields])
    except conn.dialect.loaded_dbapi.Error as exc:
        gone = conn.dialect.is_disconnect(exc, dbapi, None)
        if gone:
            conn.invalidate(exc)
        raise DBAPIError.instance(sql, None, exc, conn.dialect.loaded_dbapi.Error,
                                  connection_invalidated=gone, dialect=conn.dialect) from exc


def _copy_columns(conn: Connection, table: Table, given: set[str]) -> list[Column] | None:
    """The columns ``COPY`` must fill (the ``given`` keys, and those with a Python-side scalar default),
    or None where ``COPY`` cannot stand in for executemany."""
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
        return None
    columns = []
    for c in table.columns:
        if isinstance(c.type, TypeDecorator | JSON) or (c.default is not None and not c.default.is_scalar):
            if c.key in given or c.default is not None:
                return None
            continue
        if c.key in given or c.default is not None:
            columns.append(c)
    return columns

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
from sqlalchemy.types import TypeDecorator


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts keyed by column key) into ``table`` in the caller's transaction."""
    if not rows:
        return
    given = set().union(*rows)
    unknown = given - set(table.columns.keys())
    if unknown:  # executemany would drop them silently
        raise KeyError(f"{table.name} has no column {sorted(unknown)[0]!r}")
    columns = _copy_columns(conn, table, given)
    if columns is None:
        conn.execute(insert(table), list(rows))
        return
    quote = conn.dialect.identifier_preparer.quote
    sql = f"COPY {quote(table.name)} ({', '.join(quote(c.name) for c in columns)}) FROM STDIN"
    fields = [(c.key, c.default.arg if c.default is not None else None) for c in columns]
    with conn.connection.driver_connection.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row([row.get(k, d) for k, d in fields])


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

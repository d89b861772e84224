"""Many rows into one table the cheapest way the database offers: PostgreSQL's ``COPY``, else executemany.

The hot inserts (an ingest chunk's utterances, a scored chunk's findings and flags: tens of rows per
transcript) went through executemany. On PostgreSQL that is one ``INSERT`` executed per row on the
server, and SQLAlchemy binding every parameter of every row on the client; ``COPY … FROM STDIN`` sends
the rows as one stream into the caller's transaction. Measured on this machine's PostgreSQL with
42,000 utterance rows in chunks of 640 (one ingest run's worth): executemany 453 ms wall, 340 ms of
server CPU; ``COPY`` 206 ms, 180 ms. SQLite (one process, in-memory statement cache) keeps executemany.

``COPY`` writes exactly the values given, so what SQLAlchemy would have done on the way in is done
here: the columns' Python-side scalar defaults are filled in and each value goes through the
dialect's bind processor for its column's type (type decorators, JSON as psycopg's ``Json``, so
``None`` is JSON ``null`` unless the column says ``none_as_null``). A value the type refuses raises
SQLAlchemy's ``StatementError``, as executemany would. A callable default of a column the rows leave
out is not run: those rows keep executemany.

:func:`insert_rows_returning_ids` is the same with the new rows' ids, in row order: a scored chunk's
reports. Through SQLAlchemy that is a multi-row ``INSERT … RETURNING`` whose SQL text grows with the
rows (25 kB for 64 reports), and psycopg parses again every statement of more than 50 parameters on
each execution (it caches only short ones). The ``COPY`` path takes the ids from the table's sequence
first (one small query) and writes them with the rows. Measured with a worker's chunks of 64 real
dialogues on this machine's PostgreSQL (A/B, six runs each): the worker's write step 10–15% less CPU.

:func:`insert_new_rows` skips rows whose key is stored already and returns columns of the new ones (an
ingest chunk's transcripts). ``COPY`` cannot skip a conflict, so on PostgreSQL the rows go as one array
per column into ``INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING``: one short statement whatever
the number of rows, which psycopg prepares once, instead of a multi-row ``INSERT`` of ~1,000 parameters
(30 kB for 64 transcripts) parsed again on every chunk. Measured with 6,000 real dialogues batch-ingested
on this machine's PostgreSQL (old code in a worktree, alternated, four runs each): the API's CPU 0.34–0.36
→ 0.29–0.38 ms a transcript (means 0.352 → 0.325), the server's unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Column, Connection, Enum, Row, String, Table, TypeDecorator, func, insert, select, text
from sqlalchemy.exc import DBAPIError, StatementError

from qa_service.storage.upsert import dialect_insert

Field = tuple[str, Any, Callable[[Any], Any] | None]  # (row key, value when absent, conversion)


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts keyed by column key, every row the same keys) into ``table`` in the
    caller's transaction. Errors are SQLAlchemy's (``IntegrityError``, ``OperationalError``, …) on
    either path, so callers and the API's handlers see the same thing."""
    if not rows:
        return
    columns = _copy_columns(conn, table, _keys(table, rows))
    if columns is None:
        conn.execute(insert(table), list(rows))
        return
    _copy(conn, table, columns, rows)


def insert_rows_returning_ids(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> list[int]:
    """:func:`insert_rows` for a table with an integer ``id`` from a sequence: the new ids, in row order."""
    if not rows:
        return []
    id_col = table.c.id
    given = _keys(table, rows)
    columns = _copy_columns(conn, table, given | {"id"}) if "id" not in given else None
    ids: list[int | None] = [None]
    if columns is not None:
        name = conn.dialect.identifier_preparer.format_table(table)  # schema-qualified, quoted as needed
        sequence = func.pg_get_serial_sequence(name, id_col.name)
        ids = list(conn.execute(select(func.nextval(sequence)).select_from(func.generate_series(1, len(rows))))
                   .scalars())
    if None in ids:  # not PostgreSQL, or no sequence behind the column: the database numbers them
        result = conn.execute(insert(table).returning(id_col, sort_by_parameter_order=True), list(rows))
        return [row[0] for row in result]
    _copy(conn, table, columns, [{**row, "id": i} for row, i in zip(rows, ids)])
    return ids


def insert_new_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *, conflict: Sequence[str],
                    returning: Sequence[str]) -> list[Row]:
    """Insert the ``rows`` whose ``conflict`` columns (a unique key) are not stored yet; the ``returning``
    columns of those inserted (in no particular order). Errors are SQLAlchemy's, as for :func:`insert_rows`."""
    if not rows:
        return []
    columns = _copy_columns(conn, table, _keys(table, rows))
    if columns is None:
        stmt = dialect_insert(conn.dialect.name, table).on_conflict_do_nothing(index_elements=list(conflict))
        return list(conn.execute(stmt.returning(*(table.c[k] for k in returning)), list(rows)))
    prep = conn.dialect.identifier_preparer
    arrays = {}
    for i, (key, default, convert) in enumerate(_field(conn, c) for c in columns):
        try:
            arrays[f"a{i}"] = [row.get(key, default) if convert is None else convert(row.get(key, default))
                               for row in rows]
        except Exception as exc:  # a value its type refuses, as executemany says it
            raise StatementError(f"{type(exc).__name__}: {exc}", str(table), rows, exc) from exc
    casts = ", ".join(f"CAST(:a{i} AS {_array_of(c, conn)}[])" for i, c in enumerate(columns))
    sql = text(f"INSERT INTO {prep.format_table(table)} ({', '.join(prep.quote(c.name) for c in columns)}) "
               f"SELECT * FROM unnest({casts}) "
               f"ON CONFLICT ({', '.join(prep.quote(table.c[k].name) for k in conflict)}) DO NOTHING "
               f"RETURNING {', '.join(f'{prep.quote(table.c[k].name)} AS {prep.quote(k)}' for k in returning)}")
    try:
        return list(conn.execute(sql, arrays))
    except (TypeError, ValueError) as exc:  # psycopg dumps JSON while sending: a value it cannot take
        raise StatementError(f"{type(exc).__name__}: {exc}", str(sql), rows, exc) from exc


def _array_of(column: Column, conn: Connection) -> str:
    """The element type of ``column``'s array in :func:`insert_new_rows`. Strings go as ``TEXT``: an
    explicit cast to ``VARCHAR(n)`` cuts a longer value short where the insert must refuse it (and two
    keys that differ after ``n`` characters would become one); the column's own type then checks it."""
    impl = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
    if isinstance(impl, String) and not isinstance(impl, Enum):
        return "TEXT"
    return column.type.compile(dialect=conn.dialect)


def _keys(table: Table, rows: Sequence[dict[str, Any]]) -> set[str]:
    first = rows[0].keys()
    if any(r.keys() != first for r in rows):  # executemany reads the first row's keys only
        raise ValueError(f"rows for {table.name} must all have the same keys")
    unknown = first - table.columns.keys()
    if unknown:  # executemany would drop them silently
        raise KeyError(f"{table.name} has no column {sorted(unknown)[0]!r}")
    return set(first)


def _copy(conn: Connection, table: Table, columns: list[Column], rows: Sequence[dict[str, Any]]) -> None:
    prep = conn.dialect.identifier_preparer
    sql = f"COPY {prep.format_table(table)} ({', '.join(prep.quote(c.name) for c in columns)}) FROM STDIN"
    fields = [_field(conn, c) for c in columns]
    if not conn.in_transaction():
        conn.begin()  # reading conn.connection does not begin one: the rows would vanish at check-in
    dbapi = conn.connection.driver_connection
    try:
        with dbapi.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                try:
                    copy.write_row([row.get(k, d) if f is None else f(row.get(k, d)) for k, d, f in fields])
                except conn.dialect.loaded_dbapi.Error:
                    raise
                except Exception as exc:  # a value its type refuses (JSON is dumped here), as executemany says it
                    raise StatementError(f"{type(exc).__name__}: {exc}", sql, row, exc) from exc
    except conn.dialect.loaded_dbapi.Error as exc:
        gone = conn.dialect.is_disconnect(exc, dbapi, None)
        if gone:
            conn.invalidate(exc)
        raise DBAPIError.instance(sql, None, exc, conn.dialect.loaded_dbapi.Error,
                                  connection_invalidated=gone, dialect=conn.dialect) from exc


def _field(conn: Connection, column: Column) -> Field:
    """How a row's value for ``column`` becomes what ``COPY`` writes: the dialect's own bind processor
    for the column's type (a decorator's ``process_bind_param`` and its impl's; psycopg's ``Json`` for
    JSON), exactly what SQLAlchemy's ``INSERT`` would send."""
    default = column.default.arg if column.default is not None else None
    return column.key, default, column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)


def _copy_columns(conn: Connection, table: Table, given: set[str]) -> list[Column] | None:
    """The columns ``COPY`` must fill (the ``given`` keys, and those with a Python-side scalar default),
    or None where ``COPY`` cannot stand in for executemany."""
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
        return None
    columns = []
    for c in table.columns:
        if c.key in given:
            columns.append(c)
        elif c.default is not None:
            if not c.default.is_scalar:
                return None  # a callable default of a column left out: executemany runs it
            columns.append(c)
    return columns

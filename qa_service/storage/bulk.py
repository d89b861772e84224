"""Many rows into one table the cheapest way the database offers, with the rows converted before the write.

The hot writes — an ingest chunk's transcripts and utterances, a scored chunk's reports, findings,
flags, facts and rollups: tens of rows per transcript — went through SQLAlchemy's executemany, which
binds every parameter of every row in Python (on SQLite inside the write transaction, holding the
database's only write lock while it does) and on PostgreSQL runs one ``INSERT`` per row on the server.
Here rows are first :func:`prepare`\\ d: every value through the dialect's bind processor for its column
(type decorators; JSON dumped, or psycopg's ``Json``, so ``None`` is JSON ``null`` unless the column
says ``none_as_null``), the columns' Python-side scalar defaults filled in — exactly what SQLAlchemy's
own ``INSERT`` would send, and done before the caller's first write if it prepares early. Then:

- **insert** (:func:`insert_rows`): PostgreSQL ``COPY … FROM STDIN`` in the caller's transaction;
  SQLite the driver's executemany on the converted rows. Measured on PostgreSQL with 42,000 utterance
  rows in chunks of 640: executemany 453 ms wall and 340 ms of server CPU, ``COPY`` 206 ms and 180 ms.
- **insert with ids** (:func:`insert_rows_returning_ids`, a scored chunk's reports): PostgreSQL takes
  the ids from the table's sequence first and copies them with the rows (SQLAlchemy's multi-row
  ``INSERT … RETURNING`` is 25 kB of SQL for 64 reports, parsed again on every execution: psycopg
  caches only statements under 50 parameters); SQLite one multi-row ``INSERT … RETURNING id`` (SQLAlchemy
  ran one ``INSERT`` per row there to keep the ids in row order; rowids are handed out in row order
  within one statement, so the ids sorted are in row order).
- **insert new** (:func:`insert_new_rows`, an ingest chunk's transcripts): ``ON CONFLICT DO NOTHING``
  with the new rows' columns returned; on PostgreSQL one array per column into ``INSERT … SELECT FROM
  unnest(…)``: one short statement whatever the number of rows, prepared once.
- **upsert** (:func:`upsert_rows`, facts and rollups): ``ON CONFLICT DO UPDATE`` replacing some columns
  and adding to others; SQLite by the driver's executemany on the converted rows.

A value its column's type refuses raises SQLAlchemy's ``StatementError`` and the database's errors
come as SQLAlchemy's (``IntegrityError``, …) on every path, so callers see what executemany raised.
Another driver, or a callable default of a column the rows leave out, keeps SQLAlchemy's executemany.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Connection, Enum, Float, Integer, Row, String, Table, TypeDecorator, func, insert, select
from sqlalchemy.exc import DBAPIError, StatementError

from qa_service.storage.upsert import dialect_insert, upsert

Field = tuple[str, Any, Callable[[Any], Any] | None]  # (row key, value when absent, conversion)
FAST = {("postgresql", "psycopg"), ("sqlite", "pysqlite")}
SQLITE_MAX_VARIABLES = 32766  # per statement, SQLite ≥ 3.32's default (RETURNING needs 3.35); a build may set less


@dataclass(slots=True)
class Prepared:
    """One table's rows as the driver takes them (``columns`` None: SQLAlchemy converts ``rows`` itself)."""

    table: Table
    rows: Sequence[dict[str, Any]]
    columns: list[Column] | None
    values: list[list[Any]]

    def __len__(self) -> int:
        return len(self.rows)

    def remap(self, key: str, mapping: Mapping[Any, Any]) -> None:
        """Replace every row's ``key`` value ``v`` by ``mapping[v]``: a placeholder given at preparation
        (a report's transcript id) becomes what it stands for (the report's id, known after its insert).
        On the fast path only the converted values change; ``rows`` stay as given (error messages only)."""
        if self.columns is None:
            self.rows = [{**row, key: mapping[row[key]]} for row in self.rows]
            return
        i = next(k for k, c in enumerate(self.columns) if c.key == key)
        for v in self.values:
            v[i] = mapping[v[i]]


def prepare(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> Prepared:
    """``rows`` (dicts keyed by column key, every row the same keys) converted for ``table``. Raises
    ``KeyError`` for an unknown key, ``ValueError`` for rows whose keys differ (executemany would drop
    the one and misread the other) and ``StatementError`` for a value its column's type refuses."""
    if not rows:
        return Prepared(table, [], None, [])
    columns = _fast_columns(conn, table, _keys(table, rows))
    if columns is None:
        return Prepared(table, rows, None, [])
    fields = [_field(conn, c) for c in columns]
    values = []
    for row in rows:
        try:
            values.append([row.get(k, d) if f is None else f(row.get(k, d)) for k, d, f in fields])
        except Exception as exc:  # a value its type refuses, as executemany says it
            raise StatementError(f"{type(exc).__name__}: {exc}", str(table), row, exc) from exc
    return Prepared(table, rows, columns, values)


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]] | Prepared) -> None:
    """Insert the rows (or :func:`prepare`\\ d ones) into ``table`` in the caller's transaction."""
    p = rows if isinstance(rows, Prepared) else prepare(conn, table, rows)
    if not p.rows:
        return
    if p.columns is None:
        conn.execute(insert(table), list(p.rows))
    elif conn.dialect.name == "postgresql":
        _copy(conn, table, p.columns, p.values)
    else:
        conn.exec_driver_sql(_sqlite_insert(conn, table, p.columns), [tuple(v) for v in p.values])


def insert_rows_returning_ids(conn: Connection, table: Table, rows: Sequence[dict[str, Any]] | Prepared
                              ) -> list[int]:
    """:func:`insert_rows` for a table with an integer ``id`` the database numbers: the new ids, in row order."""
    p = rows if isinstance(rows, Prepared) else prepare(conn, table, rows)
    if not p.rows:
        return []
    id_col = table.c.id
    if p.columns is None or id_col in p.columns:
        result = conn.execute(insert(table).returning(id_col, sort_by_parameter_order=True), list(p.rows))
        return [row[0] for row in result]
    if conn.dialect.name == "sqlite":
        return sorted(i for (i,) in _sqlite_pages(conn, table, p, f"RETURNING {_q(conn, id_col.name)}"))
    name = conn.dialect.identifier_preparer.format_table(table)  # schema-qualified, quoted as needed
    sequence = func.pg_get_serial_sequence(name, id_col.name)
    ids = list(conn.execute(select(func.nextval(sequence)).select_from(func.generate_series(1, len(p))))
               .scalars())
    if None in ids:  # no sequence behind the column: the database numbers them
        result = conn.execute(insert(table).returning(id_col, sort_by_parameter_order=True), list(p.rows))
        return [row[0] for row in result]
    _copy(conn, table, [id_col, *p.columns], [[i, *v] for i, v in zip(ids, p.values)])
    return ids


def insert_new_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *, conflict: Sequence[str],
                    returning: Sequence[str]) -> list[Row]:
    """Insert the ``rows`` whose ``conflict`` columns (a unique key) are not stored yet; the ``returning``
    columns of those inserted (in no particular order)."""
    p = prepare(conn, table, rows)
    if not p.rows:
        return []
    if p.columns is None:
        stmt = dialect_insert(conn.dialect.name, table).on_conflict_do_nothing(index_elements=list(conflict))
        return list(conn.execute(stmt.returning(*(table.c[k] for k in returning)), list(p.rows)))
    tail = (f"ON CONFLICT ({_names(conn, table, conflict)}) DO NOTHING "
            f"RETURNING {', '.join(f'{_q(conn, table.c[k].name)} AS {_q(conn, k)}' for k in returning)}")
    if conn.dialect.name == "sqlite":
        return _sqlite_pages(conn, table, p, tail)
    return list(_unnest(conn, table, p, tail))


def upsert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]] | Prepared, *, keys: Sequence[str],
                replace: Sequence[str] = (), add: Sequence[str] = ()) -> None:
    """Insert rows (or :func:`prepare`\\ d ones); where one's ``keys`` are stored, set its ``replace`` columns
    to the new values and add the new values of its ``add`` columns to the stored ones. Rows must not
    repeat a key. PostgreSQL keeps SQLAlchemy's executemany (psycopg pipelines one prepared statement):
    one unnest statement took the server as long for a chunk's facts and cost the client more, dumping
    the arrays element by element."""
    p = rows if isinstance(rows, Prepared) else prepare(conn, table, rows)
    if not p.rows:
        return
    if p.columns is None or conn.dialect.name != "sqlite":
        conn.execute(upsert(conn.dialect.name, table, tuple(keys), replace=tuple(replace), add=tuple(add)),
                     list(p.rows))
        return
    named = {c: _q(conn, table.c[c].name) for c in (*replace, *add)}
    sets = [f"{named[c]} = excluded.{named[c]}" for c in replace]
    sets += [f"{named[c]} = target.{named[c]} + excluded.{named[c]}" for c in add]
    tail = f"ON CONFLICT ({_names(conn, table, keys)}) DO UPDATE SET {', '.join(sets)}"
    conn.exec_driver_sql(f"{_sqlite_insert(conn, table, p.columns, 'target')} {tail}", [tuple(v) for v in p.values])


def _q(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _names(conn: Connection, table: Table, keys: Sequence[str]) -> str:
    return ", ".join(_q(conn, table.c[k].name) for k in keys)


def _head(conn: Connection, table: Table, columns: Sequence[Column], alias: str | None) -> str:
    into = conn.dialect.identifier_preparer.format_table(table) + (f" AS {alias}" if alias else "")
    return f"INSERT INTO {into} ({', '.join(_q(conn, c.name) for c in columns)})"


def _sqlite_insert(conn: Connection, table: Table, columns: Sequence[Column], alias: str | None = None) -> str:
    """``INSERT … VALUES (?, …)`` for the driver's executemany."""
    return f"{_head(conn, table, columns, alias)} VALUES ({', '.join('?' * len(columns))})"


def _sqlite_pages(conn: Connection, table: Table, p: Prepared, tail: str) -> list[Row]:
    """``INSERT … VALUES (…), (…), … <tail>`` over the prepared rows, as many rows a statement as SQLite
    takes parameters; the rows the statements return."""
    head, width = _head(conn, table, p.columns, None), len(p.columns)
    per = max(1, _sqlite_variables(conn) // width)
    one = f"({', '.join('?' * width)})"
    out: list[Row] = []
    for k in range(0, len(p.values), per):
        chunk = p.values[k:k + per]
        sql = f"{head} VALUES {', '.join([one] * len(chunk))} {tail}"
        out += conn.exec_driver_sql(sql, tuple(v for values in chunk for v in values)).all()
    return out


def _sqlite_variables(conn: Connection) -> int:
    """How many parameters one statement may take on this SQLite build."""
    dbapi = conn.connection.driver_connection
    try:
        return dbapi.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    except (AttributeError, sqlite3.Error):  # another driver: SQLite ≥ 3.32's default
        return SQLITE_MAX_VARIABLES


def _unnest(conn: Connection, table: Table, p: Prepared, tail: str):
    """PostgreSQL: ``INSERT … SELECT * FROM unnest(one array per column) <tail>``, one statement."""
    arrays = tuple(_array_values(c, [v[i] for v in p.values]) for i, c in enumerate(p.columns))
    casts = ", ".join(f"CAST(%s AS {_array_of(c, conn)}[])" for c in p.columns)
    sql = f"{_head(conn, table, p.columns, None)} SELECT * FROM unnest({casts}) {tail}"
    try:
        return conn.exec_driver_sql(sql, arrays)
    except (TypeError, ValueError) as exc:  # psycopg dumps JSON while sending: a value it cannot take
        raise StatementError(f"{type(exc).__name__}: {exc}", sql, p.rows, exc) from exc


def _array_values(column: Column, values: list[Any]) -> list[Any]:
    """One column's values as one array: psycopg types a list by its elements, so a float column's
    ``0`` beside ``71.5`` (a rollup delta) is sent as a float."""
    impl = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
    if isinstance(impl, Float):
        return [None if v is None else float(v) for v in values]
    if isinstance(impl, Integer):
        return [None if v is None else int(v) for v in values]
    return values


def _array_of(column: Column, conn: Connection) -> str:
    """The element type of ``column``'s array in :func:`_unnest`. Strings go as ``TEXT``: an explicit
    cast to ``VARCHAR(n)`` cuts a longer value short where the insert must refuse it (and two keys that
    differ after ``n`` characters would become one); the column's own type then checks it."""
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


def _copy(conn: Connection, table: Table, columns: list[Column], values: list[list[Any]]) -> None:
    names = ", ".join(_q(conn, c.name) for c in columns)
    sql = f"COPY {conn.dialect.identifier_preparer.format_table(table)} ({names}) FROM STDIN"
    if not conn.in_transaction():
        conn.begin()  # reading conn.connection does not begin one: the rows would vanish at check-in
    dbapi = conn.connection.driver_connection
    try:
        with dbapi.cursor() as cursor, cursor.copy(sql) as copy:
            for row in values:
                try:
                    copy.write_row(row)
                except conn.dialect.loaded_dbapi.Error:
                    raise
                except Exception as exc:  # a value psycopg cannot dump (JSON is dumped here), as executemany says it
                    raise StatementError(f"{type(exc).__name__}: {exc}", sql, row, exc) from exc
    except conn.dialect.loaded_dbapi.Error as exc:
        gone = conn.dialect.is_disconnect(exc, dbapi, None)
        if gone:
            conn.invalidate(exc)
        raise DBAPIError.instance(sql, None, exc, conn.dialect.loaded_dbapi.Error,
                                  connection_invalidated=gone, dialect=conn.dialect) from exc


def _field(conn: Connection, column: Column) -> Field:
    """How a row's value for ``column`` becomes what the driver takes: the dialect's own bind processor
    for the column's type (a decorator's ``process_bind_param`` and its impl's; JSON dumped, or psycopg's
    ``Json``), exactly what SQLAlchemy's ``INSERT`` would send."""
    default = column.default.arg if column.default is not None else None
    return column.key, default, column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)


def _fast_columns(conn: Connection, table: Table, given: set[str]) -> list[Column] | None:
    """The columns a prepared row fills (the ``given`` keys, and those with a Python-side scalar default),
    or None where only SQLAlchemy's executemany will do."""
    if (conn.dialect.name, conn.dialect.driver) not in FAST:
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

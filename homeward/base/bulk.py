"""Bulk writes for many rows at once: ids chosen before the rows are written, one statement a
table, and id lists sent as one value.

On PostgreSQL a bulk insert is ``INSERT ... SELECT ... FROM json_populate_recordset(<the rows
as one JSON text>)``: its text and its plan do not grow with its rows, it is one round trip, and
the rows are encoded by one ``json.dumps`` (COPY would be faster but is refused to the app's
login under row security; an array a column cost a Python loop over every value). Inside
``pipelined`` the inserts are sent without waiting for each answer. An id list is
``= ANY(<array>)`` rather than an ``IN`` list of one parameter an id. On SQLite both are the
plain forms (the driver's executemany, ``IN``): SQLite runs in the process, so a statement
costs no round trip."""

from __future__ import annotations

import gc
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from itertools import chain
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    ARRAY,
    JSON,
    Boolean,
    ColumnElement,
    Connection,
    Date,
    DateTime,
    Engine,
    Table,
    any_,
    event,
    literal,
    select,
    text,
)
from sqlalchemy import func as sql_func
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import Pool
from sqlmodel import Session

from homeward.base.clock import moment_key
from homeward.base.db import is_postgres
from homeward.base.models import AwareDateTime


def among(conn: Session | Connection, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """``column`` is one of ``ids``: ``= ANY(array)`` on PostgreSQL (one parameter and one
    plan, whatever the count, instead of an ``IN`` list of a thousand), ``IN`` on SQLite."""
    if is_postgres(conn):
        return column == any_(literal(list(ids), ARRAY(column.type)))  # type: ignore[no-any-return]
    return column.in_(ids)  # type: ignore[no-any-return]


def new_ids(conn: Connection, table: Table, count: int) -> list[int]:
    """``count`` fresh primary keys for ``table``, ascending. PostgreSQL draws them from the
    column's sequence; SQLite gives the next ones after the largest (a write transaction there
    holds the database's write lock from its start, so no other writer can take them)."""
    if count == 0:
        return []
    pk = next(iter(table.primary_key.columns))
    if is_postgres(conn):
        # one row of text rather than a row an id (100,000 rows cost more to fetch than to draw)
        query = text(
            "SELECT string_agg(n::text, ',') FROM (SELECT nextval(pg_get_serial_sequence("
            ":table, :column)) AS n FROM generate_series(1, :count)) AS drawn"
        )
        drawn = conn.execute(query, {"table": table.name, "column": pk.name, "count": count})
        return sorted(map(int, drawn.scalar_one().split(",")))
    largest = conn.execute(select(sql_func.coalesce(sql_func.max(pk), 0))).scalar_one()
    return list(range(largest + 1, largest + 1 + count))


def complete(table: Table, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with every column of ``table``: its default where it has one, else None (as
    the database will hold them). A column left to a server-side default alone is refused:
    what the database puts there is not known here. Rows that have every column already are
    given back as they are (the same dicts)."""
    if not rows:
        return []
    given = set(rows[0])
    fixed: dict[str, Any] = {}
    called: list[tuple[str, Any]] = []  # a default computed for each row (a timestamp ...)
    for column in table.columns:
        if column.name in given or column is table.autoincrement_column:
            continue  # an id left out is the sequence's
        default = column.default
        if default is None and column.server_default is not None:
            raise ValueError(f"{table.name}.{column.name}: give it, its default is the server's")
        if default is not None and default.is_callable:
            called.append((column.name, default.arg))  # type: ignore[attr-defined]
        else:
            fixed[column.name] = _default(default)
    if not fixed and not called:
        return list(rows)
    out = []
    for row in rows:
        full = fixed.copy()
        for name, make in called:
            full[name] = make(None)
        full.update(row)
        out.append(full)
    return out


def _default(default: Any) -> Any:
    if default is None:
        return None
    if default.is_scalar:
        return default.arg
    if default.is_callable:
        return default.arg(None)
    raise ValueError("a SQL default: give the column")


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (plain dicts, every one with the same keys) into ``table``; columns left
    out take their defaults (``complete``) on PostgreSQL as through SQLAlchemy on SQLite.

    PostgreSQL gets the rows as one JSON text, turned into the table's rows by
    ``json_populate_recordset`` (its C parser, each value read by its column's type): one
    ``json.dumps`` here instead of a Python loop over every value (an array a column cost
    about as much as building the rows)."""
    if not rows:
        return
    if not is_postgres(conn):
        _insert_sqlite(conn, table, rows)
        return
    rows = complete(table, rows)
    names = list(rows[0])
    preparer = conn.dialect.identifier_preparer
    quoted = ", ".join(preparer.quote(name) for name in names)
    # Names come from our own tables' metadata; the rows are one bound value.
    statement = (
        f"INSERT INTO {preparer.format_table(table)} ({quoted}) "  # noqa: S608
        f"SELECT {quoted} FROM json_populate_recordset(NULL::{preparer.format_table(table)}, "
        "CAST(:rows AS JSON))"
    )
    pipeline = conn.info.get(_PIPELINE)
    if pipeline is None:
        conn.execute(text(statement), {"rows": _to_json(rows)})
    else:  # sent, not waited for: the server answers at the block's end
        pipeline.execute(statement.replace(":rows", "%(rows)s"), {"rows": _to_json(rows)})


def insert_new_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    unique: str,
    returning: Sequence[str],
) -> list[Any]:
    """PostgreSQL: insert ``rows`` as ``insert_rows`` does (one JSON text, one short statement
    whatever their count), skipping those whose ``unique`` column is taken already (``ON
    CONFLICT DO NOTHING``); returns the ``returning`` columns of the rows inserted. The
    multi-row ``VALUES`` it replaces had a parameter a value (3,432 for 312 outbox rows), which
    psycopg parsed anew each time and the server planned anew (issue 19 point 7). A JSON
    column's value is written as ``json.dumps`` writes it (ASCII), as SQLAlchemy's JSON type
    did. Every row has the same keys, all of them columns."""
    preparer = conn.dialect.identifier_preparer
    names = ", ".join(preparer.quote(name) for name in rows[0])
    back = ", ".join(preparer.quote(name) for name in returning)
    where = preparer.format_table(table)
    # Names come from our own tables' metadata; the rows are one bound value.
    statement = (
        f"INSERT INTO {where} ({names}) SELECT {names} "  # noqa: S608
        f"FROM json_populate_recordset(NULL::{where}, CAST(:rows AS JSON)) "
        f"ON CONFLICT ({preparer.quote(unique)}) DO NOTHING RETURNING {back}"
    )
    encoded = json.JSONEncoder(default=_json_value, check_circular=False).encode(rows)
    return list(conn.execute(text(statement), {"rows": encoded}).all())


_paused_lock = threading.Lock()
_paused: list[Any] = [0, False]  # blocks inside (every thread's), and whether it was on before


@contextmanager
def collection_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off inside the block, as it was once the last such
    block (of any thread: the collector is the process's) has ended. A bulk write allocates
    millions of objects that live to its end (the rows, kept for their seals; their texts),
    none of them in a cycle: each collection walked them all again, about 8% of an import's
    CPU at 10,000 to 30,000 cases (half its validation's), more the larger it was."""
    with _paused_lock:
        if _paused[0] == 0:
            _paused[1] = gc.isenabled()
            gc.disable()
        _paused[0] += 1
    try:
        yield
    finally:
        with _paused_lock:
            _paused[0] -= 1
            if _paused[0] == 0 and _paused[1]:
                gc.enable()


# SQLite's page cache for a bulk write, in KiB (its default is 2 MiB): a large import's random
# keys (case_refs, blind indexes) reach pages all over their indexes, which no longer fitted
# (at 50,000 cases, 9% of the import's CPU went to reading pages again).
SQLITE_BULK_CACHE_KIB = 65536
_CACHE_WAS = "homeward.sqlite_cache_size"  # the pooled connection's info: its size before


def widen_sqlite_cache(conn: Connection) -> None:
    """SQLite: the connection's page cache at ``SQLITE_BULK_CACHE_KIB`` until the connection
    goes back to its pool, after its transaction (so its commit, which writes the seals, has
    it too); then as it was. Nothing if it was as large already, or on PostgreSQL."""
    if is_postgres(conn):
        return
    was = int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one())
    if (-was if was < 0 else was * 4) >= SQLITE_BULK_CACHE_KIB:  # (a page: 4 KiB at least)
        return
    conn.connection.info.setdefault(_CACHE_WAS, was)
    conn.exec_driver_sql(f"PRAGMA cache_size={-SQLITE_BULK_CACHE_KIB}")  # negative: in KiB


@event.listens_for(Pool, "checkin")
def _cache_as_it_was(dbapi_conn: Any, record: Any) -> None:
    was = record.info.pop(_CACHE_WAS, None) if record is not None else None
    if was is not None and dbapi_conn is not None:
        dbapi_conn.execute(f"PRAGMA cache_size={int(was)}")


_PIPELINE = "homeward.bulk_pipeline"  # Connection.info: the driver's cursor, in pipeline mode


@event.listens_for(Engine, "before_cursor_execute")
def _nothing_else_inside(conn: Connection, *_args: Any) -> None:
    """A statement through SQLAlchemy inside ``pipelined`` would read an answer not yet come
    (a query's rows as none): refused."""
    if _PIPELINE in conn.info:
        raise RuntimeError("bulk.pipelined: only insert_rows may run inside the block")


@contextmanager
def pipelined(conn: Connection) -> Iterator[None]:
    """PostgreSQL: inside the block, ``insert_rows`` sends its statements without waiting for
    each one's answer (psycopg's pipeline mode), so the server writes one table's rows while
    this process builds the next. No other statement may run on ``conn`` inside the block
    (SQLAlchemy would read a result not yet come). The server's answers are awaited at the
    block's end, where an error is raised as SQLAlchemy raises it (``DBAPIError``); the
    transaction is then failed. SQLite, or a block inside another: nothing changes."""
    if not is_postgres(conn) or _PIPELINE in conn.info:
        yield
        return
    import psycopg

    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)  # noqa: S101 (is_postgres: psycopg's)
    try:
        with driver.pipeline(), driver.cursor() as cursor:
            conn.info[_PIPELINE] = cursor
            try:
                yield
            finally:
                del conn.info[_PIPELINE]
    except psycopg.Error as exc:
        raise DBAPIError.instance(None, None, exc, psycopg.Error, dialect=conn.dialect) from exc


def _json_value(value: Any) -> Any:
    """A value ``json`` does not know, as PostgreSQL reads it for its column."""
    if isinstance(value, datetime):
        if value.tzinfo is None:  # as AwareDateTime refuses it
            raise ValueError("naive datetime given; Homeward stores aware UTC datetimes only")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return "\\x" + bytes(value).hex()  # bytea's hex input
    raise TypeError(f"cannot send a {type(value).__name__} in a bulk insert")


def _to_json(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as one JSON text. A JSON value of a JSON column is given as it is (the column
    takes the nested value); a missing value is SQL NULL, as the arrays gave it before. A
    datetime met again (the import's timestamps) is looked up, not converted again: by
    ``moment_key``, the same instant, whose text in UTC is the same."""
    seen: dict[Any, Any] = {}

    def default(value: Any) -> Any:
        if type(value) is datetime:
            key = moment_key(value)
            got = seen.get(key)
            if got is None:
                got = seen[key] = _json_value(value)
            return got
        return _json_value(value)

    encoder = json.JSONEncoder(default=default, ensure_ascii=False, check_circular=False)
    return encoder.encode(rows)


# SQLite: rows a statement (``_insert_sqlite``), and the bound values a statement may take at
# most (SQLite's default cap, 32,766; builds may set it higher, none lower).
SQLITE_ROWS_A_STATEMENT = 100
_SQLITE_MAX_VALUES = 32766


def _insert_sqlite(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """SQLite: the rows as statements of up to ``SQLITE_ROWS_A_STATEMENT`` rows each (one
    ``VALUES`` list of many rows), each value converted by its column's type (as SQLAlchemy
    would, without building its parameters row by row). A statement a row (the driver's
    executemany) cost twice the instructions: each row's statement opened the table's and
    every index's cursor again and sought each index from its root, where one statement
    keeps them open and positioned for the next row (with ids ascending, at the end).

    The rows are taken a column at a time (``itemgetter``, not a Python loop over the rows);
    a value repeated down a column (the import's timestamps, flags, JSON data) is converted
    once (``_converted``)."""
    names = list(rows[0])
    columns: list[Any] = [list(map(itemgetter(name), rows)) for name in names]
    for n, name in enumerate(names):
        column_type = table.c[name].type
        process = column_type.bind_processor(conn.dialect)
        if process is not None:
            columns[n] = _converted(column_type, process, columns[n])
    # A column NULL in every row (an imported item's outcome, assignee, completion ...) is
    # written as NULL in the statement instead of bound at every row: the driver sends None
    # through its adapter lookup, about a third of an import's binding (the same NULL).
    empty = [column.count(None) == len(column) for column in columns]
    if all(empty):  # nothing would be bound: each row as one row of NULLs still
        empty = [False] * len(empty)
    bound = [c for c, e in zip(columns, empty, strict=True) if not e]
    values = list(chain.from_iterable(zip(*bound, strict=True)))  # row after row
    preparer = conn.dialect.identifier_preparer
    head = (
        f"INSERT INTO {preparer.format_table(table)} "  # noqa: S608
        f"({', '.join(preparer.quote(name) for name in names)}) VALUES "
    )
    one = f"({', '.join('NULL' if e else '?' for e in empty)})"
    width = len(bound)
    most = max(1, min(SQLITE_ROWS_A_STATEMENT, _SQLITE_MAX_VALUES // width))
    full = head + ", ".join([one] * most)  # the same text each time: prepared once
    for start in range(0, len(rows), most):
        count = min(most, len(rows) - start)
        statement = full if count == most else head + ", ".join([one] * count)
        conn.exec_driver_sql(statement, tuple(values[start * width : (start + count) * width]))


# Types whose conversion gives equal results for equal values (an instant in any zone is
# stored as UTC; True and 1 both as 1): a value met again down a column is looked up (a
# datetime by ``moment_key``: ``==`` ignores ``fold``).
_BY_VALUE = (DateTime, Date, Boolean, AwareDateTime)
_MISSING = object()


def _converted(column_type: Any, process: Any, values: list[Any]) -> list[Any]:
    """``process`` over a column's values, each distinct value converted once: by value for
    ``_BY_VALUE`` types, by identity for JSON (the same dict given to many rows; the rows
    hold it for the whole insert), else every value. A value converted once is also adapted
    for the driver once (``_bound``).

    A column of few objects (the import's one ``now``, its flags, its shared JSON data:
    each object given to many rows) is looked up by identity without a Python loop over
    its values: the same object converts to the same value, whatever its type."""
    by_id = isinstance(column_type, JSON)
    if not by_id and not isinstance(column_type, _BY_VALUE):
        return [process(value) for value in values]
    objects = dict(zip(map(id, values), values, strict=True))  # the values alive: ids hold
    if len(objects) * 8 <= len(values):
        made = {key: _bound(process(value)) for key, value in objects.items()}
        return list(map(made.__getitem__, map(id, values)))
    seen: dict[Any, Any] = {}
    out = []
    for value in values:
        key = id(value) if by_id else moment_key(value) if type(value) is datetime else value
        got = seen.get(key, _MISSING)
        if got is _MISSING:
            got = seen[key] = _bound(process(value))
        out.append(got)
    return out


def _bound(value: Any) -> Any:
    """What the driver binds for ``value``: a datetime or date through its adapter (the same
    one, once here instead of at every row), anything else as it is."""
    return sqlite3.adapt(value, sqlite3.PrepareProtocol) if isinstance(value, date) else value

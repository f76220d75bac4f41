"""Bulk writes for many rows at once: ids chosen before the rows are written, one statement a
table, and id lists sent as one value.

On PostgreSQL a bulk insert is ``INSERT ... SELECT * FROM unnest(<one array a column>)``: its
text and its plan do not grow with its rows, and it is one round trip (COPY would be faster
but is refused to the app's login under row security). An id list is ``= ANY(<array>)``
rather than an ``IN`` list of one parameter an id. On SQLite both are the plain forms
(executemany, ``IN``): SQLite runs in the process, so a statement costs no round trip.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Connection, Table, any_, literal, select, text
from sqlalchemy import func as sql_func
from sqlalchemy.types import JSON
from sqlmodel import Session

from homeward.base.db import is_postgres


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
        query = text(
            "SELECT nextval(pg_get_serial_sequence(:table, :column)) "
            "FROM generate_series(1, :count)"
        )
        drawn = conn.execute(query, {"table": table.name, "column": pk.name, "count": count})
        return sorted(drawn.scalars())
    largest = conn.execute(select(sql_func.coalesce(sql_func.max(pk), 0))).scalar_one()
    return list(range(largest + 1, largest + 1 + count))


def complete(table: Table, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with every column of ``table``: its default where it has one, else None (as
    the database will hold them). A column left to a server-side default alone is refused:
    what the database puts there is not known here."""
    if not rows:
        return []
    given = set(rows[0])
    fill: dict[str, Any] = {}
    for column in table.columns:
        if column.name in given or column is table.autoincrement_column:
            continue  # an id left out is the sequence's
        default = column.default
        if default is None and column.server_default is not None:
            raise ValueError(f"{table.name}.{column.name}: give it, its default is the server's")
        fill[column.name] = default
    return [{**{n: _default(d) for n, d in fill.items()}, **row} for row in rows]


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
    out take their defaults (``complete``) on PostgreSQL as through SQLAlchemy on SQLite."""
    if not rows:
        return
    if not is_postgres(conn):
        conn.execute(table.insert(), list(rows))
        return
    rows = complete(table, rows)
    names = list(rows[0])
    arrays, picked, params = [], [], {}
    for n, name in enumerate(names):
        column = table.c[name]
        sql_type = column.type.compile(dialect=conn.dialect)
        if isinstance(column.type, JSON):  # sent as text, each one cast to JSON
            arrays.append(f"CAST(:c{n} AS TEXT[])")
            picked.append(f"CAST(u.c{n} AS {sql_type})")
        else:
            arrays.append(f"CAST(:c{n} AS {sql_type}[])")
            picked.append(f"u.c{n}")
        params[f"c{n}"] = _column_values(conn, column, (row[name] for row in rows))
    preparer = conn.dialect.identifier_preparer
    # Names and types come from our own tables' metadata; every value is bound.
    statement = (
        f"INSERT INTO {preparer.format_table(table)} "  # noqa: S608
        f"({', '.join(preparer.quote(name) for name in names)}) "
        f"SELECT {', '.join(picked)} FROM unnest({', '.join(arrays)}) "
        f"AS u({', '.join(f'c{n}' for n in range(len(names)))})"
    )
    conn.execute(text(statement), params)


def _column_values(conn: Connection, column: Any, values: Iterable[Any]) -> list[Any]:
    """The values as the column's type would send them (aware datetimes to UTC, ...)."""
    if isinstance(column.type, JSON):
        return [None if v is None else json.dumps(v) for v in values]
    process = column.type.bind_processor(conn.dialect)
    return [process(v) for v in values] if process else list(values)

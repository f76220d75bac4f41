"""Bulk writes (``homeward.base.bulk``): rows read back as given, on either database, and
nothing but bulk inserts runs inside a PostgreSQL pipeline."""

from __future__ import annotations

import gc
import threading
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select, text

from homeward.base.bulk import (
    SQLITE_BULK_CACHE_KIB,
    SQLITE_ROWS_A_STATEMENT,
    collection_paused,
    insert_rows,
    pipelined,
    widen_sqlite_cache,
)
from homeward.base.clock import utc
from homeward.base.models import CaseEvent
from tests import factories as f
from tests.conftest import BACKEND

EVENTS = CaseEvent.__table__  # type: ignore[attr-defined]


def test_bulk_rows_read_back_as_given(engine, clock):
    f.seed()
    f.open_case(clock)
    with engine.connect() as conn:
        case_id = conn.execute(text("SELECT min(id) FROM return_case")).scalar_one()
    at = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
    rows = [
        {
            "case_id": case_id,
            "at": at,
            "trigger": "import",
            "to_state": "x",
            "data": {"a": [1, "é"]},
        },
        {"case_id": case_id, "at": at, "trigger": "import", "to_state": "y", "data": {}},
    ]
    with engine.begin() as conn:  # the owner: no row security to satisfy here
        insert_rows(conn, EVENTS, rows)
        found = conn.execute(
            select(EVENTS.c.at, EVENTS.c.to_state, EVENTS.c.data, EVENTS.c.from_state)
            .where(EVENTS.c.trigger == "import")
            .order_by(EVENTS.c.to_state)
        ).all()
    assert [tuple(r) for r in found] == [(at, "x", {"a": [1, "é"]}, None), (at, "y", {}, None)]


def test_values_repeated_down_a_column_read_back_as_given(engine, clock):
    """A value met again down a column is converted once (the same instant in another zone,
    the same dict given to several rows, a naive datetime still refused)."""
    f.seed()
    f.open_case(clock)
    with engine.connect() as conn:
        case_id = conn.execute(text("SELECT min(id) FROM return_case")).scalar_one()
    at = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    same = at.astimezone(timezone(timedelta(hours=2)))  # equal to ``at``: the same instant
    shared = {"a": 1}
    rows = [
        {"case_id": case_id, "at": moment, "trigger": "bulk", "to_state": state, "data": data}
        for moment, state, data in [
            (at, "a", shared),
            (same, "b", shared),
            (at + timedelta(days=1), "c", {"a": 2}),
            (at, "d", shared),
        ]
    ]
    with engine.begin() as conn:
        insert_rows(conn, EVENTS, rows)
        found = conn.execute(
            select(EVENTS.c.at, EVENTS.c.data)
            .where(EVENTS.c.trigger == "bulk")
            .order_by(EVENTS.c.to_state)
        ).all()
    moments = [at, at, at + timedelta(days=1), at]
    assert [tuple(r) for r in found] == [
        (moment, data)
        for moment, data in zip(moments, [shared, shared, {"a": 2}, shared], strict=True)
    ]
    naive = [{**rows[0], "at": at.replace(tzinfo=None)}]
    with engine.begin() as conn, pytest.raises(Exception, match="naive datetime"):
        insert_rows(conn, EVENTS, naive)


def test_more_rows_than_a_statement_holds_read_back_in_order(engine, clock):
    """SQLite writes rows a statement of several at a time: two full statements and a
    shorter last one give every row, in its order (ids follow it), NULL columns as NULL."""
    f.seed()
    f.open_case(clock)
    with engine.connect() as conn:
        case_id = conn.execute(text("SELECT min(id) FROM return_case")).scalar_one()
    at = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    count = 2 * SQLITE_ROWS_A_STATEMENT + 7
    rows = [
        {
            "case_id": case_id,
            "at": at + timedelta(seconds=n),
            "trigger": "many",
            "to_state": f"s{n}",
            "from_state": None,
            "data": {"n": n},
        }
        for n in range(count)
    ]
    with engine.begin() as conn:
        insert_rows(conn, EVENTS, rows)
        found = conn.execute(
            select(EVENTS.c.at, EVENTS.c.to_state, EVENTS.c.from_state, EVENTS.c.data)
            .where(EVENTS.c.trigger == "many")
            .order_by(EVENTS.c.id)
        ).all()
    assert [tuple(r) for r in found] == [
        (at + timedelta(seconds=n), f"s{n}", None, {"n": n}) for n in range(count)
    ]


def test_the_two_instants_of_a_repeated_wall_time_read_back_apart(engine, clock):
    """When clocks go back, a wall time comes twice (``fold`` 0, then 1): equal under ``==``
    and hashed alike in their zone, yet an hour apart. Each is stored as its own instant."""
    f.seed()
    f.open_case(clock)
    with engine.connect() as conn:
        case_id = conn.execute(text("SELECT min(id) FROM return_case")).scalar_one()
    first = datetime(2026, 10, 25, 3, 30, tzinfo=ZoneInfo("Europe/Bucharest"))
    second = first.replace(fold=1)
    assert first == second and hash(first) == hash(second)  # what a plain cache would merge
    rows = [
        {"case_id": case_id, "at": moment, "trigger": "fold", "to_state": state, "data": {}}
        for moment, state in [(first, "a"), (second, "b"), (first, "c")]
    ]
    with engine.begin() as conn:
        insert_rows(conn, EVENTS, rows)
        found = conn.scalars(
            select(EVENTS.c.at).where(EVENTS.c.trigger == "fold").order_by(EVENTS.c.to_state)
        ).all()
    assert [utc(moment) for moment in found] == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
    ]


@pytest.mark.skipif(BACKEND != "postgres", reason="the pipeline is PostgreSQL's")
def test_nothing_but_bulk_inserts_runs_inside_a_pipeline(engine):
    with engine.connect() as conn, conn.begin():
        with pytest.raises(RuntimeError, match="pipelined"), pipelined(conn):
            conn.execute(text("SELECT 1"))  # its rows would not have come yet
        assert conn.execute(text("SELECT 1")).scalar_one() == 1  # after the block, as ever


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's page cache")
def test_a_bulk_writes_wider_cache_lasts_to_its_connections_return(engine: Engine) -> None:
    """``widen_sqlite_cache``: wider for the rest of the transaction (its commit writes the
    seals), as it was once the connection is back in its pool."""
    with engine.connect() as conn:
        was = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
    with engine.connect() as conn:
        used = conn.connection.dbapi_connection
        widen_sqlite_cache(conn)
        widen_sqlite_cache(conn)  # twice: as it was before the first, after
        wider = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
        conn.commit()
        assert wider == -SQLITE_BULK_CACHE_KIB != was
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == wider  # committed
    with engine.connect() as conn:  # the pool's connection again
        assert conn.connection.dbapi_connection is used
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == was


def test_the_collector_waits_inside_a_bulk_write_only() -> None:
    assert gc.isenabled()
    with collection_paused():
        assert not gc.isenabled()
        with collection_paused():  # nested: still off after the inner block
            pass
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError, match="boom"), collection_paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_the_collector_is_back_once_every_threads_bulk_write_has_ended() -> None:
    """The collector is the process's: one thread's block ending leaves it off while another
    thread's is still inside, and the last to end puts it back."""
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with collection_paused():
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=other)
    with collection_paused():
        thread.start()
        assert inside.wait(10)
    assert not gc.isenabled()  # the other thread's block is still inside
    leave.set()
    thread.join(10)
    assert gc.isenabled()

"""Engines and sessions.

SQLite runs in WAL mode with synchronous=FULL (a committed write survives a power cut, not only
a crash; ``HOMEWARD_SQLITE_SYNCHRONOUS=NORMAL`` trades that for faster commits), foreign keys on
and a busy timeout; a write session opens its transaction with ``BEGIN IMMEDIATE`` so two
writers queue instead of failing mid-transaction.
Reads use a deferred transaction. PostgreSQL uses its defaults (READ COMMITTED) plus the
optimistic lock on ``Case.version``. With ``HOMEWARD_DB_ROLE`` set, PostgreSQL connections act
as that role, not the tables' owner, so the row-security policies of migration 0005 apply:
each transaction says which organisation it acts for (``act_as``) or that it is the system
(``system_scope``); a transaction that says neither cannot read case data at all.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session

from homeward.base.errors import Conflict, InvalidInput
from homeward.base.files import PRIVATE, tighten
from homeward.base.settings import get_settings

_WRITE = "homeward_write"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for ``postgresql://`` URLs; leave everything else alone."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _prepare_sqlite_file(url: str) -> None:
    """Create the database file 0600 (SQLite gives its ``-wal`` and ``-shm`` the same mode)."""
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE))
        for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if each.exists():
                tighten(each)


def _install_sqlite_hooks(
    engine: Engine, busy_timeout_ms: int, synchronous: Literal["FULL", "NORMAL"]
) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute(f"PRAGMA synchronous={synchronous}")  # one of two words (settings)
        # Deleted and overwritten values are zeroed in the file, not left in free space: a
        # purged case's wrapped key must not outlive the purge there (crypto-shredding).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str | None = None) -> Engine:
    """Create an engine for ``url`` (default: the configured database URL)."""
    settings = get_settings()
    url = normalise_url(url or settings.database_url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidInput(
            "HOMEWARD_DATABASE_URL is not a database URL; use sqlite:///path or postgresql://..."
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        _prepare_sqlite_file(url)
        timeout = settings.sqlite_busy_timeout_ms / 1000
        engine = create_engine(url, connect_args={"timeout": timeout})
        _install_sqlite_hooks(engine, settings.sqlite_busy_timeout_ms, settings.sqlite_synchronous)
        return engine
    engine = create_engine(url, pool_pre_ping=True)
    if settings.db_role:
        _install_role(engine, settings.db_role)
    return engine


def _install_role(engine: Engine, role: str) -> None:
    """Every pooled connection acts as ``role`` (not the tables' owner: row security applies)."""

    @event.listens_for(engine, "connect")
    def _set_role(dbapi_conn: Any, _record: Any) -> None:
        with dbapi_conn.cursor() as cursor:
            cursor.execute(f'SET ROLE "{role}"')
        dbapi_conn.commit()


def _set(session: Session | Connection, name: str, value: str) -> None:
    bind = session.get_bind() if isinstance(session, Session) else session
    if bind.dialect.name == "postgresql":
        session.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})


def act_as(session: Session | Connection, org_id: int) -> None:
    """Row security (PostgreSQL): this transaction acts for organisation ``org_id``."""
    _set(session, "homeward.org_id", str(org_id))


_SYSTEM_DEPTH = "homeward.system_depth"


@contextmanager
def system_scope(session: Session | Connection) -> Iterator[None]:
    """Row security (PostgreSQL): inside the block, act for the system (sweeps, purges).

    Blocks nest: an inner one (the case-history listeners, inside a scheduler's command) leaves
    the outer one acting for the system when it ends; only the outermost stops it."""
    depth = session.info.get(_SYSTEM_DEPTH, 0)
    session.info[_SYSTEM_DEPTH] = depth + 1
    if depth == 0:
        _set(session, "homeward.system", "on")
    try:
        yield
        if isinstance(session, Session):  # write the block's changes while acting for the system:
            session.flush()  # SQLAlchemy 2.0 does not flush before a text() statement resets it
    finally:
        session.info[_SYSTEM_DEPTH] = depth
        if depth == 0:
            _set(session, "homeward.system", "off")


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    """A cached engine per URL, so a process keeps one connection pool per database."""
    return make_engine(url)


@contextmanager
def read_session(engine: Engine | None = None) -> Iterator[Session]:
    """A session for reading; nothing it does is committed (closing it rolls back)."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        yield session


@contextmanager
def write_session(engine: Engine | None = None) -> Iterator[Session]:
    """One write transaction: committed if the block succeeds, rolled back whole if it raises."""
    bound = (engine or get_engine()).execution_options(**{_WRITE: True})
    with Session(bound, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except StaleDataError:
            session.rollback()
            raise Conflict(
                "the case was changed by someone else at the same time; show it again and retry"
            ) from None
        except BaseException:
            session.rollback()
            raise

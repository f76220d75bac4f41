"""Engines and sessions.

SQLite runs in WAL mode with synchronous=FULL (a committed write survives a power cut, not only
a crash; ``HOMEWARD_SQLITE_SYNCHRONOUS=NORMAL`` trades that for faster commits), foreign keys on
and a busy timeout; a write session opens its transaction with ``BEGIN IMMEDIATE`` so two
writers queue instead of failing mid-transaction. A process serving for long checkpoints the
write-ahead log in a thread, not in its commits (``checkpoints``).
Reads use a deferred transaction. PostgreSQL uses its defaults (READ COMMITTED) plus the
optimistic lock on ``Case.version``. On PostgreSQL the app logs in with a login of its own
that owns nothing (``homeward db roles``), so the row-security policies apply; the scope of a
transaction is set by definer functions the login cannot bypass (migration 0015): a signed-in
person's session token names the organisation (``act_for_token``), and only the system login
(the scheduler's, the operator's) may name one itself (``act_as``) or act for the system
(``system_scope``). A transaction that says none of these cannot read case data at all.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, PendingRollbackError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session

from homeward.base import checkpoints
from homeward.base.errors import Conflict, SetupInvalid, SetupRefused
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
    database = engine.url.database
    path = None  # a file a checkpointer may open (not memory, not a URI's options)
    if database and database != ":memory:" and not database.startswith("file:"):
        path = os.path.abspath(database)  # as SQLAlchemy's pysqlite opens it

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

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: sqlite3.Connection, record: Any, _proxy: Any) -> None:
        checkpoints.on_checkout(dbapi_conn, record.info, path)

    @event.listens_for(engine, "commit")
    def _on_commit(_conn: Any) -> None:
        checkpoints.committed()


def make_engine(url: str | None = None) -> Engine:
    """Create an engine for ``url`` (default: the configured database URL)."""
    settings = get_settings()
    if settings.db_role:  # SET ROLE from the owner's login is undone by RESET ROLE
        raise SetupInvalid(
            "HOMEWARD_DB_ROLE: no longer used; log the app in with its own login "
            "(`homeward db roles`) in HOMEWARD_DATABASE_URL and unset HOMEWARD_DB_ROLE"
        )
    url = normalise_url(url or settings.database_url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise SetupInvalid(
            "HOMEWARD_DATABASE_URL is not a database URL; use sqlite:///path or postgresql://..."
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        _prepare_sqlite_file(url)
        timeout = settings.sqlite_busy_timeout_ms / 1000
        engine = create_engine(url, connect_args={"timeout": timeout})
        _install_sqlite_hooks(engine, settings.sqlite_busy_timeout_ms, settings.sqlite_synchronous)
        return engine
    from homeward.base.models import with_postgresql_options

    with_postgresql_options()
    return create_engine(url, pool_pre_ping=True)


def is_postgres(session: Session | Connection) -> bool:
    """Whether ``session`` talks to PostgreSQL (row security and its definer functions)."""
    bind = session.get_bind() if isinstance(session, Session) else session
    return bind.dialect.name == "postgresql"


def insert_for(session: Session | Connection) -> Any:
    """The ``insert`` of the dialect in use (both know ``ON CONFLICT DO NOTHING``), imported
    when asked for: SQLAlchemy's PostgreSQL dialect costs a command on SQLite its import."""
    if is_postgres(session):
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def _call(session: Session | Connection, sql: str, **params: Any) -> None:
    if is_postgres(session):
        session.execute(text(sql), params)


def act_for_token(session: Session | Connection, token: str) -> None:
    """Row security (PostgreSQL): act for the organisation of the live session ``token`` opens
    (the database checks the session itself; refused if it is unknown, ended or expired)."""
    _call(session, "SELECT homeward_act(:t)", t=token)


def act_for_run(session: Session | Connection, run_id: str, grant_id: str) -> None:
    """Row security (PostgreSQL): act for the person whose run grant ``grant_id`` (of a session
    not ended) is bound to the Prefect run ``run_id`` (0034: the grant's id, which only the
    run's assertion carries; the run's and session's ids are printed in every history)."""
    _call(session, "SELECT homeward_act_run_grant(:r, :g)", r=run_id, g=grant_id)


def act_as(session: Session | Connection, org_id: int, staff_id: int | None = None) -> None:
    """Row security (PostgreSQL): this transaction acts for organisation ``org_id`` (and staff
    member ``staff_id``, whose request keys it then sees).

    Only a login holding ``homeward_system_scope`` may (the app's login is refused)."""
    _call(session, "SELECT homeward_act_for(:o, :s)", o=org_id, s=staff_id)


_SYSTEM_DEPTH = "homeward.system_depth"
_MAY = "homeward.may_act_for_system"


_LOGIN = text(
    "SELECT CASE WHEN EXISTS (SELECT FROM pg_roles "
    "WHERE rolname = 'homeward_system_scope') THEN "
    "pg_has_role(session_user, 'homeward_system_scope', 'MEMBER') ELSE false END, "
    "to_regprocedure('homeward_system(boolean)') IS NOT NULL"
)


def _login(session: Session | Connection) -> tuple[bool, bool]:
    """Whether this login may act for the system, and whether the schema scopes transactions
    through definer functions (0015) yet: a restore of an older backup reads before upgrading.

    Asked once per database connection (every write asked it again: a round trip each), and
    kept only once the schema scopes (its definer functions are never dropped): a pooled
    connection that read an older schema asks again after the upgrade. The answer is a
    shortcut, not a guard: the database itself refuses a login that may not act for the
    system (``homeward_system``), whatever was kept here."""
    cached = session.info.get(_MAY) if isinstance(session, Session) else None
    if cached is None:
        conn = session.connection() if isinstance(session, Session) else session
        kept = conn.connection.info
        cached = kept.get(_MAY)
        if cached is None:
            may, scoped = conn.execute(_LOGIN).one()
            cached = (bool(may), bool(scoped))
            if scoped:
                kept[_MAY] = cached
        if isinstance(session, Session):
            session.info[_MAY] = cached
    found: tuple[bool, bool] = cached
    return found


def may_act_for_system(session: Session | Connection) -> bool:
    """Whether this login may act for the system (PostgreSQL: the system login; SQLite: yes)."""
    return not is_postgres(session) or _login(session)[0] or not _login(session)[1]


_SYSTEM_ON = text("SELECT homeward_system(:on)")  # built once: twice in every write
_SYSTEM_SET = text("SELECT set_config('homeward.system', :v, true)")


def _system(session: Session | Connection, on: bool) -> None:
    if not is_postgres(session):
        return
    conn = session.connection() if isinstance(session, Session) else session
    if _login(session)[1]:
        conn.execute(_SYSTEM_ON, {"on": on})
    else:  # a schema before 0015, read by its owner before the upgrade
        conn.execute(_SYSTEM_SET, {"v": "on" if on else "off"})


@contextmanager
def system_scope(session: Session | Connection) -> Iterator[None]:
    """Row security (PostgreSQL): inside the block, act for the system (sweeps, purges); only
    the system login may (the app's login is refused: it asks narrow questions instead).

    Blocks nest: an inner one (the case-history listeners, inside a scheduler's command) leaves
    the outer one acting for the system when it ends; only the outermost stops it. A block may
    commit its transaction last (a sweep's page: its row seals are then written within it): the
    scope ended with that transaction (``homeward_is_system`` holds for one transaction id), so
    there is nothing left to stop, and no new transaction is begun to stop it."""
    depth = session.info.get(_SYSTEM_DEPTH, 0)
    if depth == 0 and not may_act_for_system(session):  # the database refuses it anyway
        raise SetupRefused(
            "database: this step acts for every organisation; run it under the system login "
            "(see `homeward db roles`), not the app's"
        )
    if depth == 0:
        _system(session, True)
    session.info[_SYSTEM_DEPTH] = depth + 1
    try:
        yield
        if isinstance(session, Session):  # write the block's changes while acting for the system:
            session.flush()  # SQLAlchemy 2.0 does not flush before a text() statement resets it
    except BaseException:
        session.info[_SYSTEM_DEPTH] = depth
        if depth == 0 and session.in_transaction():  # a failed statement aborted the transaction
            with suppress(DBAPIError, PendingRollbackError):  # (a deadlock, say): its scope ends
                _system(session, False)  # with it, and the first error is the one to see
        raise
    session.info[_SYSTEM_DEPTH] = depth
    if depth == 0 and session.in_transaction():
        _system(session, False)


def widest_scope(session: Session | Connection) -> AbstractContextManager[None]:
    """The system scope where this login may take it (the system login, SQLite); under the
    app's login, the transaction's own scope, which row security then applies."""
    return system_scope(session) if may_act_for_system(session) else nullcontext()


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
def read_beside(session: Session) -> Iterator[Session]:
    """A read session on ``session``'s database, with its own connection and transaction: for
    reads a long job does before or between its write transactions, so that no writer waits for
    them (SQLite: no ``BEGIN IMMEDIATE``). A session bound to a connection reads through it."""
    bind = session.get_bind()
    if isinstance(bind, Connection):
        yield session
        return
    with Session(bind.execution_options(**{_WRITE: False}), expire_on_commit=False) as reader:
        yield reader


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

"""SQLite backups: the backup API inside one read transaction; restore by the same API.

The read transaction held over every step is what makes the copy one snapshot: in WAL mode
writers keep committing beside it (they never wait for the backup, nor make it start over);
the WAL only cannot be checkpointed past the snapshot until the copy is done. The copy is
switched to ``journal_mode=DELETE`` (one self-contained file) and must pass ``integrity_check``.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy import Engine, create_engine

from homeward.base.errors import InvalidInput, NotFound, Refused
from homeward.base.migrate import current_revision
from homeward.base.settings import get_settings
from homeward.protection.backup.common import (
    COUNTED,
    NOTHING_TO_BACK_UP,
    Hook,
    Summary,
    partial_file,
    publish,
    verify_chain,
)

MAGIC = b"SQLite format 3\x00"


def database_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise InvalidInput("HOMEWARD_DATABASE_URL: an in-memory database cannot be backed up")
    return Path(database).expanduser()


def _not_the_database(path: Path, database: Path) -> None:
    if path.resolve() == database.resolve():
        raise InvalidInput(f"{path} is the database itself; choose another FILE")


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def _timeout() -> float:
    return get_settings().sqlite_busy_timeout_ms / 1000


def _summarise(conn: sqlite3.Connection, path: Path) -> Summary:
    if [row[0] for row in conn.execute("PRAGMA integrity_check")] != ["ok"]:
        raise InvalidInput(f"{path}: the backup is damaged (integrity_check failed)")
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    if not {"alembic_version", *COUNTED.values()} <= tables:
        raise InvalidInput(f"{path}: not a Homeward database; choose another file")
    revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    counts = {
        name: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
        for name, table in COUNTED.items()
    }
    return Summary("sqlite", revision[0] if revision else "empty", **counts)


def check_file(path: Path) -> Summary:
    """Refuse a file that is not a sound SQLite copy of a Homeward database; else summarise."""
    with open(path, "rb") as handle:
        if handle.read(len(MAGIC)) != MAGIC:
            raise InvalidInput(f"{path}: not an SQLite backup of Homeward; choose another file")
    try:
        conn = _read_only(path)
        try:
            return _summarise(conn, path)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(
            f"{path}: the backup cannot be read ({type(exc).__name__}); choose another file"
        ) from None


def _copy(
    source: Path, tmp: Path, *, pages: int, sleep: float, after_snapshot: Hook | None
) -> None:
    src = sqlite3.connect(source, timeout=_timeout(), isolation_level=None)
    dst = sqlite3.connect(tmp, isolation_level=None)
    try:
        src.execute("BEGIN")
        src.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot starts here
        if after_snapshot:
            after_snapshot()
        src.backup(dst, pages=pages, sleep=sleep)
        src.execute("ROLLBACK")
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        src.close()
        dst.close()


def backup(
    engine: Engine,
    target: Path,
    *,
    force: bool,
    pages: int,
    sleep: float,
    after_snapshot: Hook | None,
) -> Summary:
    """Copy the database to ``target`` online, ``pages`` pages per step; check the copy."""
    source = database_path(engine)
    if not source.exists():
        raise NotFound(f"{source} does not exist; check HOMEWARD_DATABASE_URL")
    _not_the_database(target, source)
    if current_revision(engine) is None:
        raise Refused(NOTHING_TO_BACK_UP)
    with partial_file(target, force) as tmp:
        _copy(source, tmp, pages=pages, sleep=sleep, after_snapshot=after_snapshot)
        summary = check_file(tmp)
        publish(tmp, target, force)
    return summary


def prepare_target(engine: Engine, path: Path) -> None:
    """Refuse to restore the database onto itself; a database file not there yet is created
    (before anything opens it) at mode 0600."""
    target = database_path(engine)
    _not_the_database(path, target)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def refuse_itself(target: Path, engine: Engine) -> None:
    """Refuse to write a backup over the database itself."""
    _not_the_database(target, database_path(engine))


def verify_file_chain(path: Path, shown: Path | None = None) -> None:
    """The backup's audit chain, checked on the file itself before the target is touched."""
    engine = create_engine("sqlite://", creator=lambda: _read_only(path))
    try:
        verify_chain(engine, where=f"{shown or path}")
    finally:
        engine.dispose()


def restore(engine: Engine, path: Path) -> None:
    """Copy the backup over the database: one step, one write transaction, whole or nothing."""
    target = database_path(engine)
    engine.dispose()
    src = _read_only(path)
    dst = sqlite3.connect(target, timeout=_timeout(), isolation_level=None)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()

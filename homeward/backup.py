"""Online backup and restore of the Homeward database (``homeward backup`` / ``restore``).

A backup is one consistent snapshot taken while the app keeps working: on SQLite the backup API
copies the pages inside one read transaction (WAL lets writers go on beside it); on PostgreSQL
``pg_dump`` dumps from a snapshot this module exports, in which it also reads the schema revision
and the counts, so they describe exactly what was dumped. The copy is checked before it is given
its name: written to a temporary file (mode 0600) beside the target, verified, then renamed.

A restore checks the file first (an SQLite file: ``integrity_check``; an archive: readable to
the end) and changes nothing if it does not hold; it refuses a database that already holds cases
unless forced; afterwards it verifies the audit chain and reports counts only.

The keyring is not in the backup: personal data and the audit chain need the keyring that was
in use when the backup was taken (before any later retention purge retired its master key).
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

from homeward import backup_pg
from homeward.auditlog import audit, verify
from homeward.clock import SYSTEM_CLOCK, Clock
from homeward.db import get_engine, read_session, system_scope, write_session
from homeward.errors import AuditBroken, Conflict, InvalidInput, NotFound, Refused
from homeward.keys import load_keyring
from homeward.migrate import alembic_config, current_revision, head_revision, upgrade
from homeward.models import StaffMember
from homeward.settings import get_settings

SQLITE_MAGIC = b"SQLite format 3\x00"
COUNTED = {"cases": "return_case", "items": "checklist_item", "outbox": "outbox_message"}
Hook = Callable[[], None]
NOTHING_TO_BACK_UP = "the database holds no Homeward schema yet (`homeward db upgrade`); no backup"


@dataclass(frozen=True)
class Summary:
    """What a backup holds or a restore brought back: codes and counts only."""

    backend: str
    revision: str
    cases: int | None = None
    items: int | None = None
    outbox: int | None = None
    audit_entries: int | None = None

    def describe(self) -> str:
        """E.g. ``sqlite, schema 0006, 3 cases, 12 checklist items, 0 outbox rows``."""
        labels = {"cases": "cases", "items": "checklist items", "outbox": "outbox rows"}
        counts = [f"{getattr(self, n)} {label}" for n, label in labels.items()]
        shown = ", ".join(c for c in counts if not c.startswith("None"))
        return f"{self.backend}, schema {self.revision}" + (f", {shown}" if shown else "")


def _backend(engine: Engine) -> str:
    return engine.dialect.name


def count_rows(conn: Connection) -> dict[str, int]:
    """Cases, checklist items and outbox rows, as the system sees them (row security off)."""
    with system_scope(conn):
        return {
            name: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608
            for name, table in COUNTED.items()
        }


# --- writing the file -------------------------------------------------------------------------


def _reserve(target: Path, force: bool) -> Path:
    """A new empty file (mode 0600) beside ``target``, after refusing an existing target."""
    if target.exists() and not force:
        raise Conflict(f"{target} already exists; choose another FILE or pass --force")
    if not target.parent.is_dir():
        raise NotFound(f"{target.parent} is not a directory; create it or choose another FILE")
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.partial"
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return tmp


def _publish(tmp: Path, target: Path, force: bool) -> None:
    """Give the checked file its name atomically; without ``force`` never replace a file."""
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    if force:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)  # fails if the name was taken meanwhile, unlike rename
    except FileExistsError:
        raise Conflict(f"{target} already exists; choose another FILE or pass --force") from None
    tmp.unlink()


@contextmanager
def _partial(target: Path, force: bool) -> Iterator[Path]:
    tmp = _reserve(target, force)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


# --- SQLite ------------------------------------------------------------------------------------


def _sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise InvalidInput("HOMEWARD_DATABASE_URL: an in-memory database cannot be backed up")
    return Path(database).expanduser()


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def check_sqlite_file(path: Path) -> Summary:
    """Refuse a file that is not a sound SQLite copy of a Homeward database; else summarise."""
    with open(path, "rb") as handle:
        if handle.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise InvalidInput(f"{path}: not an SQLite backup of Homeward; choose another file")
    try:
        conn = _read_only(path)
        try:
            checks = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            if checks != ["ok"]:
                raise InvalidInput(f"{path}: the backup is damaged (integrity_check failed)")
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            if not {"alembic_version", *COUNTED.values()} <= tables:
                raise InvalidInput(f"{path}: not a Homeward database; choose another file")
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            counts = {
                name: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
                for name, table in COUNTED.items()
            }
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(
            f"{path}: the backup cannot be read ({type(exc).__name__}); choose another file"
        ) from None
    return Summary("sqlite", revision[0] if revision else "empty", **counts)


def _sqlite_backup(
    source: Path, tmp: Path, *, pages: int, sleep: float, after_snapshot: Hook | None
) -> None:
    timeout = get_settings().sqlite_busy_timeout_ms / 1000
    src = sqlite3.connect(source, timeout=timeout, isolation_level=None)
    dst = sqlite3.connect(tmp, isolation_level=None)
    try:
        # Hold one read transaction over every step: the copy is this snapshot, and writers
        # committing meanwhile (WAL) neither wait for it nor make it start over.
        src.execute("BEGIN")
        src.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if after_snapshot:
            after_snapshot()
        src.backup(dst, pages=pages, sleep=sleep)
        src.execute("ROLLBACK")
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        src.close()
        dst.close()


def backup_sqlite(
    engine: Engine,
    target: Path,
    *,
    force: bool = False,
    pages: int = 256,
    sleep: float = 0.0,
    after_snapshot: Hook | None = None,
) -> Summary:
    """Copy the SQLite database to ``target`` online, ``pages`` pages per step; check it."""
    source = _sqlite_path(engine)
    if not source.exists():
        raise NotFound(f"{source} does not exist; check HOMEWARD_DATABASE_URL")
    if current_revision(engine) is None:
        raise Refused(NOTHING_TO_BACK_UP)
    with _partial(target, force) as tmp:
        _sqlite_backup(source, tmp, pages=pages, sleep=sleep, after_snapshot=after_snapshot)
        summary = check_sqlite_file(tmp)
        _publish(tmp, target, force)
    return summary


def _own_new_file(engine: Engine) -> None:
    """A restore into a database file not there yet creates it (and so its WAL) at mode 0600."""
    target = _sqlite_path(engine)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _sqlite_restore(backup: Path, engine: Engine) -> None:
    target = _sqlite_path(engine)
    engine.dispose()
    timeout = get_settings().sqlite_busy_timeout_ms / 1000
    src, dst = _read_only(backup), sqlite3.connect(target, timeout=timeout, isolation_level=None)
    try:
        src.backup(dst)  # one step: one write transaction on the target, whole or nothing
    finally:
        src.close()
        dst.close()


def _verify_file_chain(backup: Path) -> None:
    """On SQLite the backup's audit chain can be checked before the target is touched."""
    engine = create_engine("sqlite://", creator=lambda: _read_only(backup))
    try:
        _verify(engine, where=f"{backup}")
    finally:
        engine.dispose()


# --- both backends -----------------------------------------------------------------------------


def _known(revision: str) -> None:
    script = ScriptDirectory.from_config(alembic_config(get_engine()))
    try:
        known = revision != "empty" and script.get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        raise Refused(
            f"the backup is at schema {revision}, which this Homeward does not know; "
            "restore it with the Homeward version that made it"
        )


def _target_state(engine: Engine) -> tuple[str | None, int]:
    """The target's schema revision and how many cases it holds (0 for an empty database)."""
    if not inspect(engine).has_table("return_case"):
        return current_revision(engine), 0
    with engine.connect() as conn:
        return current_revision(engine), count_rows(conn)["cases"]


def _refuse_unless_empty(engine: Engine, revision: str, force: bool) -> None:
    current, cases = _target_state(engine)
    if cases and not force:
        raise Refused(
            f"the database already holds {cases} case(s); pass --force to replace them all"
        )
    if current is not None and current != revision:
        raise Refused(
            f"the database is at schema {current}, the backup at {revision}; "
            "restore into an empty database"
        )


def _verify(engine: Engine, *, where: str = "the restored database") -> int:
    with read_session(engine) as session, system_scope(session):
        verdict = verify(session)
    if not verdict.ok:
        raise AuditBroken(
            f"{where}: audit log broken at entry {verdict.first_bad} ({verdict.checked} before it "
            "hold); is HOMEWARD_KEY_FILE the keyring in use when the backup was taken?"
        )
    return verdict.checked


def _record(engine: Engine, action: str, actor: StaffMember | None, clock: Clock) -> None:
    with write_session(engine) as session:
        audit(session, actor=actor, action=action, at=clock.now())


def _pg_summary(conn: Connection) -> Summary:
    if conn.execute(text("SELECT to_regclass('alembic_version')")).scalar() is None:
        raise Refused(NOTHING_TO_BACK_UP)
    revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return Summary("postgresql", revision or "empty", **count_rows(conn))


def backup(
    target: Path,
    *,
    force: bool = False,
    actor: StaffMember | None = None,
    clock: Clock = SYSTEM_CLOCK,
    after_snapshot: Hook | None = None,
    pages: int = 256,
    sleep: float = 0.0,
) -> Summary:
    """Back up the configured database to ``target``; appends ``db_backup`` to the audit log.

    ``after_snapshot`` runs once the snapshot is fixed and before the copy is made (tests use
    it to prove that writes committed from then on are not in the copy).
    """
    load_keyring()  # the audit entry needs it; and a backup without its keyring is no backup
    engine = get_engine()
    if _backend(engine) == "sqlite":
        summary = backup_sqlite(
            engine, target, force=force, pages=pages, sleep=sleep, after_snapshot=after_snapshot
        )
    else:
        with _partial(target, force) as tmp:
            summary = backup_pg.dump(
                engine.url, tmp, inside=_pg_summary, after_snapshot=after_snapshot
            )
            if backup_pg.check_archive(tmp) != summary.revision:  # pragma: no cover
                raise Refused("the archive does not hold the schema revision it was taken at")
            _publish(tmp, target, force)
    _record(engine, "db_backup", actor, clock)
    return summary


def check(path: Path, engine: Engine) -> Summary:
    """Refuse a missing, damaged or wrong-kind backup file for this database's backend."""
    if not path.is_file():
        raise NotFound(f"{path} is not a file; give the path of a backup")
    with open(path, "rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    backend = _backend(engine)
    if head.startswith(backup_pg.MAGIC) and backend != "postgresql":
        raise InvalidInput(f"{path} is a PostgreSQL backup; the database here is {backend}")
    if head == SQLITE_MAGIC and backend != "sqlite":
        raise InvalidInput(f"{path} is an SQLite backup; the database here is {backend}")
    if backend == "sqlite":
        return check_sqlite_file(path)
    return Summary("postgresql", backup_pg.check_archive(path))


def restore(
    path: Path,
    *,
    force: bool = False,
    actor: StaffMember | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Summary:
    """Replace the configured database's content with the backup at ``path``; verify it.

    Everything is checked before the database is touched: the file, its schema revision, the
    keyring, and (for an SQLite file) its audit chain. The restore itself is one transaction.
    """
    load_keyring()
    engine = get_engine()
    checked = check(path, engine)
    _known(checked.revision)
    if _backend(engine) == "sqlite":
        _own_new_file(engine)
    _refuse_unless_empty(engine, checked.revision, force)
    if _backend(engine) == "sqlite":
        _verify_file_chain(path)
        _sqlite_restore(path, engine)
    else:
        backup_pg.restore(engine.url, path)
    engine.dispose()  # pooled connections knew the replaced tables
    if current_revision(engine) != checked.revision:  # pragma: no cover - restore wrote it
        raise Refused("the restore did not bring back the schema revision; nothing more done")
    revision = checked.revision
    if revision != head_revision():
        revision = upgrade(engine)
        engine.dispose()  # the upgrade reset the role of a pooled connection (owner's work)
    entries = _verify(engine)
    _record(engine, "db_restore", actor, clock)
    with engine.connect() as conn:
        counts = count_rows(conn)
    return Summary(_backend(engine), revision, audit_entries=entries, **counts)


def database_label() -> str:
    """The configured database, without its password."""
    return make_url(get_engine().url).render_as_string(hide_password=True)

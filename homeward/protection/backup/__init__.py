"""Online backup and restore of the Homeward database (``homeward backup`` / ``restore``).

A backup is one consistent snapshot taken while the app keeps working (``sqlite``: the backup
API inside one read transaction; ``postgres``: ``pg_dump`` from a snapshot exported here, in
which the revision and counts are read too). It is written to a temporary file (mode 0600)
beside the target, checked, then renamed; an existing file is replaced only when forced.

A restore checks the file first (SQLite: ``integrity_check`` and, on the file, the audit chain;
an archive: readable to the end) and changes nothing if it does not hold, nor a database that
already holds cases unless forced. Afterwards it upgrades an older schema, verifies the audit
chain, records ``db_restore`` and reports counts only.

The keyring is not in the backup: personal data and the audit chain need the keyring that was
in use when the backup was taken. The backup is sealed under the backup key of its period
(``homeward.crypt.backup_keys``, ``sealed``): once that key expires and is destroyed, the file
opens for nobody, so the cases purged since it was made are gone from it too. Files made
before backups were sealed (plain SQLite or pg_dump files) are still restored as they are.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from homeward.base.clock import SYSTEM_CLOCK, Clock
from homeward.base.db import get_engine, write_session
from homeward.base.errors import InvalidInput, NotFound, Refused
from homeward.base.migrate import alembic_config, current_revision, head_revision, upgrade
from homeward.base.models import StaffMember
from homeward.crypt import backup_keys
from homeward.crypt.binding import check_keyring
from homeward.crypt.keys import load_keyring
from homeward.protection.backup import postgres, sealed, sqlite
from homeward.protection.backup.common import (
    Hook,
    Made,
    Summary,
    count_rows,
    partial_file,
    publish,
    verify_chain,
)
from homeward.records.auditlog import audit

__all__ = ["Made", "Summary", "backup", "check", "database_label", "restore"]


def _is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _record(engine: Engine, action: str, actor: StaffMember | None, clock: Clock) -> None:
    _check_keyring(engine)  # the entry is sealed with it: the database's own keyring only
    with write_session(engine) as session:
        audit(session, actor=actor, action=action, at=clock.now())


def _check_keyring(engine: Engine) -> None:
    """Refuse another keyring than the one the database records (``WrongKeyring``); a
    database at an older schema records it when it is upgraded."""
    if current_revision(engine) == head_revision():
        with write_session(engine) as session:
            check_keyring(session)


def backup(
    target: Path,
    *,
    force: bool = False,
    actor: StaffMember | None = None,
    clock: Clock = SYSTEM_CLOCK,
    after_snapshot: Hook | None = None,
    pages: int = 256,
    sleep: float = 0.0,
) -> Made:
    """Back up the configured database to ``target``; appends ``db_backup`` to the audit log.

    ``after_snapshot`` runs once the snapshot is fixed and before the copy is made (the tests
    use it to prove that writes committed from then on are not in the copy). ``pages`` and
    ``sleep`` pace the SQLite copy.
    """
    load_keyring()  # the audit entry needs it; and a backup without its keyring is no backup
    engine = get_engine()
    try:
        _check_keyring(engine)  # another keyring: refused before anything is copied
    except DBAPIError:
        pass  # a user who may not read the database: the checks below say what it lacks
    now = clock.now()
    backup_keys.expire(now)
    if _is_sqlite(engine):
        sqlite.refuse_itself(target, engine)
    with partial_file(target, force) as tmp, _scratch(target.parent) as folder:
        plain = folder / "backup"
        if _is_sqlite(engine):
            summary = sqlite.backup(
                engine, plain, force=True, pages=pages, sleep=sleep, after_snapshot=after_snapshot
            )
        else:
            summary = postgres.backup(engine.url, plain, force=True, after_snapshot=after_snapshot)
        key_id, key, expires = backup_keys.current(now)
        sealed.seal(plain, tmp, key_id=key_id, key=key, backend=engine.dialect.name)
        publish(tmp, target, force)
    _record(engine, "db_backup", actor, clock)
    return Made(**asdict(summary), sealed_with=key_id, readable_until=expires)


@contextmanager
def _scratch(near: Path | None = None) -> Iterator[Path]:
    """A private directory (0700) for a backup's plaintext while it is sealed or opened."""
    with tempfile.TemporaryDirectory(prefix=".homeward-", dir=near) as folder:
        yield Path(folder)


@contextmanager
def opened(path: Path, engine: Engine, now: datetime) -> Iterator[Path]:
    """The backup's plaintext: a sealed file opened (under its backup key, while that lives)
    into a private temporary file; a file from before backups were sealed, as it is."""
    if not path.is_file():
        raise NotFound(f"{path} is not a file; give the path of a backup")
    if not sealed.is_sealed(path):
        yield path
        return
    header = sealed.read_header(path)
    if header.backend != engine.dialect.name:
        raise InvalidInput(
            f"{path} is a {header.backend} backup; the database here is {engine.dialect.name}"
        )
    key = backup_keys.opening(header.key_id, now)
    with _scratch() as folder:
        plain = folder / "backup"
        sealed.unseal(path, plain, key)
        yield plain


def check(path: Path, engine: Engine, clock: Clock = SYSTEM_CLOCK) -> Summary:
    """Refuse a missing, damaged, wrong-kind or expired backup file for this database."""
    with opened(path, engine, clock.now()) as plain:
        return _check_plain(plain, engine)


def _check_plain(path: Path, engine: Engine) -> Summary:
    with open(path, "rb") as handle:
        head = handle.read(len(sqlite.MAGIC))
    backend = engine.dialect.name
    if head.startswith(postgres.MAGIC) and backend != "postgresql":
        raise InvalidInput(f"{path} is a PostgreSQL backup; the database here is {backend}")
    if head == sqlite.MAGIC and backend != "sqlite":
        raise InvalidInput(f"{path} is an SQLite backup; the database here is {backend}")
    if backend == "sqlite":
        return sqlite.check_file(path)
    return Summary("postgresql", postgres.check_archive(path))


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


def _refuse_unless_empty(engine: Engine, revision: str, force: bool) -> None:
    """Refuse a database holding cases (unless ``force``); and, on PostgreSQL, one at another
    schema, whose extra objects ``pg_restore --clean`` would leave behind."""
    if inspect(engine).has_table("return_case"):
        with engine.connect() as conn:
            cases = count_rows(conn)["cases"]
        if cases and not force:
            raise Refused(
                f"the database already holds {cases} case(s); pass --force to replace them all"
            )
    current = current_revision(engine)
    if not _is_sqlite(engine) and current not in (None, revision):
        raise Refused(
            f"the database is at schema {current}, the backup at {revision}; "
            "restore into an empty database"
        )


def _replace(engine: Engine, path: Path, shown: Path) -> None:
    if _is_sqlite(engine):
        sqlite.verify_file_chain(path, shown)
        sqlite.restore(engine, path)
    else:
        postgres.restore(engine.url, path)
    engine.dispose()  # pooled connections knew the replaced tables


def restore(
    path: Path,
    *,
    force: bool = False,
    actor: StaffMember | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Summary:
    """Replace the configured database's content with the backup at ``path``; verify it.

    Everything is checked before the database is touched: the keyring, the file and its
    backup key (``KeysMissing`` once that expired), its schema revision, the target's cases.
    The restore itself is one transaction.
    """
    load_keyring()
    engine = get_engine()
    backup_keys.expire(clock.now())
    with opened(path, engine, clock.now()) as plain:
        checked = _check_plain(plain, engine)
        _known(checked.revision)
        if _is_sqlite(engine):
            sqlite.prepare_target(engine, path)
        _refuse_unless_empty(engine, checked.revision, force)
        _replace(engine, plain, path)
    revision = current_revision(engine) or "empty"
    if revision != head_revision():
        revision = upgrade(engine)
        engine.dispose()  # the upgrade reset the role of a pooled connection (owner's work)
    entries = verify_chain(engine)
    _record(engine, "db_restore", actor, clock)
    with engine.connect() as conn:
        counts = count_rows(conn)
    return Summary(engine.dialect.name, revision, audit_entries=entries, **counts)


def database_label() -> str:
    """The configured database, without its password."""
    return make_url(get_engine().url).render_as_string(hide_password=True)

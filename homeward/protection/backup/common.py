"""What both backends share: the summary of a backup, the counts, the audit check, the file."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from homeward.base.db import read_session, system_scope
from homeward.base.errors import AuditBroken, Conflict, NotFound
from homeward.records.auditlog import verify

COUNTED = {"cases": "return_case", "items": "checklist_item", "outbox": "outbox_message"}
NOTHING_TO_BACK_UP = "the database holds no Homeward schema yet (`homeward db upgrade`); no backup"
Hook = Callable[[], None]


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


@dataclass(frozen=True)
class Made(Summary):
    """A backup just made: what it holds, and the backup key it is sealed under."""

    sealed_with: str = ""
    readable_until: datetime | None = None  # when that key expires: then nobody can read it


def count_rows(conn: Connection) -> dict[str, int]:
    """Cases, checklist items and outbox rows, as the system sees them (row security off)."""
    with system_scope(conn):
        return {
            name: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608
            for name, table in COUNTED.items()
        }


def verify_chain(engine: Engine, *, where: str = "the restored database") -> int:
    """Check the audit chain of ``engine``'s database; how many entries hold."""
    with read_session(engine) as session, system_scope(session):
        verdict = verify(session)
    if not verdict.ok:
        what = (  # a broken entry, or (with the row seals) a row or the head that does not match
            f"at entry {verdict.first_bad} ({verdict.checked} before it hold)"
            if verdict.first_bad is not None
            else f"({verdict.problem})"
        )
        raise AuditBroken(
            f"{where}: audit log broken {what}; is HOMEWARD_KEY_FILE the keyring in use when "
            "the backup was taken?"
        )
    return verdict.checked


def _exists(target: Path) -> Conflict:
    return Conflict(f"{target} already exists; choose another FILE or pass --force")


def _reserve(target: Path, force: bool) -> Path:
    """A new empty file (mode 0600) beside ``target``, after refusing an existing target."""
    if target.exists() and not force:
        raise _exists(target)
    if not target.parent.is_dir():
        raise NotFound(f"{target.parent} is not a directory; create it or choose another FILE")
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.partial"
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return tmp


def publish(tmp: Path, target: Path, force: bool) -> None:
    """Give the checked file its name atomically; without ``force`` never replace a file."""
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    if force:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)  # fails if the name was taken meanwhile, unlike rename
    except FileExistsError:
        raise _exists(target) from None
    tmp.unlink()


@contextmanager
def partial_file(target: Path, force: bool) -> Iterator[Path]:
    """A temporary file beside ``target`` (mode 0600), removed unless ``publish``\\ ed."""
    tmp = _reserve(target, force)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)

"""What a purge leaves in the database's own files, and how ``scrub`` clears it.

A purged case's wrapped key is overwritten with NULL, but the old bytes outlive the UPDATE:

- SQLite leaves them in the page's free space and in the write-ahead log. Homeward's
  connections zero what they delete (``PRAGMA secure_delete``, ``homeward.base.db``) and
  ``scrub`` empties the log (``wal_checkpoint(TRUNCATE)``).
- PostgreSQL keeps the old row version in the table's file until it is vacuumed, and no
  vacuum removes it while a transaction that may still see it runs (a backup, a long report;
  for ``VACUUM FULL``, whose own snapshot reaches back to the server's oldest running writer,
  any writing transaction begun before the purge, in any database of the server: another's
  migration or ``CREATE DATABASE``). ``scrub`` runs ``VACUUM (FULL, VERBOSE) case_key``
  (a new file holding live rows only; a short exclusive lock on a table of one small row per
  case) as the URL's user, reads from its report how many dead row versions had to stay, and
  tries again a few times before saying so. WAL segments, WAL archives (point-in-time
  recovery) and replicas keep their own copies as long as they are kept; the file PostgreSQL
  replaced lingers in the disk's free blocks: both are beyond Homeward's reach.
"""

from __future__ import annotations

import re
import time
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import OperationalError

OWNS_CASE_KEY = (
    "SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class "
    "WHERE oid = 'case_key'::regclass"
)
KEPT = re.compile(r"(\d+) dead row versions cannot be removed yet")
NOT_OWNER = (
    "PostgreSQL: not vacuumed (the database user does not own case_key); run "
    "`VACUUM FULL case_key` as its owner, or old key copies stay in its file"
)
BUSY = (
    "PostgreSQL: case_key stayed in use (a backup running?) and was not vacuumed; rerun "
    "`homeward retention run` when it is quiet, or old key copies stay in its file"
)


def scrub(engine: Engine, *, attempts: int = 10, pause: float = 1.0) -> str:
    """After a purge has committed: clear old copies of destroyed keys from the database's
    files. One line saying what was done or, when it could not be, what to do."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").scalar()
        if busy:
            return "SQLite: its write-ahead log is in use; it is emptied at its next checkpoint"
        return "SQLite: deleted keys are zeroed in the file and its write-ahead log was emptied"
    owner = create_engine(engine.url, isolation_level="AUTOCOMMIT")  # not the app's role
    try:
        with owner.connect() as conn:
            return _vacuum(conn, attempts, pause)
    finally:
        owner.dispose()


def _vacuum(conn: Connection, attempts: int, pause: float) -> str:
    if not conn.execute(text(OWNS_CASE_KEY)).scalar():
        return NOT_OWNER
    # While it waits for its lock, the app's readers of case_key queue behind it: wait little.
    conn.execute(text("SET lock_timeout = '5s'"))
    kept: int | None = None
    for attempt in range(attempts):
        if attempt:
            time.sleep(pause)
        try:
            kept = _vacuum_full(conn)
        except OperationalError:
            continue  # locked by a reader (a backup in progress): try again
        if not kept:
            break
    if kept is None:
        return BUSY
    conn.execute(text(f"VACUUM {', '.join(VACUUMED)}"))
    if kept:
        return (
            f"PostgreSQL: {kept} old row version(s) of case_key are still visible to a running "
            "transaction and stay in its file; rerun `homeward retention run` when it is quiet"
        )
    return "PostgreSQL: VACUUM FULL case_key done (WAL archives and replicas keep their own copies)"


# The tables whose free text the purge empties (``retention.purge_case``).
VACUUMED = (
    "beneficiary",
    "checklist_item",
    "handoff",
    "item_change",
    "reintegration_plan",
    "plan_goal",
    "plan_service",
    "visit",
    "case_note",
    "case_document",
    "case_person",
    "nrm_referral",
    "assessment",
)


def _vacuum_full(conn: Connection) -> int:
    """``VACUUM (FULL, VERBOSE) case_key``; how many dead row versions it had to keep."""
    said: list[str] = []
    raw: Any = conn.connection.dbapi_connection

    def hear(diagnostic: Any) -> None:
        said.append(f"{diagnostic.message_primary} {diagnostic.message_detail or ''}")

    raw.add_notice_handler(hear)
    try:
        conn.execute(text("VACUUM (FULL, VERBOSE) case_key"))
    finally:
        raw.remove_notice_handler(hear)
    return sum(int(found.group(1)) for line in said if (found := KEPT.search(line)))

"""SQLite's write-ahead log checkpointed beside the commits, not in them (issue 19 point 3).

By default SQLite checkpoints in the commit that takes its log past 1,000 pages: that one
commit copies the log into the database file and syncs it, 2-5 ms more than the others (one
stage move in about 30: ``bench/stage_move_ab.py --tail``). A process that serves for long
(``homeward web``, ``homeward up``: ``settle``) calls ``in_background()``: from then on its own
connections never checkpoint (``wal_autocheckpoint=0``) and a thread of its own does, PASSIVE
(it neither waits for nor holds up a reader or a writer), ``interval`` seconds after a commit,
once for all the commits of that time. The next write then starts the log again from its
beginning, as after SQLite's own checkpoint, so the log stays as long as the writes of one
interval (under writes that never pause, ``BOUND_PAGES``: ``_checkpoint``).

Every other process keeps SQLite's own checkpoints: the short-lived ones (the CLI's commands)
and those forked from a serving one (a thread does not survive a fork: the child forgets the
checkpointer, and a connection it inherited is set back to SQLite's default at its next
checkout); ``homeward up``'s runs start from a fork server that never calls this.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from typing import Any
from urllib.parse import quote

SQLITE_DEFAULT_PAGES = 1000  # SQLite's own wal_autocheckpoint
INTERVAL = 0.2  # seconds from a commit to its checkpoint: the log holds that time's writes
RETRIES = 4  # PASSIVE checkpoints in a row while commits come in meanwhile
BOUND_PAGES = 8 * SQLITE_DEFAULT_PAGES  # past it, a writer waits for the rest to be copied
WAIT_MS = 1000  # the longest a FULL checkpoint waits for a writer, then it is PASSIVE
_OFF = "homeward_checkpoint_off"  # in a pooled connection's info: autocheckpoint is 0 there
_LOG = logging.getLogger(__name__)


class Checkpointer:
    """The serving process's thread: checkpoints the databases its connections write."""

    def __init__(self, interval: float, synchronous: str, bound_pages: int) -> None:
        self.interval, self.bound_pages = interval, bound_pages
        self.synchronous = synchronous
        self.paths: set[str] = set()
        self.wake = threading.Event()
        self.gate = threading.Event()  # cleared while a FULL checkpoint holds this process's
        self.gate.set()  # writers at their next checkout (``_checkpoint``)
        self.thread = threading.Thread(target=self._run, name="homeward-checkpoint", daemon=True)

    def _run(self) -> None:
        kept: dict[str, sqlite3.Connection] = {}
        while True:
            self.wake.wait()
            time.sleep(self.interval)  # the commits of that time: one checkpoint
            self.wake.clear()
            for path in list(self.paths):
                try:
                    conn = kept.get(path) or kept.setdefault(path, self._connect(path))
                    _checkpoint(conn, self.bound_pages, self.gate)
                except Exception:  # noqa: BLE001 (a database gone: a test's; the thread goes on)
                    _LOG.warning("checkpoint failed", exc_info=True)
                    kept.pop(path, None)

    def _connect(self, path: str) -> sqlite3.Connection:
        uri = f"file:{quote(path)}?mode=rw"  # never makes a database that is not there
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA synchronous={self.synchronous}")  # the database file synced so
        conn.execute(f"PRAGMA busy_timeout={WAIT_MS}")
        return conn


def _checkpoint(conn: sqlite3.Connection, bound_pages: int, gate: threading.Event) -> None:
    """Copy the whole log into the database file, so that the next write starts it again.

    PASSIVE copies what was committed when it began: a commit made meanwhile is copied by the
    next try, which has only it to copy, until a try finds nothing new. The log starts again
    only if a write transaction begins once all of it is copied: under writes that follow
    each other without a pause (a bench's loop), that moment never comes, and the log grows.
    Past ``bound_pages`` the thread closes ``gate``, which holds this process's writers at
    their next checkout (``on_checkout``, outside any transaction of theirs), and a FULL
    checkpoint copies what is left (little, after the PASSIVE one) with no writer to race
    for the lock; the next writer then starts the log again. It waits a millisecond or two,
    once in that many pages (SQLite's own checkpoint holds up every commit that takes the
    log past 1,000 pages while it copies them all). Without the gate, FULL's busy handler
    polls for the lock between commits that leave it free for microseconds, and under load
    missed it for a whole ``WAIT_MS`` while the log grew (3,277 pages past a bound of 1,500
    in a CI run)."""
    log = -1
    for _ in range(RETRIES):
        _busy, now, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0]
        if now <= max(log, 0):  # nothing committed since the last try (or no log at all)
            break
        log = now
        if log > bound_pages:  # the writes outpace the copies: hold them for the rest
            break
    if log > bound_pages:
        gate.clear()
        try:
            conn.execute("PRAGMA wal_checkpoint(FULL)").fetchall()
        finally:
            gate.set()


_running: Checkpointer | None = None
_start = threading.Lock()


def in_background(interval: float = INTERVAL, bound_pages: int = BOUND_PAGES) -> Checkpointer:
    """Checkpoint this process's SQLite databases in a thread from now on (idempotent)."""
    global _running
    with _start:
        if _running is None:
            from homeward.base.settings import get_settings

            synchronous = get_settings().sqlite_synchronous
            _running = Checkpointer(interval, synchronous, bound_pages)
            _running.thread.start()
        return _running


def _forget() -> None:
    """In a forked child: the thread is not there; its commits checkpoint as SQLite's do."""
    global _running, _start
    _running, _start = None, threading.Lock()


os.register_at_fork(after_in_child=_forget)


def on_checkout(dbapi_conn: sqlite3.Connection, info: dict[str, Any], path: str | None) -> None:
    """A pooled connection checkpoints on commit unless this process's thread does it."""
    off = _running is not None and path is not None and _running.thread.is_alive()
    if off and _running is not None and not _running.gate.is_set():
        _running.gate.wait(WAIT_MS / 1000)  # a FULL checkpoint is copying the log's rest
    if info.get(_OFF, False) != off:
        pages = 0 if off else SQLITE_DEFAULT_PAGES
        dbapi_conn.execute(f"PRAGMA wal_autocheckpoint={pages}").fetchall()
        info[_OFF] = off
    if off and _running is not None and path not in _running.paths:
        _running.paths.add(str(path))


def committed() -> None:
    """A write committed: the thread checkpoints ``interval`` seconds from now."""
    if _running is not None:
        _running.wake.set()

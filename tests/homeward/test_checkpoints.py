"""SQLite's write-ahead log checkpointed by a serving process's thread, not by its commits
(issue 19 point 3), and by SQLite's own checkpoints everywhere else: the log stays bounded.

Each test has a scratch database of its own (an engine as ``make_engine`` makes them: the
app's pragmas and hooks) and writes about 30 pages a commit, as a stage move does.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from homeward.base import checkpoints
from homeward.base.db import make_engine, write_session

PAGE = 4096
ROW = b"x" * (PAGE * 30)  # about a stage move's pages


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[tuple[Engine, Path]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'scratch.db'}")
    with write_session(engine) as session:
        session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB)"))
    yield engine, tmp_path / "scratch.db-wal"
    engine.dispose()


@pytest.fixture
def serving() -> Iterator[None]:
    """This process as ``homeward web`` after ``settle``: its checkpoint thread started (the
    test's own, forgotten after it, as a forked child forgets it)."""
    checkpoints.in_background(interval=0.05)
    yield
    checkpoints._forget()


def _write(engine: Engine, commits: int, pause: float = 0.0) -> list[int]:
    """``commits`` commits of one row each; the log's pages after each."""
    shm = Path(str(engine.url.database) + "-shm")
    frames = []
    for _ in range(commits):
        with write_session(engine) as session:
            session.execute(text("INSERT INTO t (data) VALUES (:d)"), {"d": ROW})
        frames.append(_log_frames(shm))
        time.sleep(pause)
    return frames


def _log_frames(shm: Path) -> int:
    """The pages in the log now: ``mxFrame`` of the shared-memory index's header (SQLite 3.40
    knows no ``wal_checkpoint(NOOP)``, and asking any other checkpoint would make one)."""
    with shm.open("rb") as index:
        return int.from_bytes(index.read(20)[16:20], sys.byteorder)


def _autocheckpoint(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("PRAGMA wal_autocheckpoint")).scalar_one())


def test_a_serving_process_commits_without_checkpointing(scratch: tuple[Engine, Path]) -> None:
    engine, _wal = scratch
    checkpoints.in_background(interval=60)  # the thread waits a minute: no checkpoint meanwhile
    try:
        assert _autocheckpoint(engine) == 0
        frames = _write(engine, 60)
    finally:
        checkpoints._forget()
    assert frames == sorted(frames)  # no commit started the log again: none checkpointed
    assert frames[-1] > 1500  # past SQLite's 1,000 pages, where a commit would have


@pytest.mark.usefixtures("serving")
def test_the_thread_keeps_the_log_bounded_in_a_long_run(scratch: tuple[Engine, Path]) -> None:
    engine, wal = scratch
    frames = _write(engine, 300, pause=0.005)  # 9,000 pages in 2-5 s, the thread beside them
    most = checkpoints.BOUND_PAGES + 1000  # usually under 1,000: the writes of an interval
    assert max(frames) < most, max(frames)
    assert wal.stat().st_size < most * (PAGE + 24)  # each page with its frame's header


def test_writes_without_a_pause_keep_the_log_bounded_too(scratch: tuple[Engine, Path]) -> None:
    """A loop of writes (a bench's) leaves no moment with the log all copied and no writer in
    it: past its bound the thread holds the writers at their next checkout and copies the
    rest (FULL), and the next write starts the log again. Before the hold, FULL raced the
    loop for the write lock and under load lost (in a CI run the log reached 3,277 pages; on
    a loaded machine, 6,427 of 6,400 written: never started again)."""
    engine, _wal = scratch
    checkpoints.in_background(interval=0.05, bound_pages=1500)
    try:
        frames = _write(engine, 300)  # 9,000 pages, no pause
    finally:
        checkpoints._forget()
    restarts = sum(1 for was, now in zip(frames, frames[1:], strict=False) if now < was)
    assert restarts >= 3, frames  # about one in every bound's worth (4-5 seen, under load too)
    # The bound, the writes of the thread's interval and of its first copy: 1,600-3,400
    # pages seen, quiet and with eight busy loops beside it.
    assert max(frames) < 3 * 1500, max(frames)


def test_a_process_that_does_not_serve_checkpoints_as_sqlite_does(
    scratch: tuple[Engine, Path],
) -> None:
    engine, _wal = scratch
    assert _autocheckpoint(engine) == checkpoints.SQLITE_DEFAULT_PAGES
    frames = _write(engine, 60)
    assert max(frames) <= checkpoints.SQLITE_DEFAULT_PAGES + 40


def _child_autocheckpoint(url: str, answer: multiprocessing.SimpleQueue[int]) -> None:
    answer.put(_autocheckpoint(make_engine(url)))


@pytest.mark.usefixtures("serving")
def test_a_child_forked_from_a_serving_process_checkpoints_itself(
    scratch: tuple[Engine, Path],
) -> None:
    engine, _wal = scratch
    assert _autocheckpoint(engine) == 0
    fork = multiprocessing.get_context("fork")
    answer: multiprocessing.SimpleQueue[int] = fork.SimpleQueue()
    child = fork.Process(target=_child_autocheckpoint, args=(str(engine.url), answer))
    child.start()
    child.join(30)
    assert answer.get() == checkpoints.SQLITE_DEFAULT_PAGES


def test_an_inherited_connection_checkpoints_again_once_the_thread_is_gone(
    scratch: tuple[Engine, Path],
) -> None:
    """A pooled connection set up while the thread ran (autocheckpoint off), checked out in a
    process without it (a forked child: ``_forget``) is set back to SQLite's default."""
    engine, _wal = scratch
    checkpoints.in_background(interval=0.05)
    try:
        assert _autocheckpoint(engine) == 0
    finally:
        checkpoints._forget()
    assert _autocheckpoint(engine) == checkpoints.SQLITE_DEFAULT_PAGES


def test_settle_starts_the_thread(tmp_path: Path) -> None:
    """``homeward web`` and ``homeward up`` settle before serving: their engine then leaves
    checkpoints to the thread (in a process of its own: settle freezes the collector)."""
    script = (
        "from homeward.edges.web.serve import settle; settle()\n"
        "from homeward.base import checkpoints; from sqlalchemy import text\n"
        f"from homeward.base.db import make_engine; e = make_engine('sqlite:///{tmp_path}/s.db')\n"
        "c = e.connect(); print(c.execute(text('PRAGMA wal_autocheckpoint')).scalar_one(),"
        " checkpoints._running.thread.is_alive())\n"
    )
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["0", "True"]

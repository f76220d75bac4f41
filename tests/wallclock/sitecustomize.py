"""Run the test suite, and every Python process it starts, under a chosen wall clock.

``HOMEWARD_TEST_WALL_CLOCK=2026-12-03T22:30:00Z pytest -q`` makes the suite start at that
moment. ``tests/conftest.py`` turns the moment into an offset from the real clock
(``TESTS_WALL_CLOCK_OFFSET``, seconds) and puts this folder on ``PYTHONPATH``, so that
every Python subprocess (the Prefect test server, ``homeward`` CLI processes, fault drivers)
imports this module at start-up and moves its clock by the same offset: all of them share one
timeline that keeps ticking. Monotonic clocks are left alone (sleeps and timeouts stay real).

Why not libfaketime: Debian's 0.9.10 either breaks ``time.sleep`` (``EINVAL`` from
``clock_nanosleep`` when the monotonic clock is not faked) or hangs lock timeouts (when it is),
and Prefect needs both. ``time-machine`` patches the wall clock inside Python only: C code
reading the clock itself (SQLite's ``CURRENT_TIMESTAMP``, the PostgreSQL server) keeps real time.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime

OFFSET_ENV = "TESTS_WALL_CLOCK_OFFSET"  # not HOMEWARD_: tests that clear those keep it
_STARTED = "_homeward_wall_clock_started"  # on ``sys``: one flag whichever name this file has


def start(offset: float) -> None:
    """Move this process's wall clock ``offset`` seconds from the real one, still ticking.

    Once a process: this file runs at start-up as ``sitecustomize``, and again if imported as
    ``tests.wallclock.sitecustomize`` (``tests/conftest.py`` does, and a subprocess that
    imports it, e.g. through ``tests.signin``, would travel twice: its clock ``2 * offset``
    away, an assertion it signed "ahead" of every other process)."""
    if getattr(sys, _STARTED, False):
        return
    setattr(sys, _STARTED, True)
    try:
        import time_machine  # a dev dependency: imported only when a clock is asked for
    except ImportError as missing:
        # SystemExit, not ImportError: site.py would print and ignore an ImportError, and this
        # process would then run on the real clock unnoticed.
        raise SystemExit(
            "HOMEWARD_TEST_WALL_CLOCK needs time-machine: pip install -e '.[dev]'"
        ) from missing

    moment = datetime.fromtimestamp(time.time() + offset, UTC)
    time_machine.travel(moment, tick=True).start()
    # time-machine starts ticking at the first reading, not at start(): read at once, or this
    # process's clock lags every other process's by however long it took to first ask the time
    # (seconds in a loaded suite's parent: the subprocess test saw 2-14 s).
    time.time()


if os.environ.get(OFFSET_ENV):
    start(float(os.environ[OFFSET_ENV]))

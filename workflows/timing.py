"""Where a run's seconds go: timing marks at DEBUG on the ``homeward.timing`` logger.

Each mark is one line: the flow run's id, a step's name, and either the moment it was reached
(seconds since the epoch, to set beside the run's state timestamps in Prefect's API) or how
long it took. Nothing else: no parameter, no case_ref, no name. Off unless the logger is on at
DEBUG; ``HOMEWARD_TIMING_LOG=<file>`` turns it on into that file (appended to, one line per
mark, by ``homeward up``'s runner and every run's process forked from it: the fork server reads
it when it starts), for ``bench/prefect_bench.py --latency-only --timing``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

LOG = logging.getLogger("homeward.timing")
ENV = "HOMEWARD_TIMING_LOG"


def _to_file() -> None:
    path = os.environ.get(ENV)
    if not path or any(getattr(h, "_homeward_timing", False) for h in LOG.handlers):
        return
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(process)d %(message)s"))
    handler._homeward_timing = True  # type: ignore[attr-defined]
    LOG.addHandler(handler)
    LOG.setLevel(logging.DEBUG)


_to_file()


def _run_id() -> str:
    from prefect.runtime import flow_run

    return str(flow_run.get_id() or "-")


def mark(step: str, run_id: object | None = None) -> None:
    """``step`` reached now, in run ``run_id`` (default: the current run)."""
    if LOG.isEnabledFor(logging.DEBUG):
        LOG.debug("%s %s at %.3f", run_id or _run_id(), step, time.time())


@contextmanager
def timed(step: str) -> Iterator[None]:
    """How long ``step`` took, in the current run."""
    if not LOG.isEnabledFor(logging.DEBUG):
        yield
        return
    start, started_at = time.perf_counter(), time.time()
    try:
        yield
    finally:
        took = (time.perf_counter() - start) * 1000
        LOG.debug("%s %s at %.3f took %.1f ms", _run_id(), step, started_at, took)

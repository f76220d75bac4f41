"""Crash tests: several processes drive cases while being SIGKILLed at random moments and at
named points; afterwards nothing acknowledged is lost, no state is impossible, each email is
queued once and delivered (at least once, with a stable Message-ID), the database is sound.

The small run is part of the default suite; the full one (``HOMEWARD_CHAOS_CASES``, default
1,000 cases) is marked slow: ``pytest -m slow tests/faults``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifications.sink import LocalSmtpServer
from tests.faults.chaos import SWEEPER_POINTS, run_chaos
from tests.notifications.smtp_server import ScriptedHandler

log = logging.getLogger("tests.faults")


@pytest.fixture
def sink() -> Iterator[tuple[ScriptedHandler, int]]:
    handler = ScriptedHandler()
    with LocalSmtpServer(handler) as server:
        yield handler, server.port


def test_small_chaos_run_loses_nothing(db_url, engine, sink, tmp_path: Path):
    handler, port = sink
    figures = run_chaos(
        tmp_path, cases=20, drivers=3, kills=8, seed=7, sink=handler, port=port, engine=engine
    )
    log.info("chaos: %s", figures.summary())
    assert figures.problems == [], "\n".join(figures.problems[:40])
    assert figures.transitions_acked > 0 and figures.emails > 0
    assert set(SWEEPER_POINTS) <= set(figures.named_crashes)


@pytest.mark.slow
def test_full_chaos_run_loses_nothing(db_url, engine, sink, tmp_path: Path):
    handler, port = sink
    cases = int(os.environ.get("HOMEWARD_CHAOS_CASES", "1000"))
    figures = run_chaos(
        tmp_path,
        cases=cases,
        drivers=int(os.environ.get("HOMEWARD_CHAOS_DRIVERS", "4")),
        kills=int(os.environ.get("HOMEWARD_CHAOS_KILLS", str(max(20, cases // 5)))),
        seed=int(os.environ.get("HOMEWARD_CHAOS_SEED", "11")),
        sink=handler,
        port=port,
        engine=engine,
        pace=1.0,
        sweep_pause=float(os.environ.get("HOMEWARD_CHAOS_SWEEP_PAUSE", "5")),
        deadline_seconds=3600,
    )
    log.info("chaos: %s", figures.summary())
    assert figures.problems == [], "\n".join(figures.problems[:40])

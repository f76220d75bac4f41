"""Fixtures for the flow tests: one real Prefect server for the whole session (the test
harness, on its own SQLite database), the Homeward test database, and a clock near real time
(flows act at the wall clock, so the factories must not drive cases into the future)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from prefect.events.worker import EventsWorker
from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL
from prefect.testing.utilities import prefect_test_harness

from homeward.base import settings as homeward_settings
from homeward.base.clock import SimulatedClock
from tests import factories
from tests.notifications.conftest import mail_any_hour
from workflows.runtime import now as flows_now


@pytest.fixture(scope="session")
def prefect_db() -> Iterator[Path]:
    """A real Prefect server for this session; yields the path of its SQLite database."""
    with prefect_test_harness(server_startup_timeout=120):
        url = PREFECT_SERVER_DATABASE_CONNECTION_URL.value()
        yield Path(url.split("///", 1)[1])


@pytest.fixture
def clock() -> SimulatedClock:
    """Ten days before the flows' moment (the wall clock, ``workflows.runtime.now``): a case
    driven along the happy path stays in the past. Step data takes its local date from it."""
    return SimulatedClock(current=flows_now() - timedelta(days=10))


@pytest.fixture
def homeward(db_url: str, prefect_db: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The seeded Homeward test database, with paused runs polling every second."""
    monkeypatch.setenv("HOMEWARD_APPROVAL_POLL_SECONDS", "1")
    monkeypatch.setenv("HOMEWARD_MAIL_DIGEST_HOUR", "0")
    # The flows run at the wall clock's moment: mail goes whatever its day and hour (quiet
    # hours are proven with a set clock in tests/notifications/test_quiet_hours.py).
    mail_any_hour(monkeypatch)
    # A fresh events client for each test: one left from an earlier test of the session (the
    # web workspace's, on another event loop) can stop delivering, and events then never arrive.
    EventsWorker.drain_all(timeout=10)
    factories.seed()
    yield db_url
    homeward_settings.get_settings.cache_clear()

"""Fixtures for the notification tests: a real SMTP server on 127.0.0.1 (port 0) that the
``HOMEWARD_SMTP_*`` settings point at, and helpers to run the drain."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from homeward.base import settings as homeward_settings
from homeward.base.clock import SimulatedClock
from notifications.sender import DrainReport, drain
from notifications.sink import LocalSmtpServer
from tests.notifications.smtp_server import ScriptedHandler


def point_mail_at(monkeypatch: pytest.MonkeyPatch, port: int, **extra: str) -> None:
    """Send through the test server: clear text is allowed because it is on loopback."""
    env = {
        "HOMEWARD_SMTP_HOST": "127.0.0.1",
        "HOMEWARD_SMTP_PORT": str(port),
        "HOMEWARD_SMTP_TLS": "none",
        "HOMEWARD_SMTP_TIMEOUT_SECONDS": "5",
        "HOMEWARD_MAIL_FROM": "Homeward <no-reply@homeward.example.org>",
        **extra,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    homeward_settings.get_settings.cache_clear()


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedHandler]:
    """A scripted, recording SMTP server; the settings point at it."""
    handler = ScriptedHandler()
    with LocalSmtpServer(handler) as server:
        handler.controller = server
        point_mail_at(monkeypatch, server.port)
        yield handler
    homeward_settings.get_settings.cache_clear()


def run_drain(clock: SimulatedClock, **options: object) -> DrainReport:
    """Drain the outbox at the clock's time."""
    return asyncio.run(drain(clock=clock, **options))  # type: ignore[arg-type]


ANY_HOUR = {
    "HOMEWARD_MAIL_QUIET_DAYS": "false",
    "HOMEWARD_MAIL_MORNING_HOUR": "0",
    "HOMEWARD_MAIL_EVENING_HOUR": "24",
}
"""The settings under which mail goes whatever the day and hour (quiet days and hours off)."""


def mail_any_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set ``ANY_HOUR`` for this test (and the settings read again)."""
    for name, value in ANY_HOUR.items():
        monkeypatch.setenv(name, value)
    homeward_settings.get_settings.cache_clear()


@pytest.fixture
def any_day(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Mail goes when it is queued, any day and hour: for tests of what is said when (the
    cadence, the calendar), while quiet days and hours are proven apart
    (tests/notifications/test_quiet_hours.py)."""
    mail_any_hour(monkeypatch)
    yield
    homeward_settings.get_settings.cache_clear()

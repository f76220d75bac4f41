"""Probes of the health commands (the scheduler's: reading the mail flow, planning and queuing
managers' alerts) for the principal matrix (tests/protect/test_principal_matrix.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from homeward.commands import health
from notifications.health import Problem

Register = Callable[..., Callable[[Callable[[Any], Any]], Any]]
LATE = (Problem("late", "sweep-due-items", datetime(2026, 1, 5, 9, tzinfo=UTC)),)


def register(probe: Register) -> None:
    """Add one probe per command to the matrix's table."""
    table: dict[str, Callable[[Any], Any]] = {
        "ReadMailFlow": lambda _w: health.ReadMailFlow(),
        "PendingAlerts": lambda _w: health.PendingAlerts(LATE, frozenset({"late"})),
        "AlertManagers": lambda _w: health.AlertManagers(LATE, frozenset({"late"})),
    }
    for name, make in table.items():
        probe(name)(make)

"""Probes of the follow-up visit commands for the principal matrix
(tests/protect/test_principal_matrix.py): one ordinary request per command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeward.base.clock import local_date
from homeward.commands import visits

Register = Callable[..., Callable[[Callable[[Any], Any]], Any]]


def register(probe: Register) -> None:
    """Add one probe per command to the matrix's table."""
    table: dict[str, Callable[[Any], Any]] = {
        "RecordVisit": lambda w: visits.RecordVisit(
            w.adult,
            local_date(w.clock.now()),
            "home",
            attended="the person",
            progress="on_track",
            answers=(("housing", "adequate"),),
        ),
        "ListVisits": lambda w: visits.ListVisits(w.adult),
        "ShowVisit": lambda _w: visits.ShowVisit(1),
    }
    for name, make in table.items():
        probe(name)(make)

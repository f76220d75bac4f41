"""Probes of the ad-hoc item commands for the principal matrix: add one to the adult's case for
its owner, list them, and move or cancel an item (the world's items are the catalog's, which
these commands refuse for everyone: the matrix checks the principal is proven first)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from homeward.base.clock import local_date
from homeward.commands import adhoc

Register = Callable[..., Callable[[Callable[[Any], Any]], Any]]


def _due(world: Any) -> date:
    return local_date(world.clock.now()) + timedelta(days=7)


def register(probe: Register) -> None:
    """Add one probe per command to the matrix's table."""
    table: dict[str, Callable[[Any], Any]] = {
        "AddAdhocItem": lambda w: adhoc.AddAdhocItem(
            w.adult, "court_hearing", "iom-it", _due(w), at="10:30", title="hearing"
        ),
        "RescheduleItem": lambda w: adhoc.RescheduleItem(w.item(), _due(w), "the court moved it"),
        "CancelItem": lambda w: adhoc.CancelItem(w.item(), "the hearing was called off"),
        "ListAdhoc": lambda w: adhoc.ListAdhoc(w.adult),
    }
    for name, make in table.items():
        probe(name)(make)

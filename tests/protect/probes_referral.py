"""Probes of the NRM referral commands for the principal matrix
(tests/protect/test_principal_matrix.py): one ordinary request per command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeward.base.clock import local_date
from homeward.commands import referral

Register = Callable[..., Callable[[Callable[[Any], Any]], Any]]


def register(probe: Register) -> None:
    """Add one probe per command to the matrix's table."""
    table: dict[str, Callable[[Any], Any]] = {
        "RecordReferral": lambda w: referral.RecordReferral(
            w.adult, "RO-2026/00123", local_date(w.clock.now()), "police"
        ),
        "ShowReferral": lambda w: referral.ShowReferral(w.adult),
    }
    for name, make in table.items():
        probe(name)(make)

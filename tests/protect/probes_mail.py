"""Probes of the mail commands for the principal matrix (tests/protect/test_principal_matrix.py):
one ordinary request per command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeward.commands import mail

Register = Callable[..., Callable[[Callable[[Any], Any]], Any]]


def register(probe: Register) -> None:
    """Add one probe per command to the matrix's table."""
    probe("ReadMailStats")(lambda _w: mail.ReadMailStats(7))

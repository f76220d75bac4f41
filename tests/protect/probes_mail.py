"""Probes of the mail commands (stats; retry or redirect a refused recipient) for the principal
matrix (tests/protect/test_principal_matrix.py): one ordinary request per command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeward.commands import mail

Register = Callable[..., Callable[[Callable[[Any], Any]], Any]]


def register(probe: Register) -> None:
    """Add one probe per command to the matrix's table."""
    table: dict[str, Callable[[Any], Any]] = {
        "ReadMailStats": lambda _w: mail.ReadMailStats(7),
        "RetryMail": lambda _w: mail.RetryMail(),
        "RedirectMail": lambda _w: mail.RedirectMail(
            1, "coord@iom-it.example.org", "sup@iom-it.example.org"
        ),
    }
    for name, make in table.items():
        probe(name)(make)

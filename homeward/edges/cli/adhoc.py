"""The CLI for ad-hoc items and appointments (issue 16)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this part's commands to the ``homeward`` app (none yet)."""
    del app

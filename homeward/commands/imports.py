"""``import cases`` as a command: rows already read and checked from a file, imported as the
signed-in person in one transaction (``homeward.intake.load``).

The edge reads the file (``homeward.intake.rows.validate_file``) before the transaction opens,
so a large file never holds the database; the command checks the rows against the database
(participants, earlier imports) and writes them, or refuses with ``BadRows`` and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from homeward.commands.runner import Command, Context
from homeward.intake.load import Outcome, import_rows
from homeward.intake.rows import BadRow, GoodRow


@dataclass(frozen=True)
class ImportCases(Command[Outcome]):
    """Import ``rows`` (and report ``bad``): all of them, or with ``skip_bad`` the good ones.

    ``on_chunk`` is told how many rows each bulk insert sent (a progress bar)."""

    rows: list[GoodRow]
    bad: list[BadRow]
    skip_bad: bool = False
    on_chunk: Callable[[int], None] | None = field(default=None, compare=False)
    name = "import cases"

    def execute(self, ctx: Context) -> Outcome:
        return import_rows(
            ctx.session,
            rows=self.rows,
            bad=self.bad,
            actor=ctx.staff,
            skip_bad=self.skip_bad,
            now=ctx.now,
            on_chunk=self.on_chunk,
        )

    def args(self) -> Mapping[str, Any]:
        """Counts only: the rows hold the people's data."""
        return {"rows": len(self.rows), "bad": len(self.bad), "skip_bad": self.skip_bad}

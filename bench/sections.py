"""A bench's own section of ``bench/RESULTS.md``, between its start and end markers: replaced
where it stands, or added at the end, so each bench rewrites only its own figures (a heading,
how they were taken, a table: ``put_section``); and the load average every bench says beside
its figures."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path


def replace_section(out: Path, start: str, end: str, section: list[str]) -> None:
    """Put ``section`` (its lines, markers included) in ``out`` in place of the old one."""
    text = out.read_text(encoding="utf-8") if out.exists() else "# Benchmark results\n"
    block = "\n".join(section)
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), flags=re.S)
    text = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else f"{text.rstrip()}\n\n{block}\n"
    )
    out.write_text(text, encoding="utf-8")


def put_section(out: Path, start: str, end: str, heading: str, how: str, rows: list[str]) -> None:
    """A bench's section in ``out``: its ``## heading``, how the figures were taken and their
    table ``rows``, between the markers."""
    replace_section(out, start, end, [start, f"## {heading}", "", how, "", *rows, end])


def taken(command: str) -> str:
    """The opening of a section's "how": the command, when (UTC), on how many cores."""
    return f"`{command}`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores"


def load_average(separator: str = " ") -> str:
    """The machine's load average (1, 5 and 15 minutes) as /proc/loadavg says it, or
    ``unknown``: said beside every figure, as the machine is shared."""
    try:
        return separator.join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"

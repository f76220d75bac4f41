"""A bench's own section of ``bench/RESULTS.md``, between its start and end markers: replaced
where it stands, or added at the end, so each bench rewrites only its own figures; and the
load average every bench says beside its figures."""

from __future__ import annotations

import re
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


def load_average(separator: str = " ") -> str:
    """The machine's load average (1, 5 and 15 minutes) as /proc/loadavg says it, or
    ``unknown``: said beside every figure, as the machine is shared."""
    try:
        return separator.join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"

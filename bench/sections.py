"""A bench's own section of ``bench/RESULTS.md``, between its start and end markers: replaced
where it stands, or added at the end, so each bench rewrites only its own figures."""

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

"""A mermaid ``stateDiagram-v2`` generated from the transition table (README keeps a copy)."""

from __future__ import annotations

from statemachines.return_case import TRANSITIONS, State


def edges() -> list[tuple[str, str, str]]:
    """(source, dest, trigger) for every row and source, in table order, without repeats."""
    seen: dict[tuple[str, str, str], None] = {}
    for row in TRANSITIONS:
        sources = row["source"] if isinstance(row["source"], list) else [row["source"]]
        for source in sources:
            seen[(str(source), str(row["dest"]), row["trigger"])] = None
    return list(seen)


def mermaid() -> str:
    """The diagram's source, one edge per line (triggers from the same edge joined)."""
    labels: dict[tuple[str, str], list[str]] = {}
    for source, dest, trigger in edges():
        labels.setdefault((source, dest), []).append(trigger)
    lines = ["stateDiagram-v2", f"    [*] --> {State.IDENTIFIED_ABROAD}"]
    lines += [f"    {src} --> {dst}: {' / '.join(t)}" for (src, dst), t in labels.items()]
    lines.append(f"    {State.CLOSED} --> [*]")
    return "\n".join(lines)

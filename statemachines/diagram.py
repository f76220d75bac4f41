"""A mermaid ``stateDiagram-v2`` generated from the two tables (README keeps a copy).

The stage table is drawn inside the composite state ``active``; the status table around it,
``active`` standing for "the case's stage, whichever it is" (a resumed case goes back to the
stage it kept). The internal route's own rows are in ``INTERNAL_TRANSITIONS`` (README text).
"""

from __future__ import annotations

from statemachines.return_case import STATUS_TRANSITIONS, TRANSITIONS, State

COMPOSITE = "active"


def _sources(row: dict[str, object]) -> list[str]:
    source = row["source"]
    return [str(s) for s in source] if isinstance(source, list) else [str(source)]


def edges() -> list[tuple[str, str, str]]:
    """(source, dest, trigger) for every row and source of both tables."""
    seen: dict[tuple[str, str, str], None] = {}
    for row in [*TRANSITIONS, *STATUS_TRANSITIONS]:
        for source in _sources(row):
            seen[(source, str(row["dest"]), row["trigger"])] = None
    return list(seen)


def mermaid() -> str:
    """The diagram's source: the stages inside ``active``, the statuses outside it."""
    stage_moves = {(row["trigger"], str(row["dest"])) for row in TRANSITIONS}
    happy = [(s, d, t) for s, d, t in edges() if (t, d) in stage_moves]
    others = [(s, d, t) for s, d, t in edges() if (s, d, t) not in happy]
    lines = ["stateDiagram-v2", f"    [*] --> {State.IDENTIFIED_ABROAD}"]
    lines.append(f"    state {COMPOSITE} {{")
    lines += [f"        {s} --> {d}: {t}" for s, d, t in happy]
    lines.append("    }")
    lines += [f"    {s} --> {d}: {t}" for s, d, t in others]
    lines.append(f"    {State.CLOSED} --> [*]")
    return "\n".join(lines)

"""A mermaid ``stateDiagram-v2`` generated from the transition table (README keeps a copy).

Rows that apply from every active stage (suspend, lose_contact, ...) or lead back to whichever
stage was left (resume, regain_contact) are drawn once, against the composite state ``active``.
"""

from __future__ import annotations

from statemachines.return_case import ACTIVE, TRANSITIONS, State

COMPOSITE = "active"


def _sources(row: dict[str, object]) -> list[str]:
    source = row["source"]
    return [str(s) for s in source] if isinstance(source, list) else [str(source)]


def edges() -> list[tuple[str, str, str]]:
    """(source, dest, trigger) for every row and source, folded onto ``active`` where it fits."""
    active = {str(s) for s in ACTIVE}
    dests: dict[str, set[str]] = {}
    for row in TRANSITIONS:
        dests.setdefault(row["trigger"], set()).add(str(row["dest"]))
    seen: dict[tuple[str, str, str], None] = {}
    for row in TRANSITIONS:
        sources, dest, trigger = _sources(row), str(row["dest"]), row["trigger"]
        from_all_active = active <= set(sources)
        if dests[trigger] >= active and dest in active:
            dest = COMPOSITE
        for source in sources:
            if from_all_active and source in active:
                source = COMPOSITE
            seen[(source, dest, trigger)] = None
    return list(seen)


def mermaid() -> str:
    """The diagram's source: the happy path inside ``active``, exits and returns outside it."""
    happy = [(s, d, t) for s, d, t in edges() if s in set(ACTIVE) and d in set(ACTIVE)]
    others = [(s, d, t) for s, d, t in edges() if (s, d, t) not in happy]
    lines = ["stateDiagram-v2", f"    [*] --> {State.IDENTIFIED_ABROAD}"]
    lines.append(f"    state {COMPOSITE} {{")
    lines += [f"        {s} --> {d}: {t}" for s, d, t in happy]
    lines.append("    }")
    lines += [f"    {s} --> {d}: {t}" for s, d, t in others]
    lines.append(f"    {State.CLOSED} --> [*]")
    return "\n".join(lines)

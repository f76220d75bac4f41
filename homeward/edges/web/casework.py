"""The casework pages of a case (issue 16): each part's page module registers its page here with
``part`` when it is imported, and the case page links every registered page."""

from __future__ import annotations

PARTS: list[tuple[str, str]] = []  # (path under /cases/REF/, label as a message id)


def part(suffix: str, label: str) -> None:
    """Link ``/cases/REF/<suffix>`` from the case page as ``label`` (translated when shown)."""
    if (suffix, label) not in PARTS:
        PARTS.append((suffix, label))

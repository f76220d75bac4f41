"""The casework pages of a case (issue 16): each part's page module registers its page here with
``part`` when it is imported, and the case page links every registered page."""

from __future__ import annotations

PARTS: list[tuple[str, str]] = []  # (path under /cases/REF/, label as a message id)
# The order a caseworker meets them in; a part not named here comes last.
ORDER = ("referral", "assessments", "family", "plan", "appointments", "visits", "journal")


def part(suffix: str, label: str) -> None:
    """Link ``/cases/REF/<suffix>`` from the case page as ``label`` (translated when shown)."""
    if (suffix, label) not in PARTS:
        PARTS.append((suffix, label))


def ordered() -> list[tuple[str, str]]:
    """The registered pages in ``ORDER``."""
    rank = {suffix: n for n, suffix in enumerate(ORDER)}
    return sorted(PARTS, key=lambda part: rank.get(part[0], len(ORDER)))

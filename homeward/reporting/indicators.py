"""Indicator definitions, as data: which case event marks a case as counting towards each.

A case counts once, on the first event that qualifies; a report counts it when that moment
falls inside the report's period. Nothing is typed in by hand: the events are the history the
engine wrote (``homeward.records.audit.record_event``), and an imported case counts as identified on
its import.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The engine's stages in procedure order, those a case is open in, and its fixed closure
# reasons (as in ``statemachines``, which the core may not import; tests keep them equal).
STAGE_ORDER = (
    "identified_abroad",
    "identified_in_romania",  # the internal route's first stage (victims identified in Romania)
    "consent_obtained",
    "assessed",
    "travel_arranged",
    "in_transit",
    "received",
    "reintegration",
    "suspended",
    "lost_contact",
    "consent_withdrawn",
    "closed",
)
OPEN_STAGES = tuple(s for s in STAGE_ORDER if s not in ("consent_withdrawn", "closed"))
CLOSURE_REASONS = (
    "support_period_ended",
    "no_longer_eligible",
    "person_chose_to_stop",
    "moved_or_migrated",
    "died",
    "funding_ended",
    "security",
    "return_not_in_child_interest",
)


@dataclass(frozen=True)
class EventFact:
    """The parts of a ``CaseEvent`` indicators look at (no personal data)."""

    trigger: str
    at: datetime
    from_state: str | None = None
    to_state: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Indicator:
    """A case counts at its first event with one of ``triggers`` (or finishing ``item_code``)."""

    code: str
    label: str
    triggers: frozenset[str] = frozenset()
    item_code: str | None = None

    def qualifies(self, event: EventFact) -> bool:
        if event.trigger in self.triggers:
            return True
        return (
            self.item_code is not None
            and event.trigger == "item_done"
            and event.data.get("code") == self.item_code
        )

    def reached_at(self, events: Iterable[EventFact]) -> datetime | None:
        """When the case first counted, or None."""
        return min((e.at for e in events if self.qualifies(e)), default=None)


INDICATORS: dict[str, Indicator] = {
    ind.code: ind
    for ind in (
        Indicator("identified", "Victims identified", frozenset({"open", "import"})),
        Indicator(
            "assisted", "Victims assisted (informed consent given)", frozenset({"record_consent"})
        ),
        Indicator(
            "returned", "Assisted to return (arrival confirmed)", frozenset({"confirm_arrival"})
        ),
        Indicator(
            "reintegration_supported",
            "Supported after return (reintegration started)",
            frozenset({"start_reintegration"}),
        ),
        Indicator("follow_up_6m", "Follow-up completed at 6 months", item_code="follow_up_6m"),
    )
}

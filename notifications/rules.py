"""Reminder rules as data (``rules.json``), CommCare-style: per checklist item kind, reminders
N days before the due day, one on the due day, and after it an escalation to the owner
organisation's supervisors, repeated every ``repeat_every_days`` until the item is done. Which
rule fires for an item on a day is a pure function of the days left, so the table reads as
"what happens when".
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Section(StrEnum):
    """Where a fired rule lands: a part of the daily digest, or an escalation email."""

    COMING_DUE = "coming_due"
    DUE_TODAY = "due_today"
    OVERDUE = "overdue"
    PARTNERS_OVERDUE = "partners_overdue"  # the case owner's coordinators, for partners' items
    ESCALATION = "escalation"


class Firing(NamedTuple):
    """A rule that fires: its name (part of the idempotency key), where it lands, and which
    repeat of an overdue item's mention it is (0: the first)."""

    rule: str
    section: Section
    repeat: int = 0


class ItemRule(BaseModel):
    """The reminder rule of one checklist item kind."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    before_days: tuple[int, ...] = (3,)
    on_due_day: bool = True
    escalate_after_days: int = Field(default=1, ge=1)
    repeat_every_days: int = Field(default=7, ge=1)

    @field_validator("before_days")
    @classmethod
    def _positive_distinct(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(n < 1 for n in value) or len(set(value)) != len(value):
            raise ValueError("use distinct whole numbers of days, 1 or more")
        return tuple(sorted(value))

    def firings(self, *, days_left: int, escalated_days_ago: int | None = None) -> list[Firing]:
        """What fires for an item due in ``days_left`` days (negative: overdue), last escalated
        ``escalated_days_ago`` days ago (None: never).

        Overdue, the item is in its organisation's digest the first day late; from
        ``escalate_after_days`` late it escalates, and every ``repeat_every_days`` after that
        both are said again (repeat 1, 2...), never sooner than ``repeat_every_days`` after the
        last escalation (a late one, after missed days, sets the pace). A missed day fires the
        latest repeat only.
        """
        if days_left > 0:
            nearest = next((n for n in self.before_days if n >= days_left), None)
            return [Firing(f"before_{nearest}", Section.COMING_DUE)] if nearest else []
        if days_left == 0:
            return [Firing("due_today", Section.DUE_TODAY)] if self.on_due_day else []
        late = -days_left
        if late < self.escalate_after_days:
            return [Firing("overdue", Section.OVERDUE)]
        repeat = (late - self.escalate_after_days) // self.repeat_every_days
        if (
            repeat
            and escalated_days_ago is not None
            and escalated_days_ago < self.repeat_every_days
        ):
            return []
        suffix = f"_{repeat}" if repeat else ""
        return [
            Firing(f"overdue{suffix}", Section.OVERDUE, repeat),
            Firing(f"escalation{suffix}", Section.ESCALATION, repeat),
        ]


class ReminderRules(BaseModel):
    """The whole table: defaults, rules per item code, and the item kinds that are visits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = ""
    defaults: ItemRule
    items: dict[str, ItemRule] = Field(default_factory=dict)
    calendar_items: frozenset[str] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _defaults_under_overrides(cls, data: Any) -> Any:
        """An item's entry in the file overrides only the fields it names."""
        if isinstance(data, dict) and isinstance(data.get("items"), dict):
            defaults = data.get("defaults") or {}
            items = {code: {**defaults, **over} for code, over in data["items"].items()}
            data = {**data, "items": items}
        return data

    def for_item(self, code: str) -> ItemRule:
        """The rule of item kind ``code``."""
        return self.items.get(code, self.defaults)

    def all_rules(self) -> list[ItemRule]:
        """The defaults and every item's rule."""
        return [self.defaults, *self.items.values()]

    def shortest_repeat(self) -> int:
        """The fewest days between two mentions of an overdue item, over every rule."""
        return min(rule.repeat_every_days for rule in self.all_rules())

    def is_visit(self, code: str) -> bool:
        """Whether reminders of this item carry a calendar invitation."""
        return code in self.calendar_items


@cache
def load_rules() -> ReminderRules:
    """The shipped reminder rules, validated."""
    text = (resources.files("notifications") / "rules.json").read_text(encoding="utf-8")
    return ReminderRules.model_validate_json(text)

"""Reminder rules as data (``rules.json``), CommCare-style: per checklist item kind, reminders
N days before the due day, one on the due day, and once it is late a steady cadence of
mentions (``overdue_days``: 1, 3 and 7 days late, then every ``repeat_every_days``) until it is
done; from ``escalate_after_days`` late each mention also reaches the owner organisation's
supervisors, in their one escalation digest of the day. Which rule fires for an item on a day
is a pure function of the days left, so the table reads as "what happens when".
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
    """The reminder rule of one checklist item kind.

    Overdue, the item is mentioned on each of ``overdue_days`` (days late: 1, 3, 7), then
    every ``repeat_every_days`` after the last of them (14, 21...), until it is done: in its
    organisation's digest always, and from ``escalate_after_days`` late (one of those days) in
    the supervisors' escalation digest too.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    before_days: tuple[int, ...] = (3,)
    on_due_day: bool = True
    overdue_days: tuple[int, ...] = (1, 3, 7)
    escalate_after_days: int = Field(default=1, ge=1)
    repeat_every_days: int = Field(default=7, ge=1)

    @field_validator("before_days", "overdue_days")
    @classmethod
    def _positive_distinct(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(n < 1 for n in value) or len(set(value)) != len(value):
            raise ValueError("use distinct whole numbers of days, 1 or more")
        return tuple(sorted(value))

    @model_validator(mode="after")
    def _escalates_on_a_mention_day(self) -> ItemRule:
        if not self.overdue_days:
            raise ValueError("overdue_days: give at least one day (1: the first day late)")
        if self.mention(self.escalate_after_days) != self.escalate_after_days:
            raise ValueError(
                f"escalate_after_days: {self.escalate_after_days} is not a day the item is "
                f"mentioned (overdue_days {list(self.overdue_days)}, then every "
                f"{self.repeat_every_days}); use one of those days"
            )
        return self

    def mention_day(self, n: int) -> int:
        """The day late of the ``n``-th mention (0: the first) of an overdue item."""
        days, every = self.overdue_days, self.repeat_every_days
        return days[n] if n < len(days) else days[-1] + (n - len(days) + 1) * every

    def mention_index(self, late: int) -> int | None:
        """Which mention is the latest one due for an item ``late`` days late (None: none)."""
        days = self.overdue_days
        if late < days[0]:
            return None
        if late < days[-1]:
            return max(n for n, day in enumerate(days) if day <= late)
        return len(days) - 1 + (late - days[-1]) // self.repeat_every_days

    def mention(self, late: int) -> int | None:
        """The day late of the latest mention due for an item ``late`` days late."""
        n = self.mention_index(late)
        return None if n is None else self.mention_day(n)

    def cadence(self, until: int) -> list[int]:
        """Every day late, up to ``until``, on which an overdue item is mentioned."""
        days: list[int] = []
        while (day := self.mention_day(len(days))) <= until:
            days.append(day)
        return days

    def gaps_after_escalation(self) -> int:
        """The fewest days between two mentions once the item has been escalated."""
        first = self.mention_index(self.escalate_after_days) or 0
        last = len(self.overdue_days)  # the gaps after this one are all repeat_every_days
        gaps = [self.mention_day(n + 1) - self.mention_day(n) for n in range(first, last)]
        return min(gaps, default=self.repeat_every_days)

    def cadence_text(self) -> str:
        """The cadence in words: "1, 3, 7, then every 7 days late"."""
        days = ", ".join(str(day) for day in self.overdue_days)
        return f"{days}, then every {self.repeat_every_days} days late"

    def steady_from(self) -> int:
        """Days late from which every mention is ``repeat_every_days`` after the one before."""
        return self.overdue_days[-1] + self.repeat_every_days

    def firings(self, *, days_left: int, escalated_days_ago: int | None = None) -> list[Firing]:
        """What fires for an item due in ``days_left`` days (negative: overdue), last escalated
        ``escalated_days_ago`` days ago (None: never).

        Overdue, the latest mention due (see ``mention``) fires: rule ``overdue_3d`` in the
        digest, and from ``escalate_after_days`` late ``escalation_3d`` in the escalation
        digest; each once per due date (the caller remembers). A missed day fires the latest
        mention only, and never sooner after the last escalation than the cadence's gap there
        (a late one, after missed days, sets the pace).
        """
        if days_left > 0:
            nearest = next((n for n in self.before_days if n >= days_left), None)
            return [Firing(f"before_{nearest}", Section.COMING_DUE)] if nearest else []
        if days_left == 0:
            return [Firing("due_today", Section.DUE_TODAY)] if self.on_due_day else []
        n = self.mention_index(-days_left)
        if n is None:
            return []
        day = self.mention_day(n)
        gap = day - self.mention_day(n - 1) if n else 0
        if escalated_days_ago is not None and escalated_days_ago < gap:
            return []
        fired = [Firing(f"overdue_{day}d", Section.OVERDUE, n)]
        if day >= self.escalate_after_days:
            fired.append(Firing(f"escalation_{day}d", Section.ESCALATION, n))
        return fired


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

    def shortest_gap(self) -> int:
        """The fewest days between two mentions of an escalated item, over every rule."""
        return min(rule.gaps_after_escalation() for rule in self.all_rules())

    def shortest_repeat(self) -> int:
        """The fewest ``repeat_every_days`` over every rule."""
        return min(rule.repeat_every_days for rule in self.all_rules())

    def steady_from(self) -> int:
        """Days late from which every rule mentions an item only every ``repeat_every_days``."""
        return max(rule.steady_from() for rule in self.all_rules())

    def is_visit(self, code: str) -> bool:
        """Whether reminders of this item carry a calendar invitation."""
        return code in self.calendar_items


@cache
def load_rules() -> ReminderRules:
    """The shipped reminder rules, validated."""
    text = (resources.files("notifications") / "rules.json").read_text(encoding="utf-8")
    return ReminderRules.model_validate_json(text)

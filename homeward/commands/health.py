"""Health, as commands: how mail flows, which alerts are due, and queuing them for managers.

Only the service ``scheduler`` queues alerts (``homeward up``'s watch, ``homeward health
--alert``); reading is done in read-only transactions, so a check that finds nothing new
writes nothing, not even an audit line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from homeward.base.settings import get_settings
from homeward.commands.runner import Command, Context
from notifications.health import Kind, MailFlow, Problem, mail_flow, plan_alerts, queue_alerts


@dataclass(frozen=True)
class ReadMailFlow(Command[MailFlow]):
    """The outbox at a glance (counts only)."""

    name = "health mail flow"
    writes = False

    def execute(self, ctx: Context) -> MailFlow:
        ctx.ensure_service("the health check")  # every organisation's outbox, counted
        minutes = get_settings().health_mail_stuck_minutes
        return mail_flow(ctx.session, now=ctx.now, stuck_after=timedelta(minutes=minutes))


@dataclass(frozen=True)
class PendingAlerts(Command[tuple[str, ...]]):
    """The keys of the health emails that would be queued now (none queued before)."""

    problems: tuple[Problem, ...]
    checked: frozenset[Kind]
    name = "health pending alerts"
    writes = False

    def execute(self, ctx: Context) -> tuple[str, ...]:
        ctx.ensure_service("the health check")
        planned = plan_alerts(ctx.session, self.problems, checked=self.checked, now=ctx.now)
        return tuple(message.key for message in planned)


@dataclass(frozen=True)
class AlertManagers(Command[tuple[str, ...]]):
    """Queue today's health alerts and "recovered" notices for every manager; returns the
    keys queued."""

    problems: tuple[Problem, ...]
    checked: frozenset[Kind]
    name = "health alert"

    def execute(self, ctx: Context) -> tuple[str, ...]:
        ctx.ensure_service("health alerts")
        return queue_alerts(ctx.session, self.problems, checked=self.checked, now=ctx.now)

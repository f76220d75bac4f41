"""What the scheduler does, as commands: the reminder sweep and the follow-up visits.

Scheduled flows run them as the service ``scheduler`` (``workflows.runtime.SCHEDULER``): the
audit line and every history event they write name ``service scheduler`` as the proof, with
no staff member as the actor. Both are idempotent per local day (see their engine functions).
"""

from __future__ import annotations

from dataclasses import dataclass

from homeward.commands.runner import Command, Context
from notifications.reminders import ReminderReport, queue_reminders
from notifications.visits import FollowUpReport, schedule_follow_ups


@dataclass(frozen=True)
class QueueReminders(Command[ReminderReport]):
    """Today's reminders, escalations and digests, queued in the outbox (once a local day)."""

    name = "sweep due items"

    def execute(self, ctx: Context) -> ReminderReport:
        ctx.ensure_service("sweep")
        return queue_reminders(ctx.session, now=ctx.now)


@dataclass(frozen=True)
class ScheduleFollowUps(Command[FollowUpReport]):
    """Every case in reintegration gets its missing follow-up visits, each invited once."""

    name = "schedule follow ups"

    def execute(self, ctx: Context) -> FollowUpReport:
        ctx.ensure_service("follow-ups")
        return schedule_follow_ups(ctx.session, now=ctx.now)

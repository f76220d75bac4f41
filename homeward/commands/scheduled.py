"""What the scheduler does, as commands: the reminder sweep, the follow-up visits and the
audit checkpoint.

Scheduled flows run them as the service ``scheduler`` (``workflows.runtime.SCHEDULER``): the
audit line and every history event they write name ``service scheduler`` as the proof, with
no staff member as the actor. Both are idempotent per local day (see their engine functions).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from homeward.commands.runner import Command, Context
from homeward.records import anchor
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


@dataclass(frozen=True)
class Checkpointed:
    """A checkpoint written: how many audit entries and sealed rows it anchors, and when."""

    entries: int
    sealed_rows: int
    at: datetime


@dataclass(frozen=True)
class CheckpointAudit(Command[Checkpointed]):
    """Verify the audit log and the row seals, then append a signed checkpoint of the head to
    the file outside the database (``homeward.records.anchor``); a broken log is refused."""

    name = "audit checkpoint"
    writes = False

    def execute(self, ctx: Context) -> Checkpointed:
        ctx.ensure_service("the audit checkpoint")
        made = anchor.checkpoint(ctx.session, now=ctx.now)
        return Checkpointed(made.entries, made.seal_count, made.at)

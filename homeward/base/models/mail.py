"""The outbox, its recipients, reminders, calendar entries and reminder runs.

Defined when first named (``homeward.base.models``' ``__getattr__``), never by a command that does
not use them (issue 19)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Index, String, UniqueConstraint
from sqlmodel import Column, Field

# the tables its foreign keys point at, defined with it: a flush sorts tables by them
import homeward.base.models.directory  # noqa: F401
import homeward.base.models.items  # noqa: F401
from homeward.base.models import (
    ROW_ID,
    AwareDateTime,
    OutboxStatus,
    RecipientStatus,
    TableModel,
    _when,
)


def _json_list() -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class OutboxMessage(TableModel, table=True):
    """An email, first written as a row in the transaction of the change that caused it.

    ``key`` makes queuing idempotent (rule + item + due date, or recipient + digest day).
    ``context`` holds only the template's allow-listed fields (case_ref, stage, item title,
    organisation names, dates, a link): never personal data. The sender drains the rows.
    ``org_id``: the recipients' organisation, whose working days, hours and time zone decide
    when mail that can wait goes (``notifications.urgency``); none: the home country's.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    key: str = Field(sa_type=String(200), unique=True, index=True)
    template: str = Field(sa_type=String(64))
    language: str = Field(sa_type=String(8))
    to_addrs: list[str] = _json_list()
    context: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    message_id: str = Field(sa_type=String(255))
    status: str = Field(default=OutboxStatus.QUEUED, sa_type=String(32))
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=AwareDateTime)
    created_at: datetime = Field(sa_type=AwareDateTime)
    sent_at: datetime | None = _when(nullable=True)
    last_error: str | None = Field(default=None, sa_type=String(500))
    org_id: int | None = Field(default=None, foreign_key="organisation.id")


class OutboxRecipient(TableModel, table=True):
    """One recipient of one outbox message: the server's last answer for that address (code
    and text) and its own attempts and next attempt, so a refusal of one recipient neither
    hides behind the others' delivery nor resends to them. Staff addresses only."""

    __tablename__ = "outbox_recipient"
    __table_args__ = (
        UniqueConstraint("message_id", "address"),
        Index("ix_outbox_recipient_status", "status", "message_id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    message_id: int = Field(foreign_key="outbox_message.id", ondelete="CASCADE", sa_type=ROW_ID)
    address: str = Field(sa_type=String(254))
    status: str = Field(default=RecipientStatus.PENDING, sa_type=String(32))
    code: int | None = None  # the server's reply code (250, 451, 550), None before any answer
    reply: str | None = Field(default=None, sa_type=String(500))
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=AwareDateTime)
    updated_at: datetime = Field(sa_type=AwareDateTime)
    redirected_to: str | None = Field(default=None, sa_type=String(254))


class Reminder(TableModel, table=True):
    """One reminder rule fired for one checklist item and due date; the unique key keeps it
    from firing twice (a changed due date is a new obligation and may fire again)."""

    __tablename__ = "reminder"
    __table_args__ = (UniqueConstraint("item_id", "rule", "due_on"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    # found by the unique key, which starts with it (no index of its own to write: 0040)
    item_id: int = Field(foreign_key="checklist_item.id", ondelete="CASCADE", sa_type=ROW_ID)
    rule: str = Field(sa_type=String(32))
    due_on: date
    fired_at: datetime = Field(sa_type=AwareDateTime)


class CalendarEntry(TableModel, table=True):
    """What one attendee's calendar was last sent about one checklist item (a follow-up visit
    or an appointment): its start, its ``SEQUENCE`` and whether that was a cancellation.

    ``notifications.invitations`` compares it with what the item says now and sends the
    difference (an update with a higher sequence, or a cancellation), so an item keeps one
    ``uid`` for its whole life. Mail bookkeeping: a staff or organisation address, never a
    person's details."""

    __tablename__ = "calendar_entry"
    __table_args__ = (UniqueConstraint("item_id", "address"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    item_id: int = Field(
        foreign_key="checklist_item.id", index=True, ondelete="CASCADE", sa_type=ROW_ID
    )
    address: str = Field(sa_type=String(254))
    language: str = Field(sa_type=String(8))
    tzid: str = Field(sa_type=String(64))
    uid: str = Field(sa_type=String(120))
    sequence: int = 0
    starts_at: datetime = Field(sa_type=AwareDateTime)
    cancelled: bool = False
    sent_at: datetime = Field(sa_type=AwareDateTime)


class ReminderRun(TableModel, table=True):
    """The daily reminder run for one local day: digests go out once a day, at the digest hour.

    Claimed at ``ran_at``, committed in batches (``heartbeat_at``: when the last one was), and
    done at ``finished_at``; a run silent too long is taken over (``notifications.reminders``).
    """

    __tablename__ = "reminder_run"

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    day: date = Field(unique=True)
    ran_at: datetime = Field(sa_type=AwareDateTime)
    heartbeat_at: datetime | None = Field(default=None, sa_type=AwareDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=AwareDateTime)
    coming_due: int = 0
    due_today: int = 0
    overdue: int = 0
    escalated: int = 0
    queued: int = 0

"""Small helpers shared by the notification tests."""

from __future__ import annotations

from sqlmodel import col, select

from homeward.base.clock import SimulatedClock
from homeward.base.db import read_session, write_session
from homeward.base.models import OutboxMessage
from notifications.reminders import ReminderReport, queue_reminders


def remind(clock: SimulatedClock) -> ReminderReport:
    """Run the daily reminders at the clock's time, in one transaction."""
    with write_session() as s:
        return queue_reminders(s, now=clock.now())


def outbox(template: str | None = None) -> list[OutboxMessage]:
    """Queued-or-sent messages, oldest first, optionally of one template."""
    with read_session() as s:
        query = select(OutboxMessage).order_by(col(OutboxMessage.id))
        if template:
            query = query.where(OutboxMessage.template == template)
        return list(s.exec(query))


def digest_for(address: str) -> OutboxMessage:
    """The one digest queued for ``address`` (fails if there are several)."""
    (digest,) = [m for m in outbox("digest") if m.to_addrs == [address]]
    return digest


def escalated(message: OutboxMessage) -> list[dict[str, object]]:
    """The items of an escalation digest, each with its group's case_ref, organisation and
    whether that organisation could not be reached."""
    return [
        {
            **item,
            "case_ref": group["case_ref"],
            "org": group["org_name"],
            "unreached": group["unreached"],
        }
        for group in message.context["cases"]
        for item in group["overdue"]
    ]


def codes(lines: list[dict[str, object]]) -> list[object]:
    """Item titles of digest lines (short and readable in assertions)."""
    return [line["item_title"] for line in lines]

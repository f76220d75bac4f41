"""Small helpers shared by the notification tests."""

from __future__ import annotations

from datetime import UTC, date, datetime

import holidays
from sqlmodel import col, select

from homeward.base.clock import SimulatedClock
from homeward.base.db import read_session, write_session
from homeward.base.models import OutboxMessage
from notifications.reminders import ReminderReport, queue_reminders

# Monday 12 January 2026, 09:00 UTC (11:00 in Bucharest): a week without a public holiday in
# Romania or Italy (the clock fixture's Monday 5 January is followed by 6 and 7 January, both
# Romanian holidays, the first also Italian).
WORKING_MONDAY = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
_PUBLIC = {country: holidays.country_holidays(country) for country in ("RO", "IT")}


def works(country: str, day: date) -> bool:
    """The test's own oracle of a working day for an organisation in ``country`` (RO or IT):
    Monday to Friday, neither a Romanian holiday nor one of the country's."""
    return day.weekday() < 5 and day not in _PUBLIC["RO"] and day not in _PUBLIC[country]  # noqa: PLR2004


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


def send_all_queued(clock: SimulatedClock) -> int:
    """Drain the outbox, moving the clock on to each next moment queued mail may go (mail
    that can wait is held for its readers' working hours) until none is left queued; returns
    how many were dead-lettered."""
    from tests.notifications.conftest import run_drain

    dead = 0
    while queued := [m.next_attempt_at for m in outbox() if m.status == "queued"]:
        clock.current = max([clock.now(), min(queued)])
        dead += run_drain(clock).dead
    return dead


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

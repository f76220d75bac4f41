"""Which emails are urgent (sent at once, any day, any hour) and which wait for the recipient's
working hours (``notifications.workdays``): a table, one row per template, with the reason.

Urgent is kept for what cannot wait without harm: someone waiting at a sign-in page, or a
person's withdrawal of consent, which stops processing and sharing at once (partners holding
work must be told, so nobody visits or calls on a weekend against it). Everything about the
ordinary course of a case waits: staff do not work it at weekends, and a digest read on Monday
morning serves them better than four emails on Sunday at 06:00.

An appointment (a court hearing) is urgent only when waiting would make its email arrive on the
appointment's day or later: a hearing moved on Saturday to Monday 09:00 is told at once.

``send_at`` is applied when a message is queued (so ``homeward mail outbox`` shows when it
will go) and again when the sender claims it (a retry or a re-queued dead letter falling into
quiet hours waits too).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from homeward.base.clock import utc
from notifications.workdays import WorkCalendar


class Urgency(StrEnum):
    """When an email may go."""

    URGENT = "urgent"  # at once, whatever the day or hour
    WORKING_HOURS = "working hours"  # the recipient's next working morning, if not now
    BEFORE_IT_STARTS = "before it starts"  # at once only if waiting would arrive too late


URGENCY: dict[str, tuple[Urgency, str]] = {
    "login_code": (Urgency.URGENT, "someone waits at a sign-in page; the code dies in minutes"),
    "consent_withdrawn": (
        Urgency.URGENT,
        "processing stops now: partners must not act on the case (visit, call) over a weekend",
    ),
    "sharing_withdrawn": (
        Urgency.URGENT,
        "the partner must stop using the case's data now, not after the weekend",
    ),
    "test": (Urgency.URGENT, "an operator checks the mail settings and waits for it"),
    "health_alert": (
        Urgency.URGENT,
        "a manager learns now that schedules, the sweep or the mail stopped, any day",
    ),
    "appointment": (
        Urgency.BEFORE_IT_STARTS,
        "an invitation, move or cancellation must arrive before the day it is about",
    ),
    "visit": (
        Urgency.BEFORE_IT_STARTS,
        "a visit's invitation, move or cancellation must arrive before the visit's day",
    ),
    "handoff_rejected": (
        Urgency.WORKING_HOURS,
        "the item stays with the organisation that proposed it, which works it on working "
        "days; its digest shows it too",
    ),
    "handoff_proposed": (Urgency.WORKING_HOURS, "work offered is taken up on a working day"),
    "handoff_accepted": (Urgency.WORKING_HOURS, "nothing to do about it until a working day"),
    "partner_joined": (Urgency.WORKING_HOURS, "new work, taken up on a working day"),
    "digest": (Urgency.WORKING_HOURS, "the day's work; items due on quiet days fold into it"),
    "escalation": (Urgency.WORKING_HOURS, "a supervisor acts on it on a working day"),
}


def urgency_of(template: str) -> Urgency:
    """The urgency of ``template``; a template missing from the table waits (the safe side:
    a late notice is better than a Sunday-morning one nobody asked for)."""
    found = URGENCY.get(template)
    return found[0] if found else Urgency.WORKING_HOURS


def send_at(
    template: str, context: Mapping[str, Any], calendar: WorkCalendar, moment: datetime
) -> datetime:
    """When a message of ``template`` (its stored ``context``) ready at ``moment`` may go to
    readers keeping ``calendar``: ``moment`` itself, or the next working morning."""
    urgency = urgency_of(template)
    if urgency is Urgency.URGENT:
        return moment
    opening = calendar.opening(moment)
    if urgency is Urgency.BEFORE_IT_STARTS and _starts_by(context, calendar, opening):
        return moment
    return opening


def waiting_for(template: str, goes_at: datetime, calendar: WorkCalendar, now: datetime) -> str:
    """Why a queued message of ``template``, due at ``goes_at``, is not going at ``now``:
    its readers' quiet time ("weekend", "holiday: National Day (RO)", "before working hours"),
    or "" (it goes, or it waits for a retry: see its last error)."""
    if utc(goes_at) <= now or urgency_of(template) is Urgency.URGENT:
        return ""
    return calendar.quiet_reason(now) or ""


def _starts_by(context: Mapping[str, Any], calendar: WorkCalendar, opening: datetime) -> bool:
    """Whether what ``context`` is about starts on ``opening``'s local day or before it."""
    starts = context.get("starts_at")
    if starts is None:
        return False
    start = starts if isinstance(starts, datetime) else datetime.fromisoformat(str(starts))
    local_day = utc(start).astimezone(calendar.zone).date()
    return local_day <= utc(opening).astimezone(calendar.zone).date()

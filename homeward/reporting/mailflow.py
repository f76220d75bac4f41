"""The one place that turns outbox rows into counts, per local day, kind and outcome: what the
operators' ``homeward mail stats`` (``notifications.stats``) and the manager's overview
(``homeward.reporting.overview``) both read. Counts only: no address, case_ref or context
leaves here.

Each message counts on the local day it was queued, under what became of it: ``sent`` (some
recipient accepted it and none is still pending), ``waiting`` (queued, or being sent),
``dead`` or ``dropped``; so ``queued = sent + waiting + dead + dropped``. ``refused`` counts the
messages with at least one recipient refused for good (a sent message may have one too).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from homeward.base.clock import local_date
from homeward.base.models import OutboxMessage, OutboxRecipient, OutboxStatus, RecipientStatus
from homeward.base.settings import get_settings

OUTCOMES: dict[str, str] = {
    OutboxStatus.SENT: "sent",
    OutboxStatus.QUEUED: "waiting",
    OutboxStatus.SENDING: "waiting",
    OutboxStatus.DEAD: "dead",
    OutboxStatus.DROPPED: "dropped",
}


def refused_messages() -> Any:
    """The ids of emails with a recipient refused for good (dead with a server's answer, or
    redirected after it), as a subquery."""
    return (
        select(OutboxRecipient.message_id)
        .where(col(OutboxRecipient.status).in_([RecipientStatus.DEAD, RecipientStatus.REDIRECTED]))
        .where(col(OutboxRecipient.code).is_not(None))
    )


def count_outbox(
    session: Session, *, first_day: date, last_day: date
) -> Counter[tuple[date, str, str]]:
    """(local day, template, column) -> how many, for the mail queued from ``first_day`` to
    ``last_day``; columns ``queued``, ``refused`` and each outcome of ``OUTCOMES``."""
    since = datetime.combine(first_day, datetime.min.time(), tzinfo=get_settings().tz)
    query = select(
        OutboxMessage.created_at,
        OutboxMessage.template,
        OutboxMessage.status,
        col(OutboxMessage.id).in_(refused_messages()),
    ).where(col(OutboxMessage.created_at) >= since)
    counts: Counter[tuple[date, str, str]] = Counter()
    for created_at, template, status, refused in session.exec(query):
        day = local_date(created_at)
        if day > last_day:
            continue
        counts[day, template, "queued"] += 1
        counts[day, template, OUTCOMES.get(status, "waiting")] += 1
        counts[day, template, "refused"] += bool(refused)
    return counts

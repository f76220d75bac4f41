"""What became of the mail, per day and kind, and whether it has stopped flowing: counts only.

The operators' view (``homeward mail stats``, the ``mail-flow`` artifact) reads nothing but the
outbox's own columns: when a message was queued, its template, its status, whether any of its
recipients was refused for good, and when it was first accepted. No address, case_ref or
context leaves here. ``homeward.reporting.mailflow.count_outbox`` is the one place that turns
outbox rows into counts (the overview's "mail today" reads it too): when recipients get a
delivery status of their own, it is the function to change; its docstring says what each
column counts. A day of mail that nothing got through is plain in the table; ``stopped_mail`` says
whether mail is stopped now.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, and_, col, or_, select

from homeward.base.clock import utc
from homeward.base.models import OutboxMessage, OutboxStatus
from homeward.base.settings import get_settings
from homeward.reporting.mailflow import count_outbox

ALL_KINDS = "all"
# The sweep drains every hour: mail unsent for longer than that, with nothing sent since it was
# queued, is not on its way.
STALL_GRACE = timedelta(hours=1)
UNSENT = (OutboxStatus.QUEUED, OutboxStatus.SENDING, OutboxStatus.DEAD)


@dataclass(frozen=True)
class MailDay:
    """The mail queued on one local day (of one kind, or ``all``) and what became of it."""

    day: date
    kind: str
    queued: int = 0
    sent: int = 0
    refused: int = 0
    dead: int = 0
    waiting: int = 0
    dropped: int = 0


COLUMNS = tuple(f.name for f in fields(MailDay) if f.name not in ("day", "kind"))


@dataclass(frozen=True)
class MailStopped:
    """Mail is stopped: ``count`` messages queued since ``since`` and none sent since then;
    ``last_sent``: when a message was last accepted (None: never)."""

    count: int
    since: datetime
    last_sent: datetime | None

    def line(self) -> str:
        """``mail stopped: 12 queued since 2026-03-02 07:00, none sent since; last sent ...``"""
        last = _local(self.last_sent) if self.last_sent else "never"
        return (
            f"mail stopped: {self.count} queued since {_local(self.since)}, none sent since "
            f"(last sent: {last}; times in {get_settings().timezone})"
        )


def _local(moment: datetime) -> str:
    return utc(moment).astimezone(get_settings().tz).strftime("%Y-%m-%d %H:%M")


def count_mail(session: Session, *, first_day: date, last_day: date) -> list[MailDay]:
    """Per local day and template, the mail queued from ``first_day`` to ``last_day`` and what
    became of it (only the days and kinds that had mail; see the module's docstring)."""
    counts = count_outbox(session, first_day=first_day, last_day=last_day)
    keys = sorted({(day, kind) for day, kind, _ in counts})
    return [MailDay(day, kind, **{c: counts[day, kind, c] for c in COLUMNS}) for day, kind in keys]


def daily_totals(rows: Iterable[MailDay], first_day: date, last_day: date) -> list[MailDay]:
    """Every day from ``first_day`` to ``last_day``, all kinds summed (a day without mail: 0)."""
    sums: dict[date, Counter[str]] = {}
    for row in rows:
        sums.setdefault(row.day, Counter()).update({c: getattr(row, c) for c in COLUMNS})
    days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
    return [
        MailDay(day, ALL_KINDS, **{c: sums.get(day, Counter())[c] for c in COLUMNS}) for day in days
    ]


def stopped_mail(session: Session, *, now: datetime) -> MailStopped | None:
    """Whether mail has stopped flowing at ``now``: messages queued after the last one any
    server accepted, unsent for longer than ``STALL_GRACE``, that failed (an error kept, or
    dead) or have been due all that time. Mail held back on purpose until later (a retry's
    backoff with no error yet, a lease in progress) is not stopped, nor mail dropped."""
    last_sent = session.exec(select(func.max(OutboxMessage.sent_at))).one()
    late = now - STALL_GRACE
    conditions = [
        col(OutboxMessage.status).in_(UNSENT),
        col(OutboxMessage.sent_at).is_(None),
        col(OutboxMessage.created_at) <= late,
        or_(
            OutboxMessage.status == OutboxStatus.DEAD,
            col(OutboxMessage.last_error).is_not(None),
            col(OutboxMessage.next_attempt_at) <= late,
        ),
    ]
    if last_sent is not None:
        conditions.append(col(OutboxMessage.created_at) > last_sent)
    query = select(func.count(), func.min(OutboxMessage.created_at)).where(and_(*conditions))
    count, since = session.exec(query).one()
    if not count:
        return None
    return MailStopped(count, utc(since), utc(last_sent) if last_sent is not None else None)

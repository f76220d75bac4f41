"""Mail commands: the operators' view of the mail, and fixing refused recipients.

``ReadMailStats``: what was queued, sent, refused and dead, per day and kind, and whether mail
has stopped flowing (``notifications.stats``: counts only). Who may read it: a service (the
scheduler publishing the ``mail-flow`` artifact; the operator at the server with the key file,
``homeward mail stats``), and staff who may run reports (coordinators, supervisors and
managers, as for the caseload dashboard). It names no organisation, case or person, so it is
not scoped to the reader's organisation.

``RetryMail`` and ``RedirectMail``: retry a recipient the mail server refused, or redirect the
message to another address of the same organisation (``notifications.redelivery`` holds the
rules: who may, and which addresses). Reading the outbox and sending are the operator's
(``homeward mail``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from homeward.base.clock import local_date
from homeward.base.errors import InvalidInput
from homeward.commands.runner import Command, Context
from homeward.protection import permissions
from homeward.protection.permissions import Action
from notifications import redelivery, stats
from notifications.stats import MailDay, MailStopped

MAX_DAYS = 366


@dataclass(frozen=True)
class MailStats:
    """The mail of ``first_day`` to ``last_day`` (local days): per day and kind (``rows``,
    only where there was mail), per day (``totals``, every day), and whether it has stopped."""

    first_day: date
    last_day: date
    rows: list[MailDay]
    totals: list[MailDay]
    stopped: MailStopped | None = None


@dataclass(frozen=True)
class ReadMailStats(Command[MailStats]):
    """The last ``days`` local days of mail, today included, counted (see ``MailStats``)."""

    days: int = 7
    name = "mail stats"
    writes = False

    def execute(self, ctx: Context) -> MailStats:
        if not 1 <= self.days <= MAX_DAYS:
            raise InvalidInput(f"days: give a whole number of days from 1 to {MAX_DAYS}")
        if ctx.actor is not None:  # a person: only who may run reports (a service may)
            permissions.ensure(ctx.session, ctx.actor, Action.RUN_REPORTS)
        last = local_date(ctx.now)
        first = last - timedelta(days=self.days - 1)
        rows = stats.count_mail(ctx.session, first_day=first, last_day=last)
        return MailStats(
            first_day=first,
            last_day=last,
            rows=rows,
            totals=stats.daily_totals(rows, first, last),
            stopped=stats.stopped_mail(ctx.session, now=ctx.now),
        )


@dataclass(frozen=True)
class Retried:
    message_id: int | None  # None: every refused recipient the actor may act on
    addresses: tuple[str, ...]
    count: int


@dataclass(frozen=True)
class RetryMail(Command[Retried]):
    """Queue refused recipients again: of one message (one of them, with ``address``), or,
    without ``message_id``, every one the actor may act on."""

    message_id: int | None = None
    address: str | None = None
    name = "mail retry"

    def execute(self, ctx: Context) -> Retried:
        if self.message_id is None:
            count = redelivery.retry_all(ctx.session, actor=ctx.staff, now=ctx.now)
            return Retried(None, (), count)
        addresses = redelivery.retry(
            ctx.session,
            actor=ctx.staff,
            message_id=self.message_id,
            address=self.address,
            now=ctx.now,
        )
        return Retried(self.message_id, tuple(addresses), len(addresses))


@dataclass(frozen=True)
class Redirected:
    message_id: int
    address: str
    to: str


@dataclass(frozen=True)
class RedirectMail(Command[Redirected]):
    """Send a message refused for ``address`` to ``to`` instead (same organisation)."""

    message_id: int
    address: str
    to: str
    name = "mail redirect"

    def execute(self, ctx: Context) -> Redirected:
        added = redelivery.redirect(
            ctx.session,
            actor=ctx.staff,
            message_id=self.message_id,
            address=self.address,
            to=self.to,
            now=ctx.now,
        )
        return Redirected(self.message_id, self.address, added.address)

"""Draining the outbox through the pooled SMTP sender, and the one-off test email.

``drain`` claims due rows in batches, builds each message from its stored context, sends the
batch concurrently on pooled connections and records every outcome, one transaction per batch;
the claiming, building and recording run in a worker thread while the batch before is on the
wire. A row is marked sent only after the server accepted it, so a crash can at worst resend a
message, and the resend carries the same Message-ID.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime

from jinja2 import TemplateError
from sqlalchemy import Engine, Table, bindparam, func, update
from sqlmodel import Session, col, select

from homeward.base.clock import SYSTEM_CLOCK, Clock
from homeward.base.db import get_engine, write_session
from homeward.base.errors import DeliveryFailed, HomewardError
from homeward.base.faults import crash_point
from homeward.base.models import OutboxMessage, OutboxRecipient, OutboxStatus, RecipientStatus
from homeward.base.settings import Settings, get_settings, workspace_url
from notifications.contexts import (
    TEMPLATES,
    SendTestContext,
    home_link,
    own_links,
    with_signin_link,
)
from notifications.delivery import Policy, code_of, record_attempt, short
from notifications.message import (
    build_message,
    message_id_for,
    sender_parts,
    valid_address,
)
from notifications.outbox import (
    Attempt,
    Due,
    Leased,
    Unleased,
    Verdict,
    claim,
    due_recipients,
    has_expired,
    release,
)
from notifications.render import render
from notifications.smtp import Envelope, SmtpPool, ensure_safe_transport

log = logging.getLogger("homeward.notifications")
BATCH = 500
FIRST_BATCH_SHARE = 8  # the first batch is this share of a full one, and each next one twice
LEASE_FLOOR_SECONDS = 300.0


@dataclass(frozen=True)
class DrainReport:
    """How many messages a drain sent, left queued for a retry, and dead-lettered, and how
    many recipients it found refused for good (in messages sent to the others, too)."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    refused: int = 0


Claimed = tuple[Leased, list[Due]]  # a message and its recipients due now


def envelope_for(
    row: OutboxMessage | Leased,
    settings: Settings,
    now: datetime | None = None,
    recipients: Sequence[str] | None = None,
) -> Envelope | Attempt:
    """The wire form of a stored message for ``recipients`` (default: every address it
    names), or a dead ``Attempt`` if it cannot be built safely or (at ``now``) is of no use
    any more: a sign-in code that has stopped working."""
    if now is not None and has_expired(row, now):
        return Attempt(Verdict.DEAD, error="not sent: its sign-in code had expired")
    if row.template == "login_code" and not _to_its_one_address(row, recipients):
        return Attempt(Verdict.DEAD, error="not sent: a sign-in code goes to its one address only")
    sender = sender_parts(settings.mail_from)[1]
    try:
        # every link is the sender's own workspace's, never one the row chose
        context = own_links(row.context, workspace_url(settings))
        if row.template == "login_code":  # its link is the sender's, never the row's
            context = with_signin_link(context, row.to_addrs, settings)
        rendered = render(
            row.template,
            row.language,
            context,
            stamp=row.created_at,
            domain=sender.rpartition("@")[2],
        )
        message = build_message(
            rendered,
            to=row.to_addrs,
            mail_from=settings.mail_from,
            message_id=row.message_id,
            date=row.created_at,
            language=row.language,
        )
    except HomewardError as exc:
        return Attempt(Verdict.DEAD, error=f"cannot build the message: {exc}")
    except TemplateError as exc:
        return Attempt(Verdict.DEAD, error=f"cannot render the message ({type(exc).__name__})")
    return Envelope(sender, tuple(row.to_addrs if recipients is None else recipients), message)


def _to_its_one_address(row: OutboxMessage | Leased, recipients: Sequence[str] | None) -> bool:
    """Whether a sign-in email names one address and goes to it alone: any other recipient
    (one an app session slipped in) would get a genuine sign-in link to someone else."""
    if len(row.to_addrs) != 1:
        return False
    own = row.to_addrs[0].lower()
    return all(address.lower() == own for address in recipients or ())


async def drain(
    *,
    engine: Engine | None = None,
    limit: int | None = None,
    clock: Clock | None = None,
    settings: Settings | None = None,
    reuse_connections: bool = True,
    keys: Sequence[str] | None = None,
    batch_size: int = BATCH,
) -> DrainReport:
    """Send the queued messages that are due, at most ``limit`` of them.

    The database and rendering work runs in a worker thread while the previous batch is on
    the wire: as batch N is sent, batch N-1 is recorded and batch N+1 claimed and built, never
    more than one batch ahead, so a lease covers at most two batches' sending. The first batch
    is small, so sending starts soon, and each next one twice as large up to ``batch_size``.
    If the server turns out unreachable, the batch claimed ahead is given back untouched.

    Args:
        engine: the database (default: the configured one).
        limit: stop after this many messages (default: all that are due).
        clock: what "now" is (default: the wall clock).
        settings: SMTP and mail settings (default: ``HOMEWARD_*`` from the environment).
        reuse_connections: keep connections open between messages (False: one per message).
        keys: send only these messages (default: every due one).
        batch_size: at most this many messages claimed, sent and recorded together.

    Returns:
        Counts of messages sent, left queued for a later retry, and dead-lettered.
    """
    settings = settings or get_settings()
    ensure_safe_transport(settings)
    engine, clock = engine or get_engine(), clock or SYSTEM_CLOCK
    work = _Work(engine, settings, clock, due_by=clock.now(), keys=keys)
    async with SmtpPool(settings, reuse=reuse_connections) as pool:
        size = max(batch_size // FIRST_BATCH_SHARE, 1)  # the wire starts soon, then batches grow
        batch = await asyncio.to_thread(work.step, None, _size(size, limit, 0))
        claimed, done = 0, None
        while batch.built:
            claimed, size = claimed + len(batch.built), min(2 * size, batch_size)
            ahead = asyncio.ensure_future(  # meanwhile: record the batch before, claim the next
                asyncio.to_thread(work.step, done, _size(size, limit, claimed))
            )
            try:
                attempts = await _send(pool, batch.built)
            except BaseException:
                await _give_back(ahead, work)
                raise
            done, batch = Sent(attempts, clock.now()), await ahead
            if any(attempt.accepted for _, _, attempt in attempts):  # the batch before recorded,
                crash_point("smtp-accepted-before-mark")  # the next claimed: a known state
            if pool.unreachable:
                log.warning("outbox: mail server unreachable; the rest stays queued")
                await asyncio.to_thread(work.release, batch)
                break
        if done is not None:
            await asyncio.to_thread(work.step, done, 0)
    report = work.report()
    log.info(
        "outbox drained: %s sent, %s retried, %s dead, %s recipients refused",
        *vars(report).values(),
    )
    return report


async def _give_back(ahead: asyncio.Future[Batch], work: _Work) -> None:
    """After a failure while sending: let the worker finish, and give back what it claimed."""
    with suppress(Exception):  # the failure while sending is the one to report
        await asyncio.to_thread(work.release, await ahead)


def _size(batch_size: int, limit: int | None, claimed: int) -> int:
    return batch_size if limit is None else max(min(batch_size, limit - claimed), 0)


Outcomes = list[tuple[int, list[int], Attempt]]  # message id, recipient ids tried, outcome


@dataclass(frozen=True)
class Sent:
    """A batch sent and not yet recorded: its outcomes, and when it was sent."""

    attempts: Outcomes
    at: datetime


@dataclass
class Batch:
    """Messages leased to this drain (their state before, to give them back) and built."""

    leased_from: dict[int, Unleased] = field(default_factory=dict)
    built: list[tuple[int, list[int], Envelope | Attempt]] = field(default_factory=list)


@dataclass
class _Work:
    """A drain's database and rendering work, done in one worker thread at a time."""

    engine: Engine
    settings: Settings
    clock: Clock
    due_by: datetime
    keys: Sequence[str] | None
    totals: Counter[str] = field(default_factory=Counter)

    def step(self, sent: Sent | None, size: int) -> Batch:
        """Record ``sent`` (if any), then claim and build up to ``size`` messages."""
        if sent is not None:
            counts = _record(self.engine, sent.attempts, now=sent.at, settings=self.settings)
            self.totals.update(counts)
        if size <= 0:
            return Batch()
        batch, now = Batch(), self.clock.now()
        rows = _claim(
            self.engine,
            due_by=self.due_by,
            now=now,
            size=size,
            settings=self.settings,
            keys=self.keys,
            leased_from=batch.leased_from,
        )
        batch.built = [
            (row.id, [r.id for r in due], _envelope(row, due, self.settings, now))
            for row, due in rows
        ]
        return batch

    def release(self, batch: Batch) -> None:
        """Give back a batch claimed and not sent."""
        if batch.leased_from:
            with write_session(self.engine) as session:
                release(session, batch.leased_from)

    def report(self) -> DrainReport:
        totals = self.totals
        return DrainReport(
            sent=totals["sent"],
            retried=totals["retried"],
            dead=totals["dead"],
            refused=totals["refused"],
        )


def _claim(
    engine: Engine,
    *,
    due_by: datetime,
    now: datetime,
    size: int,
    settings: Settings,
    keys: Sequence[str] | None = None,
    leased_from: dict[int, Unleased] | None = None,
) -> list[Claimed]:
    """Lease a batch, with each message's recipients due at ``now``."""
    # claimed a batch ahead: the lease covers the batch on the wire before it, then its own
    lease = 2 * max(LEASE_FLOOR_SECONDS, 4 * settings.smtp_timeout_seconds)
    with write_session(engine) as session:
        rows = claim(
            session,
            due_by=due_by,
            now=now,
            limit=size,
            lease_seconds=lease,
            keys=keys,
            leased_from=leased_from,
        )
        due = due_recipients(session, [row.id for row in rows], due_by)
        return [(row, due[row.id]) for row in rows]


async def _send(
    pool: SmtpPool, built: Sequence[tuple[int, list[int], Envelope | Attempt]]
) -> Outcomes:
    """Send each message built to its due recipients; (message id, recipient ids, outcome)."""
    envelopes = [(i, t, e) for i, t, e in built if isinstance(e, Envelope)]
    outcomes = await pool.send_all([e for _, _, e in envelopes])
    failed = [(i, t, a) for i, t, a in built if isinstance(a, Attempt)]
    return failed + [(i, t, a) for (i, t, _), a in zip(envelopes, outcomes, strict=True)]


def _envelope(
    row: Leased, due: Sequence[Due], settings: Settings, now: datetime
) -> Envelope | Attempt:
    if not due:  # nobody left to try (a recipient retried or dropped meanwhile): settle it
        return Attempt(Verdict.SENT)
    return envelope_for(row, settings, now, [r.address for r in due])


def _record(
    engine: Engine,
    attempts: Sequence[tuple[int, list[int], Attempt]],
    *,
    now: datetime,
    settings: Settings,
) -> Counter[str]:
    """Record every outcome in one transaction; counts by message fate, and "refused".

    A message delivered to all its recipients (the common case) is recorded by two statements
    for the whole batch; any other outcome goes through ``record_attempt`` row by row."""
    counts, policy = (
        Counter[str](),
        Policy(settings.mail_max_attempts, settings.mail_retry_base_seconds),
    )
    with write_session(engine) as session:
        delivered = _delivered_to_all(session, attempts)
        _record_delivered(session, [a for a in attempts if a[0] in delivered], now)
        counts["sent"] += len(delivered)
        rest = [attempt for attempt in attempts if attempt[0] not in delivered]
        if rest:
            counts.update(_record_each(session, rest, now=now, policy=policy))
    return counts


def _delivered_to_all(
    session: Session, attempts: Sequence[tuple[int, list[int], Attempt]]
) -> set[int]:
    """The messages of ``attempts`` the server accepted for every one of their recipients, all
    of them tried now, and with no secret to wipe: their fate is plain (sent)."""
    accepted = {
        row_id: set(tried)
        for row_id, tried, attempt in attempts
        if attempt.verdict is Verdict.SENT
        and tried
        and len(attempt.accepted) == len(tried)
        and not attempt.refused
        and not attempt.deferred
    }
    if not accepted:
        return set()
    ids = list(accepted)
    everyone: dict[int, set[int]] = {row_id: set() for row_id in ids}
    recipients, messages = _tables()  # Core statements: no ORM entity is loaded or synchronised
    query = select(recipients.c.message_id, recipients.c.id).where(recipients.c.message_id.in_(ids))
    for message_id, recipient_id in session.execute(query):
        everyone[message_id].add(recipient_id or 0)
    secret = [name for name, model in TEMPLATES.items() if model.secret]
    with_secrets = set(
        session.execute(
            select(messages.c.id).where(messages.c.id.in_(ids), messages.c.template.in_(secret))
        ).scalars()
    )
    return {
        row_id
        for row_id, tried in accepted.items()
        if everyone[row_id] == tried and row_id not in with_secrets
    }


def _record_delivered(
    session: Session, attempts: Sequence[tuple[int, list[int], Attempt]], now: datetime
) -> None:
    """What ``record_attempt`` does to a message delivered to all its recipients, in bulk:
    each recipient delivered with the server's answer, each message sent."""
    if not attempts:
        return
    answers, coded = [], dict[str, tuple[str, int]]()  # a server's few answers, each once
    for _, tried, attempt in attempts:
        reply = attempt.reply or "250 accepted"
        if reply not in coded:
            answer = short(reply)
            coded[reply] = answer, code_of(answer) or 250
        answer, code = coded[reply]
        answers += [{"rid": rid, "reply": answer, "code": code} for rid in tried]
    recipients, messages = _tables()
    session.execute(
        update(recipients)
        .where(recipients.c.id == bindparam("rid"))
        .values(
            status=RecipientStatus.DELIVERED,
            attempts=recipients.c.attempts + 1,
            reply=bindparam("reply"),
            code=bindparam("code"),
            updated_at=now,
        ),
        answers,
    )
    session.execute(
        update(messages)
        .where(messages.c.id.in_([row_id for row_id, _, _ in attempts]))
        .values(
            status=OutboxStatus.SENT,
            sent_at=func.coalesce(messages.c.sent_at, now),
            last_error=None,
        )
    )


def _tables() -> tuple[Table, Table]:
    """The recipients' and the messages' tables."""
    return OutboxRecipient.__table__, OutboxMessage.__table__  # type: ignore[attr-defined]


def _record_each(
    session: Session,
    attempts: Sequence[tuple[int, list[int], Attempt]],
    *,
    now: datetime,
    policy: Policy,
) -> Counter[str]:
    """Record outcomes one message at a time (``record_attempt``)."""
    counts = Counter[str]()
    ids = [row_id for row_id, _, _ in attempts]
    rows = {
        r.id: r for r in session.exec(select(OutboxMessage).where(col(OutboxMessage.id).in_(ids)))
    }
    query = select(OutboxRecipient).where(col(OutboxRecipient.message_id).in_(ids))
    everyone: dict[int, list[OutboxRecipient]] = {row_id: [] for row_id in ids}
    for recipient in session.exec(query.order_by(col(OutboxRecipient.id))):
        everyone[recipient.message_id].append(recipient)
    for row_id, tried, attempt in attempts:
        row, theirs = rows[row_id], everyone[row_id]
        outcome = record_attempt(
            session,
            row,
            [r for r in theirs if r.id in tried],
            attempt,
            now=now,
            policy=policy,
            everyone=theirs,
        )
        counts[outcome.message] += 1
        counts["refused"] += outcome.refused
        if outcome.refused:
            log.warning(
                "outbox #%s (%s): %s recipient(s) refused for good",
                row_id,
                row.template,
                outcome.refused,
            )
    return counts


async def send_test(
    *, to: str, language: str = "en", settings: Settings | None = None, clock: Clock | None = None
) -> Attempt:
    """Send the test email to ``to`` right away (not through the outbox).

    Raises:
        DeliveryFailed: the server could not be reached or refused the message.
    """
    settings, now = settings or get_settings(), (clock or SYSTEM_CLOCK).now()
    ensure_safe_transport(settings)
    address = valid_address(to)
    context = SendTestContext(day=now.astimezone(settings.tz).date(), link=home_link())
    sender = sender_parts(settings.mail_from)[1]
    rendered = render("test", language, context, stamp=now, domain=sender.rpartition("@")[2])
    message = build_message(
        rendered,
        to=[address],
        mail_from=settings.mail_from,
        message_id=message_id_for(f"test:{now.isoformat()}:{address}", settings.mail_from),
        date=now,
        language=language,
    )
    async with SmtpPool(settings, size=1) as pool:
        attempt = await pool.send(Envelope(sender, (address,), message))
    if not attempt.accepted:
        why = attempt.error or "; ".join({**attempt.refused, **attempt.deferred}.values())
        raise DeliveryFailed(f"smtp: {why or 'the server did not accept the message'}")
    return attempt

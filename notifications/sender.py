"""Draining the outbox through the pooled SMTP sender, and the one-off test email.

``drain`` claims due rows in batches, builds each message from its stored context, sends the
batch concurrently on pooled connections and records every outcome, one transaction per batch.
A row is marked sent only after the server accepted it, so a crash can at worst resend a
message, and the resend carries the same Message-ID.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from jinja2 import TemplateError
from sqlalchemy import Engine
from sqlmodel import col, select

from homeward.base.clock import SYSTEM_CLOCK, Clock
from homeward.base.db import get_engine, write_session
from homeward.base.errors import DeliveryFailed, HomewardError
from homeward.base.faults import crash_point
from homeward.base.models import OutboxMessage, OutboxRecipient
from homeward.base.settings import Settings, get_settings
from notifications.contexts import SendTestContext, home_link
from notifications.delivery import Policy, record_attempt
from notifications.message import (
    build_message,
    message_id_for,
    sender_parts,
    valid_address,
)
from notifications.outbox import Attempt, Verdict, claim, due_recipients, has_expired
from notifications.render import render
from notifications.smtp import Envelope, SmtpPool, ensure_safe_transport

log = logging.getLogger("homeward.notifications")
BATCH = 500
LEASE_FLOOR_SECONDS = 300.0


@dataclass(frozen=True)
class DrainReport:
    """How many messages a drain sent, left queued for a retry, and dead-lettered, and how
    many recipients it found refused for good (in messages sent to the others, too)."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    refused: int = 0


Claimed = tuple[OutboxMessage, list[OutboxRecipient]]  # a message and its recipients due now


def envelope_for(
    row: OutboxMessage,
    settings: Settings,
    now: datetime | None = None,
    recipients: Sequence[str] | None = None,
) -> Envelope | Attempt:
    """The wire form of a stored message for ``recipients`` (default: every address it
    names), or a dead ``Attempt`` if it cannot be built safely or (at ``now``) is of no use
    any more: a sign-in code that has stopped working."""
    if now is not None and has_expired(row, now):
        return Attempt(Verdict.DEAD, error="not sent: its sign-in code had expired")
    sender = sender_parts(settings.mail_from)[1]
    try:
        rendered = render(
            row.template,
            row.language,
            row.context,
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


async def drain(
    *,
    engine: Engine | None = None,
    limit: int | None = None,
    clock: Clock | None = None,
    settings: Settings | None = None,
    reuse_connections: bool = True,
    keys: Sequence[str] | None = None,
) -> DrainReport:
    """Send the queued messages that are due, at most ``limit`` of them.

    Args:
        engine: the database (default: the configured one).
        limit: stop after this many messages (default: all that are due).
        clock: what "now" is (default: the wall clock).
        settings: SMTP and mail settings (default: ``HOMEWARD_*`` from the environment).
        reuse_connections: keep connections open between messages (False: one per message).
        keys: send only these messages (default: every due one).

    Returns:
        Counts of messages sent, left queued for a later retry, and dead-lettered.
    """
    settings = settings or get_settings()
    ensure_safe_transport(settings)
    engine, clock = engine or get_engine(), clock or SYSTEM_CLOCK
    due_by, totals, refused = clock.now(), Counter[str](), 0
    async with SmtpPool(settings, reuse=reuse_connections) as pool:
        while limit is None or totals.total() < limit:
            size = BATCH if limit is None else min(BATCH, limit - totals.total())
            rows = _claim(
                engine, due_by=due_by, now=clock.now(), size=size, settings=settings, keys=keys
            )
            if not rows:
                break
            attempts = await _send(pool, rows, settings, clock.now())
            if any(attempt.accepted for _, _, attempt in attempts):
                crash_point("smtp-accepted-before-mark")
            counts = _record(engine, attempts, now=clock.now(), settings=settings)
            refused += counts.pop("refused", 0)
            totals.update(counts)
            if pool.unreachable:
                log.warning("outbox: mail server unreachable; the rest stays queued")
                break
    report = DrainReport(
        sent=totals["sent"], retried=totals["retried"], dead=totals["dead"], refused=refused
    )
    log.info(
        "outbox drained: %s sent, %s retried, %s dead, %s recipients refused",
        *vars(report).values(),
    )
    return report


def _claim(
    engine: Engine,
    *,
    due_by: datetime,
    now: datetime,
    size: int,
    settings: Settings,
    keys: Sequence[str] | None = None,
) -> list[Claimed]:
    """Lease a batch, with each message's recipients due at ``now``."""
    lease = max(LEASE_FLOOR_SECONDS, 4 * settings.smtp_timeout_seconds)
    with write_session(engine) as session:
        rows = claim(session, due_by=due_by, now=now, limit=size, lease_seconds=lease, keys=keys)
        due = due_recipients(session, [row.id or 0 for row in rows], due_by)
        return [(row, due[row.id or 0]) for row in rows]


async def _send(
    pool: SmtpPool, claimed: Sequence[Claimed], settings: Settings, now: datetime
) -> list[tuple[int, list[int], Attempt]]:
    """Send each message to its due recipients; (message id, recipient ids, outcome)."""
    built = [
        (row.id or 0, [r.id or 0 for r in due], _envelope(row, due, settings, now))
        for row, due in claimed
    ]
    envelopes = [(i, t, e) for i, t, e in built if isinstance(e, Envelope)]
    outcomes = await pool.send_all([e for _, _, e in envelopes])
    failed = [(i, t, a) for i, t, a in built if isinstance(a, Attempt)]
    return failed + [(i, t, a) for (i, t, _), a in zip(envelopes, outcomes, strict=True)]


def _envelope(
    row: OutboxMessage, due: Sequence[OutboxRecipient], settings: Settings, now: datetime
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
    """Record every outcome in one transaction; counts by message fate, and "refused"."""
    counts, policy = (
        Counter[str](),
        Policy(settings.mail_max_attempts, settings.mail_retry_base_seconds),
    )
    with write_session(engine) as session:
        ids = [row_id for row_id, _, _ in attempts]
        rows = {
            r.id: r
            for r in session.exec(select(OutboxMessage).where(col(OutboxMessage.id).in_(ids)))
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

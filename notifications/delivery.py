"""Each recipient's delivery, on its own: what one attempt did to each address, and what the
message as a whole then is.

A recipient the server accepted is ``delivered`` and never mailed again; one refused for good
(5xx) is ``dead`` with the server's code and text, and only that recipient; one answered with
4xx (or caught in a lost connection) is ``deferred`` and tried again after an exponential
backoff of its own, until ``mail_max_attempts``. A message is ``queued`` while any recipient is
still to be tried, then ``sent`` if anyone received it (its dead recipients stay listed in
``homeward mail outbox``), ``dead`` if nobody did, ``dropped`` if it was stopped on purpose.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from homeward.base.models import OutboxMessage, OutboxRecipient, OutboxStatus, RecipientStatus
from notifications.outbox import OPEN, Attempt, Verdict, forget_secrets, recipients_of

MAX_BACKOFF_SECONDS = 6 * 3600
CODE = re.compile(r"^([245]\d\d)\b")
R = RecipientStatus


@dataclass(frozen=True)
class Policy:
    """How hard to try: attempts per recipient, and the first wait between two of them."""

    max_attempts: int
    base_seconds: float


@dataclass(frozen=True)
class Outcome:
    """What recording one attempt came to: the message's fate ("sent", "retried", "dead",
    "dropped") and how many of its recipients were refused for good by it."""

    message: str
    refused: int = 0


def backoff_seconds(attempts: int, base_seconds: float) -> float:
    """Exponential backoff after ``attempts`` attempts: base, 2 x base, 4 x base... capped."""
    return float(min(base_seconds * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS))


def short(text: str, limit: int = 500) -> str:
    """A reply or error on one line, at most ``limit`` characters."""
    return " ".join(text.split())[:limit]


def code_of(reply: str | None) -> int | None:
    """The SMTP code a stored reply starts with ("550 5.1.1 ..." -> 550), if any."""
    found = CODE.match(reply or "")
    return int(found.group(1)) if found else None


def _answer(recipient: OutboxRecipient, status: R, reply: str | None, now: datetime) -> None:
    recipient.status, recipient.updated_at = status, now
    recipient.reply = short(reply) if reply else None
    recipient.code = code_of(recipient.reply)


def _outcome_for(
    recipient: OutboxRecipient, attempt: Attempt, now: datetime, policy: Policy
) -> None:
    """Apply ``attempt`` to one recipient that was tried."""
    address = recipient.address
    recipient.attempts += 1
    if address in attempt.accepted:
        _answer(recipient, R.DELIVERED, attempt.reply or "250 accepted", now)
        recipient.code = recipient.code or 250
    elif address in attempt.refused:
        _answer(recipient, R.DEAD, attempt.refused[address], now)
    elif attempt.verdict is Verdict.DEAD:  # the whole message was refused (5xx to DATA...)
        _answer(recipient, R.DEAD, attempt.error or "refused", now)
    else:  # deferred (4xx), or the connection was lost: later, with backoff
        _defer(recipient, attempt.deferred.get(address) or attempt.error or "deferred", now, policy)


def _defer(recipient: OutboxRecipient, reply: str, now: datetime, policy: Policy) -> None:
    if recipient.attempts >= policy.max_attempts:
        _answer(recipient, R.DEAD, f"gave up after {recipient.attempts} attempts: {reply}", now)
        recipient.code = code_of(reply)
        return
    _answer(recipient, R.DEFERRED, reply, now)
    wait = max(backoff_seconds(recipient.attempts, policy.base_seconds), 1.0)
    recipient.next_attempt_at = now + timedelta(seconds=wait)


def record_attempt(
    session: Session,
    row: OutboxMessage,
    tried: Sequence[OutboxRecipient],
    attempt: Attempt,
    *,
    now: datetime,
    policy: Policy,
    everyone: Sequence[OutboxRecipient] | None = None,
) -> Outcome:
    """Apply an attempt at the recipients ``tried`` to them and to their message
    (``everyone``: all its recipients, if the caller has them already)."""
    if attempt.verdict is Verdict.NOT_TRIED:  # the server was not reached: no attempt used
        row.attempts = max(row.attempts - 1, 0)
        row.status, row.last_error = OutboxStatus.QUEUED, short(attempt.error or "not tried")
        row.next_attempt_at = now + timedelta(seconds=max(policy.base_seconds, 1))
        return Outcome("retried")
    for recipient in tried:
        _outcome_for(recipient, attempt, now, policy)
        session.add(recipient)
    if attempt.accepted and row.sent_at is None:
        row.sent_at = now
    refused = sum(r.status == R.DEAD for r in tried)
    return Outcome(settle(session, row, everyone), refused)


def settle(
    session: Session, row: OutboxMessage, recipients: Sequence[OutboxRecipient] | None = None
) -> str:
    """Set the message's status from its ``recipients``' (default: read them): queued (at the
    soonest retry) while any is still to be tried, else sent, dead or dropped; returns which."""
    if recipients is None:
        recipients = recipients_of(session, row.id or 0)
    still = [r for r in recipients if r.status in OPEN]
    dead = [r for r in recipients if r.status == R.DEAD]
    problem = "; ".join(sorted({r.reply for r in dead + still if r.reply}))
    row.last_error = short(problem) if problem else None
    if still:
        row.status = OutboxStatus.QUEUED
        row.next_attempt_at = min(r.next_attempt_at for r in still)
        return "retried"
    forget_secrets(row)  # sent or not, it goes out no more: no sign-in code kept
    if any(r.status == R.DELIVERED for r in recipients):
        row.status = OutboxStatus.SENT
    elif dead:
        row.status = OutboxStatus.DEAD
    else:
        row.status = OutboxStatus.DROPPED
        row.last_error = short("; ".join(sorted({r.reply or "dropped" for r in recipients})))
    return str(row.status)

"""Refused recipients, and what staff do about them: retry, or redirect to another address.

A recipient refused for good (``dead``) stays listed (``homeward mail outbox``) until someone
acts. ``retry`` queues it again as it was (the mailbox is back); ``redirect`` sends the same
message, with the same Message-ID, to another address instead: an active staff member's or an
organisation's mailbox, of the same organisation as the refused address, never an address
Homeward does not know (the mail names cases; it goes to no one outside the organisation it
was for). Recipients already reached are never mailed again. Either is the act of a
coordinator, supervisor or admin of the organisation the refused address belongs to, or of a
platform administrator (``permissions.Action.FIX_MAIL``), audited with them as its actor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from homeward.base.errors import InvalidInput, NotFound, Refused
from homeward.base.models import (
    Organisation,
    OutboxMessage,
    OutboxRecipient,
    OutboxStatus,
    RecipientStatus,
    StaffMember,
    StaffRole,
)
from homeward.protection.permissions import RULES, Action, org_text, permits, roles_text, who_text
from homeward.records.auditlog import audit
from notifications.message import valid_address
from notifications.outbox import recipients_of

DEAD = RecipientStatus.DEAD
SEE = "`homeward mail outbox --dead` lists the refused recipients"


@dataclass(frozen=True)
class Refusal:
    """One recipient refused for good: which message, the address and the server's answer."""

    message_id: int
    template: str
    address: str
    code: int | None
    reply: str | None
    attempts: int
    at: datetime


def refused(session: Session, *, limit: int = 50) -> list[Refusal]:
    """Recipients refused for good and not yet retried or redirected, oldest first, whether
    their message reached its other recipients or nobody."""
    query = (
        select(OutboxRecipient, OutboxMessage.template)
        .join(OutboxMessage, col(OutboxMessage.id) == col(OutboxRecipient.message_id))
        .where(OutboxRecipient.status == DEAD)
        .order_by(col(OutboxRecipient.updated_at), col(OutboxRecipient.id))
        .limit(limit)
    )
    return [
        Refusal(r.message_id, template, r.address, r.code, r.reply, r.attempts, r.updated_at)
        for r, template in session.exec(query)
    ]


def refused_count(session: Session) -> int:
    """How many recipients are refused for good and waiting for someone to act."""
    query = select(func.count()).where(OutboxRecipient.status == DEAD)
    return int(session.exec(query).one())


def get_message(session: Session, message_id: int) -> OutboxMessage:
    """The outbox message ``#message_id``; ``NotFound`` if there is none."""
    row = session.get(OutboxMessage, message_id)
    if row is None:
        raise NotFound(f"message: there is no outbox message #{message_id}; {SEE}")
    return row


def owner_org(session: Session, address: str) -> Organisation | None:
    """The organisation ``address`` belongs to: a staff member's (active or not), or its
    mailbox; None if Homeward knows it as neither, or as more than one organisation's (an
    address two organisations claim is nobody's to redirect: a staff member added with another
    organisation's mailbox must not take that organisation's mail)."""
    address = address.lower()
    staff = select(StaffMember.org_id).where(func.lower(StaffMember.email) == address)
    mailbox = select(Organisation.id).where(func.lower(col(Organisation.email)) == address)
    claims = {*session.exec(staff), *session.exec(mailbox)}
    if len(claims) != 1:
        return None
    return session.get(Organisation, claims.pop())


def _ensure_may(session: Session, actor: StaffMember, address: str) -> Organisation | None:
    """Refuse unless ``actor`` may act on mail refused to ``address``; its organisation."""
    org = owner_org(session, address)
    if permits(session, actor, Action.MANAGE_DIRECTORY):
        return org  # a platform administrator: anyone's
    if org is not None and org.id == actor.org_id and permits(session, actor, Action.FIX_MAIL):
        return org
    roles = roles_text(RULES[Action.FIX_MAIL].roles - {StaffRole.PLATFORM_ADMIN})
    ask = f"{roles} of {org_text(org)}" if org is not None else "a platform_admin"
    raise Refused(f"{who_text(session, actor)} cannot act on mail refused to {address}; ask {ask}")


def _dead_of(session: Session, row: OutboxMessage, address: str | None) -> list[OutboxRecipient]:
    """The message's dead recipients (or the one at ``address``); ``NotFound`` if none."""
    wanted = valid_address(address, field_name="recipient") if address else None
    found = [
        r
        for r in recipients_of(session, row.id or 0)
        if r.status == DEAD and wanted in (None, r.address.lower())
    ]
    if not found:
        whom = wanted or "any recipient"
        raise NotFound(
            f"recipient: message #{row.id} was not refused for {whom}; "
            f"`homeward mail show {row.id}` lists its recipients"
        )
    return found


def _reopen(row: OutboxMessage, now: datetime) -> None:
    row.status, row.next_attempt_at, row.last_error = OutboxStatus.QUEUED, now, None


def _queue_again(recipient: OutboxRecipient, now: datetime) -> None:
    recipient.status, recipient.attempts = RecipientStatus.PENDING, 0
    recipient.next_attempt_at = now
    recipient.code, recipient.reply, recipient.updated_at = None, None, now


def retry(
    session: Session,
    *,
    actor: StaffMember,
    message_id: int,
    address: str | None = None,
    now: datetime,
) -> list[str]:
    """Queue a message's refused recipients (or the one at ``address``) again; returns their
    addresses. The next ``homeward mail send`` tries them, and only them."""
    row = get_message(session, message_id)
    dead = _dead_of(session, row, address)
    if address is None:  # only the actor's own: others' addresses are never echoed back
        dead = _theirs(session, actor, row, dead)
    for recipient in dead:
        _ensure_may(session, actor, recipient.address)
    for recipient in dead:
        _queue_again(recipient, now)
        session.add(recipient)
    _reopen(row, now)
    session.add(row)
    audit(session, actor=actor, action=f"mail_retry:{row.id}", at=now, fields=["recipient"])
    return [recipient.address for recipient in dead]


def retry_all(session: Session, *, actor: StaffMember, now: datetime) -> int:
    """Queue again every refused recipient ``actor`` may act on; returns how many."""
    query = select(OutboxRecipient).where(OutboxRecipient.status == DEAD)
    mine = [r for r in session.exec(query) if _may(session, actor, r.address)]
    for recipient in mine:
        _queue_again(recipient, now)
        session.add(recipient)
    for message_id in sorted({r.message_id for r in mine}):
        _reopen(get_message(session, message_id), now)
    if mine:
        audit(session, actor=actor, action="mail_retry:all", at=now, fields=["recipient"])
    session.flush()
    return len(mine)


def _theirs(
    session: Session, actor: StaffMember, row: OutboxMessage, dead: list[OutboxRecipient]
) -> list[OutboxRecipient]:
    """Of a message's refused recipients, those ``actor`` may act on; refused, naming only the
    organisations (never another organisation's addresses), when there is none."""
    mine = [r for r in dead if _may(session, actor, r.address)]
    if mine:
        return mine
    roles = roles_text(RULES[Action.FIX_MAIL].roles - {StaffRole.PLATFORM_ADMIN})
    owners = [owner_org(session, r.address) for r in dead]
    asks = sorted({f"{roles} of {org_text(o)}" if o else "a platform_admin" for o in owners})
    raise Refused(
        f"{who_text(session, actor)} cannot act on the recipients refused on message #{row.id}; "
        f"ask {' or '.join(asks)}"
    )


def _may(session: Session, actor: StaffMember, address: str) -> bool:
    try:
        _ensure_may(session, actor, address)
    except Refused:
        return False
    return True


def _staff_address(session: Session, address: str) -> Organisation | None:
    """The organisation of an active staff member's address, or of a mailbox."""
    staff = session.exec(
        select(StaffMember).where(
            func.lower(StaffMember.email) == address, col(StaffMember.active).is_(True)
        )
    ).first()
    if staff is not None:
        return session.get(Organisation, staff.org_id)
    query = select(Organisation).where(func.lower(col(Organisation.email)) == address)
    return session.exec(query).first()


def _check_target(session: Session, row: OutboxMessage, org: Organisation | None, to: str) -> str:
    """``to`` as a redirect target: known, of the refused address's organisation, new."""
    target = valid_address(to)
    if org is None:
        raise InvalidInput(
            "recipient: the refused address belongs to no organisation Homeward knows any more, "
            f"so nobody can stand in for it; retry it instead (`homeward mail retry {row.id}`)"
        )
    target_org = _staff_address(session, target)
    if target_org is None:
        raise InvalidInput(
            f"to: {target} is neither an active staff member's address nor an organisation's "
            "mailbox; `homeward staff list` shows the addresses Homeward knows"
        )
    if target_org.id != org.id:
        raise InvalidInput(
            f"to: {target} is not an address of {org_text(org)}, whom the mail was for; "
            "redirect only to another of its staff or its mailbox"
        )
    taken = {r.address.lower(): r.status for r in recipients_of(session, row.id or 0)}
    if target in taken:
        raise InvalidInput(
            f"to: {target} is already a recipient of message #{row.id} ({taken[target]})"
        )
    return target


def redirect(
    session: Session,
    *,
    actor: StaffMember,
    message_id: int,
    address: str,
    to: str,
    now: datetime,
) -> OutboxRecipient:
    """Send message ``#message_id``, refused for ``address``, to ``to`` instead (see the
    module's rules); returns the new recipient, queued."""
    row = get_message(session, message_id)
    (dead,) = _dead_of(session, row, address)
    org = _ensure_may(session, actor, dead.address)
    target = _check_target(session, row, org, to)
    dead.status, dead.redirected_to, dead.updated_at = RecipientStatus.REDIRECTED, target, now
    session.add(dead)
    added = OutboxRecipient(
        message_id=row.id or 0, address=target, attempts=0, next_attempt_at=now, updated_at=now
    )
    session.add(added)
    row.to_addrs = [*row.to_addrs, target]
    if str(row.context.get("attendee", "")).lower() == dead.address.lower():
        # a calendar invitation names its reader as the one ATTENDEE: name the new one, or
        # their calendar shows an invitation for somebody else
        row.context = {**row.context, "attendee": target}
    _reopen(row, now)
    session.add(row)
    fields = ["recipient", "redirected_to"]
    audit(session, actor=actor, action=f"mail_redirect:{row.id}", at=now, fields=fields)
    return added

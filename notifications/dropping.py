"""Queued mail that must not go out any more: an organisation's part in a case ended.

When the person withdraws consent to sharing with an organisation, nothing more about the case
may reach its staff, including mail queued before the withdrawal and not yet sent. Such a
message is not deleted: it is marked ``dropped`` with the reason, so the outbox shows what
happened (``homeward mail outbox --dropped``). A digest that also lists other cases keeps those
lines and loses this case's; a message that also goes to other organisations keeps them and
records the dropped addresses as refused, with the reason.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from homeward.base.models import Organisation, OutboxMessage, OutboxStatus, StaffMember
from notifications.outbox import pending_recipients

DIGEST_SECTIONS = ("overdue", "due_today", "coming_due")


def org_addresses(session: Session, org_id: int) -> set[str]:
    """Every address of the organisation: its staff (active or not) and its mailbox."""
    staff = session.exec(select(StaffMember.email).where(StaffMember.org_id == org_id))
    found = {address.lower() for address in staff}
    org = session.get(Organisation, org_id)
    if org is not None and org.email:
        found.add(org.email.lower())
    return found


def drop_case_mail(session: Session, *, case_ref: str, org_id: int, reason: str) -> int:
    """Stop queued mail about ``case_ref`` to the organisation's addresses; returns how many
    messages changed."""
    addresses = org_addresses(session, org_id)
    queued = session.exec(select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.QUEUED))
    changed = 0
    for row in queued:
        ours = [a for a in pending_recipients(row) if a.lower() in addresses]
        if ours and _about(row.context, case_ref):
            _drop(row, ours, case_ref, reason)
            session.add(row)
            changed += 1
    session.flush()
    return changed


def _about(context: dict[str, Any], case_ref: str) -> bool:
    if context.get("case_ref") == case_ref:
        return True
    lines = (line for section in DIGEST_SECTIONS for line in context.get(section, []))
    return any(line.get("case_ref") == case_ref for line in lines)


def _drop(row: OutboxMessage, ours: list[str], case_ref: str, reason: str) -> None:
    others = [a for a in pending_recipients(row) if a not in ours]
    if others:  # the message still goes to the other organisations
        row.refused = {**row.refused, **dict.fromkeys(ours, reason)}
        return
    if row.context.get("case_ref") != case_ref and _strip_digest(row, case_ref):
        return  # the digest still lists other cases
    row.status, row.last_error = OutboxStatus.DROPPED, reason


def _strip_digest(row: OutboxMessage, case_ref: str) -> bool:
    """Remove ``case_ref``'s lines from a digest; whether any line is left."""
    context = dict(row.context)
    for section in DIGEST_SECTIONS:
        context[section] = [
            line for line in context.get(section, []) if line.get("case_ref") != case_ref
        ]
    row.context = context
    return any(context[section] for section in DIGEST_SECTIONS)

"""Queued mail that must not go out any more: an organisation's part in a case ended.

When the person withdraws consent to sharing with an organisation, nothing more about the case
may reach its staff, including mail queued before the withdrawal and not yet sent. Such a
message is not deleted: it is marked ``dropped`` with the reason, so the outbox shows what
happened (``homeward mail outbox --dropped``). A digest that also lists other cases keeps those
lines and loses this case's; a message that also goes to other organisations keeps them and
marks the organisation's recipients ``dropped``, with the reason. A recipient of the
organisation that was refused earlier (dead) is dropped too, so no retry can resend it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from homeward.base.db import is_postgres
from homeward.base.models import (
    Case,
    CaseEvent,
    Consent,
    Organisation,
    OutboxMessage,
    OutboxRecipient,
    OutboxStatus,
    RecipientStatus,
    StaffMember,
)
from notifications.delivery import settle, short
from notifications.outbox import OPEN, recipients_of

DIGEST_SECTIONS = ("overdue", "due_today", "coming_due")
STOPPABLE = (*OPEN, RecipientStatus.DEAD)  # a dead recipient could be retried: stop it too


def org_addresses(session: Session, org_id: int) -> set[str]:
    """Every address of the organisation: its staff (active or not) and its mailbox."""
    staff = session.exec(select(StaffMember.email).where(StaffMember.org_id == org_id))
    found = {address.lower() for address in staff}
    org = session.get(Organisation, org_id)
    if org is not None and org.email:
        found.add(org.email.lower())
    return found


def _stoppable(session: Session, addresses: set[str]) -> dict[int, list[OutboxRecipient]]:
    """The organisation's recipients still to be tried or retried, by message: queued mail,
    and dead recipients of mail sent (or dead) that ``homeward mail retry`` could resend."""
    query = (
        select(OutboxRecipient)
        .join(OutboxMessage, col(OutboxMessage.id) == col(OutboxRecipient.message_id))
        .where(
            col(OutboxRecipient.status).in_(STOPPABLE),
            col(OutboxMessage.status).in_(
                [OutboxStatus.QUEUED, OutboxStatus.SENT, OutboxStatus.DEAD]
            ),
        )
    )
    found: dict[int, list[OutboxRecipient]] = {}
    for recipient in session.exec(query):
        if recipient.address.lower() in addresses:
            found.setdefault(recipient.message_id, []).append(recipient)
    return found


def drop_case_mail(
    session: Session,
    *,
    case_ref: str,
    org_id: int,
    reason: str,
    now: datetime,
    templates: tuple[str, ...] | None = None,
) -> int:
    """Stop mail about ``case_ref`` to the organisation's addresses, queued or waiting for a
    retry (only of these ``templates``, when given); returns how many messages changed.

    PostgreSQL: the definer function ``homeward_drop_case_mail`` (migration 0026) does it,
    as here: row security shows an app transaction its own organisation's mail only, and the
    partner's digests listing the case must lose it all the same."""
    if is_postgres(session):
        return _drop_in_database(session, case_ref, org_id, short(reason), now, templates)
    changed = 0
    for message_id, ours in _stoppable(session, org_addresses(session, org_id)).items():
        row = session.get(OutboxMessage, message_id)
        if row is not None and templates is not None and row.template not in templates:
            continue
        if row is not None and row.context.get("cancelled") is True:
            continue  # a calendar CANCEL: it takes the visit out of their calendars, so it goes
        if row is not None and _about(row.context, case_ref):
            _drop(session, row, ours, case_ref, reason, now)
            session.add(row)
            changed += 1
    session.flush()
    return changed


def _drop_in_database(
    session: Session,
    case_ref: str,
    org_id: int,
    reason: str,
    now: datetime,
    templates: tuple[str, ...] | None,
) -> int:
    session.flush()
    only = None if templates is None else list(templates)
    changed = session.execute(
        text("SELECT homeward_drop_case_mail(:r, :o, :why, :at, CAST(:only AS text[]))"),
        {"r": case_ref, "o": org_id, "why": reason, "at": now, "only": only},
    ).scalar_one()
    for loaded in list(session.identity_map.values()):  # changed behind the session's back
        if isinstance(loaded, OutboxMessage | OutboxRecipient):
            session.expire(loaded)
    return int(changed)


WITHDRAWN = "sharing_consent_withdrawn"


def withdrawn_reason(org_slug: str, case_ref: str) -> str:
    """What a dropped message or recipient says."""
    return f"dropped: sharing consent for {org_slug} withdrawn on case {case_ref}"


SWEEP_TEMPLATES = ("digest", "escalation")  # what the daily sweep builds and queues


def drop_mail_withdrawn_since(session: Session, since: datetime, now: datetime) -> int:
    """``drop_case_mail`` again, for the sweep's own mail, for every sharing withdrawn since
    ``since``: digests built outside a transaction and queued after a withdrawal committed would
    otherwise still list the case for the organisation. (The withdrawal's own notice to the
    organisation, and other mail, are the withdrawal's to judge.) Returns how many changed."""
    query = (
        select(CaseEvent.case_id, CaseEvent.data)
        .where(CaseEvent.trigger == WITHDRAWN, col(CaseEvent.at) >= since)
        .order_by(col(CaseEvent.id))
    )
    changed = 0
    for case_id, data in session.exec(query).all():
        case = session.get(Case, case_id)
        org = session.exec(select(Organisation).where(Organisation.slug == data.get("org"))).first()
        if case is None or org is None or org.id is None or sharing_live(session, case_id, org.id):
            continue  # given again since: its mail about the case goes
        reason = withdrawn_reason(org.slug, case.case_ref)
        changed += drop_case_mail(
            session,
            case_ref=case.case_ref,
            org_id=org.id,
            reason=reason,
            now=now,
            templates=SWEEP_TEMPLATES,
        )
    return changed


def sharing_live(session: Session, case_id: int, org_id: int) -> bool:
    """Whether the person's consent to sharing the case with the organisation stands now (as
    ``homeward_drop_case_mail`` asks an app caller, migration 0028)."""
    query = select(Consent.id).where(
        Consent.case_id == case_id,
        Consent.purpose == "sharing",
        Consent.org_id == org_id,
        col(Consent.withdrawn_on).is_(None),
    )
    return session.exec(query).first() is not None


def _about(context: dict[str, Any], case_ref: str) -> bool:
    if context.get("case_ref") == case_ref:
        return True
    lines = (line for section in DIGEST_SECTIONS for line in context.get(section, []))
    groups = context.get("cases", [])  # an escalation digest: its items grouped by case
    return any(line.get("case_ref") == case_ref for line in [*lines, *groups])


def _drop(
    session: Session,
    row: OutboxMessage,
    ours: list[OutboxRecipient],
    case_ref: str,
    reason: str,
    now: datetime,
) -> None:
    others = [r for r in recipients_of(session, row.id or 0) if r.status in OPEN and r not in ours]
    queued_digest = row.status == OutboxStatus.QUEUED and row.context.get("case_ref") != case_ref
    if not others and queued_digest and _strip_digest(row, case_ref):
        return  # the digest still lists other cases, and goes to nobody else
    for recipient in ours:
        recipient.status, recipient.reply, recipient.code = (
            RecipientStatus.DROPPED,
            short(reason),
            None,
        )
        recipient.updated_at = now
        session.add(recipient)
    settle(session, row)


def _strip_digest(row: OutboxMessage, case_ref: str) -> bool:
    """Remove ``case_ref``'s lines (or, from an escalation digest, its group) from a digest;
    whether anything is left."""
    context = dict(row.context)
    if "cases" in context:
        context["cases"] = [g for g in context["cases"] if g.get("case_ref") != case_ref]
        row.context = context
        return bool(context["cases"])
    for section in DIGEST_SECTIONS:
        context[section] = [
            line for line in context.get(section, []) if line.get("case_ref") != case_ref
        ]
    row.context = context
    return any(context[section] for section in DIGEST_SECTIONS)

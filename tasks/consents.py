"""What consent changes do to work in progress.

Giving a sharing consent lets work (and so data) go to that organisation. Withdrawing it ends
that organisation's part: its open items on the case are cancelled, its handoffs revoked, and a
``sharing_consent_withdrawn`` event tells it (the notifications package turns the event into a
notice without personal data). Withdrawing all consent is the ``withdraw_consent`` trigger.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from homeward import consent as ledger
from homeward.access import ensure_can_steer
from homeward.audit import record_event
from homeward.clock import local_date
from homeward.directory import get_org
from homeward.errors import InvalidInput
from homeward.locking import bump
from homeward.models import (
    Case,
    ChecklistItem,
    ConsentPurpose,
    Handoff,
    HandoffStatus,
    ItemStatus,
    Organisation,
    StaffMember,
)
from tasks.transfers import decide


def give_consent(
    session: Session, *, case: Case, given: ledger.ConsentIn, actor: StaffMember, now: datetime
) -> None:
    """Record a consent on ``case`` (sharing needs the organisation)."""
    ensure_can_steer(session, actor, case)
    bump(session, case)
    org = _sharing_org(session, given.purpose, given.org)
    ledger.give(
        session,
        case=case,
        purpose=given.purpose,
        org_id=org.id if org else None,
        method=given.method,
        language=given.language,
        interpreter=given.interpreter,
        given_on=given.given_on or local_date(now),
        actor=actor,
        now=now,
    )
    record_event(
        session,
        case=case,
        trigger="consent_given",
        at=now,
        actor=actor,
        data={"purpose": given.purpose, "org": org.slug if org else None},
    )


def _sharing_org(session: Session, purpose: str, slug: str | None) -> Organisation | None:
    if purpose == ConsentPurpose.SHARING and not slug:
        raise InvalidInput("--org: sharing consent names the organisation, e.g. --org adpare")
    if purpose != ConsentPurpose.SHARING and slug:
        raise InvalidInput(f"--org: only sharing consent names an organisation, not {purpose}")
    return get_org(session=session, slug=slug) if slug else None


def withdraw_consent(
    session: Session,
    *,
    case: Case,
    purpose: str,
    org_id: int | None,
    actor: StaffMember,
    now: datetime,
) -> None:
    """Withdraw one consent; for sharing, end the organisation's part in the case."""
    ensure_can_steer(session, actor, case)
    if purpose == ConsentPurpose.RETURN:
        raise InvalidInput(
            "purpose: withdrawing consent to the return is the case's "
            "withdraw_consent step: `homeward case advance REF withdraw_consent`"
        )
    if purpose not in set(ConsentPurpose):
        raise InvalidInput(f"purpose: use one of {', '.join(ConsentPurpose)}")
    bump(session, case)
    ledger.withdraw(
        session, case=case, purpose=purpose, org_id=org_id, on=local_date(now), actor=actor, now=now
    )
    if purpose == ConsentPurpose.SHARING and org_id is not None:
        _end_org_part(session, case=case, org_id=org_id, actor=actor, now=now)


def _end_org_part(
    session: Session, *, case: Case, org_id: int, actor: StaffMember, now: datetime
) -> None:
    items = session.exec(
        select(ChecklistItem).where(
            ChecklistItem.case_id == case.id,
            ChecklistItem.owner_org_id == org_id,
            ChecklistItem.status == ItemStatus.OPEN,
        )
    ).all()
    for item in items:
        item.status, item.completed_at = ItemStatus.CANCELLED, now
    handoffs = session.exec(
        select(Handoff).where(
            Handoff.case_id == case.id,
            Handoff.to_org_id == org_id,
            col(Handoff.status).in_([HandoffStatus.PROPOSED, HandoffStatus.ACCEPTED]),
        )
    ).all()
    for handoff in handoffs:
        decide(handoff, HandoffStatus.REVOKED, actor, now)
    org = session.get(Organisation, org_id)
    record_event(
        session,
        case=case,
        trigger="sharing_consent_withdrawn",
        at=now,
        actor=actor,
        data={
            "org": org.slug if org else None,
            "items_cancelled": len(items),
            "handoffs_revoked": len(handoffs),
        },
    )

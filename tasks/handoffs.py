"""Handoffs: an item is handed from its owner organisation to another, which accepts or rejects.

Until accepted the item stays with its owner. At most one handoff per item is pending.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from homeward.base.errors import Conflict, InvalidInput, NotFound, Refused
from homeward.base.models import (
    Case,
    ChecklistItem,
    Handoff,
    HandoffStatus,
    ItemStatus,
    StaffMember,
)
from homeward.protection.permissions import Action, ensure, ensure_item
from homeward.records.audit import record_event
from homeward.records.directory import get_org
from tasks.checklist import get_item, lock_case, visible_item
from tasks.transfers import (
    decide,
    ensure_item_stays_with_dgaspc,
    ensure_sharing_consent,
    new_handoff,
    protect_reason,
)


def pending_handoff(session: Session, item: ChecklistItem) -> Handoff | None:
    """The item's handoff awaiting an answer, if any."""
    query = select(Handoff).where(
        Handoff.item_id == item.id, Handoff.status == HandoffStatus.PROPOSED
    )
    return session.exec(query).first()


def propose(
    session: Session,
    *,
    item_id: int,
    to_org_slug: str,
    actor: StaffMember,
    now: datetime,
    reason: str | None = None,
    expected_version: int | None = None,
) -> Handoff:
    """Hand an open item to another organisation; it stays ours until they accept."""
    item, case = visible_item(session, item_id, actor)
    lock_case(session, case, expected_version, item)
    if item.status != ItemStatus.OPEN:
        raise Refused(f"item #{item_id} is {item.status}; only open items can be handed off")
    ensure_item(session, actor, Action.HAND_OFF_OWN_ITEM, case, item)
    target = get_org(session=session, slug=to_org_slug)
    if target.id == item.owner_org_id:
        raise Refused(f"item #{item_id} already belongs to {target.slug}")
    if pending_handoff(session, item):
        raise Conflict(f"item #{item_id} already has a handoff awaiting an answer")
    ensure_item_stays_with_dgaspc(session, case, item, target)
    ensure_sharing_consent(session, case, target)
    handoff = new_handoff(
        session,
        case=case,
        stage=item.stage,
        from_org_id=item.owner_org_id,
        target=target,
        actor=actor,
        now=now,
        reason=reason,
        item_id=item.id,
    )
    record_event(
        session,
        case=case,
        trigger="handoff_proposed",
        at=now,
        actor=actor,
        data={"item_id": item.id, "code": item.code, "to_org": target.slug},
    )
    return handoff


def _pending_for_actor(
    session: Session, item_id: int, actor: StaffMember, expected_version: int | None
) -> tuple[Handoff, ChecklistItem, Case]:
    missing = NotFound(f"no handoff of item #{item_id} awaits your organisation")
    try:
        item, case = get_item(session, item_id)  # row security may hide it: same answer
    except NotFound:
        raise missing from None
    handoff = pending_handoff(session, item)
    if handoff is None or handoff.to_org_id != actor.org_id:
        raise missing
    ensure(session, actor, Action.ANSWER_HANDOFF)
    lock_case(session, case, expected_version, item, handoff)
    if handoff.status != HandoffStatus.PROPOSED:  # answered just before us
        raise missing
    return handoff, item, case


def accept(
    session: Session,
    *,
    item_id: int,
    actor: StaffMember,
    now: datetime,
    expected_version: int | None = None,
) -> Handoff:
    """Accept a handoff addressed to the actor's organisation: the item becomes ours."""
    handoff, item, case = _pending_for_actor(session, item_id, actor, expected_version)
    decide(handoff, HandoffStatus.ACCEPTED, actor, now)
    item.owner_org_id, item.assignee_id = handoff.to_org_id, None
    item.partner_needed = None  # the coordinator found a partner for it by hand
    record_event(
        session,
        case=case,
        trigger="handoff_accepted",
        at=now,
        actor=actor,
        data={"item_id": item.id, "code": item.code},
    )
    return handoff


def reject(
    session: Session,
    *,
    item_id: int,
    actor: StaffMember,
    now: datetime,
    reason: str,
    expected_version: int | None = None,
) -> Handoff:
    """Reject a handoff addressed to the actor's organisation; the item stays with its owner."""
    if not reason.strip():
        raise InvalidInput("reason: say why the handoff is rejected")
    handoff, item, case = _pending_for_actor(session, item_id, actor, expected_version)
    handoff.reason = protect_reason(session, case, handoff, reason.strip(), now)
    decide(handoff, HandoffStatus.REJECTED, actor, now)
    record_event(
        session,
        case=case,
        trigger="handoff_rejected",
        at=now,
        actor=actor,
        data={"item_id": item.id, "code": item.code},
    )
    return handoff

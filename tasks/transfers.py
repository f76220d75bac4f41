"""Case transfers: the whole case handed to another organisation at a stage (a stage handoff).

Typical use: at reception the sending IOM mission hands the case to IOM Romania, or, for a
child, to the DGASPC that owns every minor's case in Romania. Stored as a ``Handoff`` row with
no item; on acceptance the receiving organisation becomes the case's owner.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from homeward.base import models
from homeward.base.errors import Conflict, InvalidInput, NotFound, Refused
from homeward.base.models import (
    Case,
    CaseParticipant,
    ChecklistItem,
    HandoffStatus,
    Organisation,
    OrgKind,
    ParticipantRole,
    StaffMember,
)
from homeward.protection import vault
from homeward.protection.access import ensure_can_see
from homeward.protection.consent import has_sharing_consent
from homeward.protection.permissions import Action, ensure, org_text
from homeward.records.audit import record_event
from homeward.records.directory import get_org
from homeward.records.locking import bump
from tasks.catalog import load_catalog

if TYPE_CHECKING:
    from homeward.base.models import Handoff

# A child's reception in Romania is DGASPC's (the county child-protection directorate owns every
# minor's case in Romania): the catalog's items of these stages marked ``owner_if_minor: dgaspc``
# stay with a DGASPC, and so does the case once it has entered one of them.
MINOR_RECEPTION_STAGES = frozenset({"in_transit", "received", "reintegration"})


def ensure_sharing_consent(session: Session, case: Case, target: Organisation) -> None:
    """Work (and so data) goes to another organisation only with the person's consent."""
    assert target.id is not None  # noqa: S101
    if target.id == case.owner_org_id:  # work handed back to the owner shares nothing new
        return
    if not has_sharing_consent(session, case=case, org_id=target.id):
        raise Refused(
            f"case {case.case_ref} has no consent to share with {target.slug}; record it first "
            f"with `homeward consent give {case.case_ref} --purpose sharing --org {target.slug}`"
        )


def _case_dgaspc(session: Session, case: Case) -> str:
    query = select(Organisation).join(
        CaseParticipant, col(CaseParticipant.org_id) == col(Organisation.id)
    )
    query = query.where(
        CaseParticipant.case_id == case.id, CaseParticipant.role == ParticipantRole.DGASPC
    )
    org = session.exec(query).first()
    return org_text(org) if org else "a DGASPC"


def ensure_item_stays_with_dgaspc(
    session: Session, case: Case, item: ChecklistItem, target: Organisation
) -> None:
    """A minor's reception item goes to no organisation but a DGASPC."""
    if not case.is_minor or item.stage not in MINOR_RECEPTION_STAGES:
        return
    spec = load_catalog(case.process_version).spec(item.code)
    if target.kind == OrgKind.DGASPC or spec.owner_if_minor != ParticipantRole.DGASPC:
        return
    raise Refused(
        f"item #{item.id} ({item.code}) is part of a child's reception, which stays with "
        f"{_case_dgaspc(session, case)}; it cannot be handed off to {target.slug}"
    )


def reception_begun(session: Session, case: Case) -> bool:
    """Whether the case has ever entered a reception stage."""
    events = models.CaseEvent  # defined here, when first read (not by every command, issue 19)
    query = select(events.id).where(
        events.case_id == case.id, col(events.to_state).in_(MINOR_RECEPTION_STAGES)
    )
    return session.exec(query.limit(1)).first() is not None


def ensure_case_stays_with_dgaspc(session: Session, case: Case, target: Organisation) -> None:
    """A minor's case goes to no organisation but a DGASPC once reception has begun."""
    if not case.is_minor or target.kind == OrgKind.DGASPC or not reception_begun(session, case):
        return
    raise Refused(
        f"case {case.case_ref} is a child's and its reception has begun: it stays with DGASPC "
        f"and cannot be handed over to {target.slug}; hand it to {_case_dgaspc(session, case)}"
    )


def protect_reason(session: Session, case: Case, handoff: Handoff, text: str, now: datetime) -> str:
    """A handoff's free-text reason, encrypted under the case's key."""
    assert handoff.id is not None  # noqa: S101
    return vault.protect_text(
        session, case=case, table="handoff", column="reason", row_id=handoff.id, text=text, now=now
    )


def decide(
    handoff: Handoff, status: HandoffStatus, actor: StaffMember | None, now: datetime
) -> None:
    """Record the answer to a handoff or transfer."""
    handoff.status, handoff.decided_at = status, now
    handoff.decided_by_id = actor.id if actor else None


def pending_transfer(session: Session, case: Case) -> Handoff | None:
    """The case's transfer awaiting an answer, if any."""
    query = select(models.Handoff).where(
        models.Handoff.case_id == case.id,
        models.Handoff.item_id == None,  # noqa: E711
        models.Handoff.status == HandoffStatus.PROPOSED,
    )
    return session.exec(query).first()


def new_handoff(
    session: Session,
    *,
    case: Case,
    stage: str,
    from_org_id: int,
    target: Organisation,
    actor: StaffMember,
    now: datetime,
    reason: str | None,
    item_id: int | None = None,
) -> Handoff:
    """Store a proposed handoff (of an item, or of the whole case when ``item_id`` is None)."""
    assert case.id is not None and target.id is not None and actor.id is not None  # noqa: S101
    handoff = models.Handoff(
        case_id=case.id,
        item_id=item_id,
        stage=stage,
        from_org_id=from_org_id,
        to_org_id=target.id,
        proposed_by_id=actor.id,
        proposed_at=now,
    )
    session.add(handoff)
    session.flush()
    if reason and reason.strip():
        handoff.reason = protect_reason(session, case, handoff, reason.strip(), now)
    return handoff


def propose_transfer(
    session: Session,
    *,
    case: Case,
    to_org_slug: str,
    actor: StaffMember,
    now: datetime,
    reason: str | None = None,
    expected_version: int | None = None,
) -> Handoff:
    """Offer the case to another organisation; the case stays ours until they accept."""
    ensure_can_see(session, actor, case)
    bump(session, case, expected_version)
    ensure(session, actor, Action.TRANSFER_CASE, case)
    target = get_org(session=session, slug=to_org_slug)
    if target.id == case.owner_org_id:
        raise Refused(f"case {case.case_ref} already belongs to {target.slug}")
    if pending_transfer(session, case):
        raise Conflict(f"case {case.case_ref} already has a transfer awaiting an answer")
    ensure_case_stays_with_dgaspc(session, case, target)
    ensure_sharing_consent(session, case, target)
    handoff = new_handoff(
        session,
        case=case,
        stage=case.state,
        from_org_id=case.owner_org_id,
        target=target,
        actor=actor,
        now=now,
        reason=reason,
    )
    record_event(
        session,
        case=case,
        trigger="transfer_proposed",
        at=now,
        actor=actor,
        data={"to_org": target.slug, "stage": case.state},
    )
    return handoff


def _awaiting(session: Session, case: Case, actor: StaffMember) -> Handoff:
    handoff = pending_transfer(session, case)
    if handoff is None or handoff.to_org_id != actor.org_id:
        raise NotFound(f"no transfer of case {case.case_ref} awaits your organisation")
    ensure(session, actor, Action.ANSWER_TRANSFER)
    return handoff


def accept_transfer(
    session: Session,
    *,
    case: Case,
    actor: StaffMember,
    now: datetime,
    expected_version: int | None = None,
) -> Handoff:
    """Accept: the actor's organisation becomes the case's owner."""
    bump(session, case, expected_version)
    handoff = _awaiting(session, case, actor)
    decide(handoff, HandoffStatus.ACCEPTED, actor, now)
    case.owner_org_id = handoff.to_org_id
    session.add(case)
    record_event(session, case=case, trigger="transfer_accepted", at=now, actor=actor)
    return handoff


def reject_transfer(
    session: Session,
    *,
    case: Case,
    actor: StaffMember,
    now: datetime,
    reason: str,
    expected_version: int | None = None,
) -> Handoff:
    """Reject: the case stays with its owner."""
    if not reason.strip():
        raise InvalidInput("reason: say why the transfer is rejected")
    bump(session, case, expected_version)
    handoff = _awaiting(session, case, actor)
    handoff.reason = protect_reason(session, case, handoff, reason.strip(), now)
    decide(handoff, HandoffStatus.REJECTED, actor, now)
    record_event(session, case=case, trigger="transfer_rejected", at=now, actor=actor)
    return handoff

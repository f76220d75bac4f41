"""Who sees which case: the organisations taking part in it. A denial reads exactly like "not
found" (``case_not_found``, ``item_not_found``: the same words, the same exit) and names only
what the caller typed, so it reveals neither that a case or item exists nor its case_ref.

What each of them may do on a case it sees is ``homeward.protection.permissions``' table.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import union
from sqlmodel import Session, col, select

from homeward.base import models
from homeward.base.errors import NotFound
from homeward.base.models import (
    Case,
    CaseParticipant,
    ChecklistItem,
    Consent,
    ConsentPurpose,
    HandoffStatus,
    ItemStatus,
    ParticipantStatus,
    StaffMember,
)


def case_org_ids(session: Session, case: Case) -> set[int]:
    """The organisations taking part in ``case``: the owner, live participants, and the owners
    of its items that are not cancelled and receivers of its live handoffs, unless they are
    participants waiting for consent or whose part ended, or the person withdrew consent to
    sharing with them (the same rule as PostgreSQL's ``homeward_case_visible``, 0008)."""
    parts = session.exec(select(CaseParticipant).where(CaseParticipant.case_id == case.id))
    live: set[int] = set()
    barred = _sharing_withdrawn(session, case)
    for part in parts:
        (live if part.status == ParticipantStatus.LIVE else barred).add(part.org_id)
    item_owners = select(ChecklistItem.owner_org_id).where(
        ChecklistItem.case_id == case.id, ChecklistItem.status != ItemStatus.CANCELLED
    )
    receivers = select(models.Handoff.to_org_id).where(
        models.Handoff.case_id == case.id,
        col(models.Handoff.status).in_([HandoffStatus.PROPOSED, HandoffStatus.ACCEPTED]),
    )
    working = set(session.execute(union(item_owners, receivers)).scalars())
    return {case.owner_org_id, *live, *(working - barred)}


def cases_seen_by(session: Session, org_id: int, cases: Iterable[Case]) -> set[int]:
    """The ids of ``cases`` that organisation ``org_id`` takes part in: ``case_org_ids``' rule
    asked for one organisation and many cases at once (five queries, not five per case)."""
    by_id = {case.id: case for case in cases if case.id is not None}
    ids = list(by_id)
    if not ids:
        return set()
    parts = session.exec(
        select(CaseParticipant.case_id, CaseParticipant.status).where(
            col(CaseParticipant.case_id).in_(ids), CaseParticipant.org_id == org_id
        )
    ).all()
    consents = session.exec(
        select(Consent.case_id, col(Consent.withdrawn_on)).where(
            col(Consent.case_id).in_(ids),
            Consent.purpose == ConsentPurpose.SHARING,
            Consent.org_id == org_id,
        )
    ).all()
    item_cases = select(ChecklistItem.case_id).where(
        col(ChecklistItem.case_id).in_(ids),
        ChecklistItem.owner_org_id == org_id,
        ChecklistItem.status != ItemStatus.CANCELLED,
    )
    handoff_cases = select(models.Handoff.case_id).where(
        col(models.Handoff.case_id).in_(ids),
        models.Handoff.to_org_id == org_id,
        col(models.Handoff.status).in_([HandoffStatus.PROPOSED, HandoffStatus.ACCEPTED]),
    )
    working = set(session.execute(union(item_cases, handoff_cases)).scalars())
    live = {case_id for case_id, status in parts if status == ParticipantStatus.LIVE}
    ended = {case_id for case_id, status in parts if status != ParticipantStatus.LIVE}
    active = {case_id for case_id, withdrawn_on in consents if withdrawn_on is None}
    withdrawn = {case_id for case_id, withdrawn_on in consents if withdrawn_on} - active
    barred = ended | withdrawn
    owned = {case_id for case_id, case in by_id.items() if case.owner_org_id == org_id}
    return owned | live | (working - barred)


def _sharing_withdrawn(session: Session, case: Case) -> set[int]:
    """Organisations the person withdrew sharing consent from (and has not given it again)."""
    query = select(Consent).where(
        Consent.case_id == case.id, Consent.purpose == ConsentPurpose.SHARING
    )
    rows = session.exec(query).all()
    active = {c.org_id for c in rows if c.withdrawn_on is None}
    return {
        c.org_id for c in rows if c.withdrawn_on and c.org_id is not None and c.org_id not in active
    }


def case_not_found(ref: str) -> NotFound:
    """The one answer for a case_ref that names no case, or a case the caller may not see."""
    return NotFound(f"case {ref} not found; see `homeward case list`")


def item_not_found(item_id: int) -> NotFound:
    """The one answer for an item number that names no item, or one of a case the caller may
    not see: never its case's case_ref."""
    return NotFound(f"checklist item #{item_id} not found; see `homeward items list`")


def can_see(session: Session, actor: StaffMember, case: Case) -> bool:
    """Whether the actor's organisation takes part in the case (its owner always does: no
    need to ask the database)."""
    return actor.org_id == case.owner_org_id or actor.org_id in case_org_ids(session, case)


def ensure_can_see(session: Session, actor: StaffMember, case: Case) -> None:
    """Raise ``case_not_found`` unless the actor's organisation takes part in the case (for a
    case the caller named by its case_ref; an item's case is ``item_not_found``)."""
    if not can_see(session, actor, case):
        raise case_not_found(case.case_ref)

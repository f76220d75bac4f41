"""Who sees which case: the organisations taking part in it. A denial reads like "not found"
so it does not reveal that a case exists.

What each of them may do on a case it sees is ``homeward.protection.permissions``' table.
"""

from __future__ import annotations

from sqlalchemy import union
from sqlmodel import Session, col, select

from homeward.base.errors import NotFound
from homeward.base.models import (
    Case,
    CaseParticipant,
    ChecklistItem,
    Consent,
    ConsentPurpose,
    Handoff,
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
    receivers = select(Handoff.to_org_id).where(
        Handoff.case_id == case.id,
        col(Handoff.status).in_([HandoffStatus.PROPOSED, HandoffStatus.ACCEPTED]),
    )
    working = set(session.execute(union(item_owners, receivers)).scalars())
    return {case.owner_org_id, *live, *(working - barred)}


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


def ensure_can_see(session: Session, actor: StaffMember, case: Case) -> None:
    """Raise ``NotFound`` unless the actor's organisation takes part in the case."""
    if actor.org_id not in case_org_ids(session, case):
        raise NotFound(f"case {case.case_ref} not found")

"""Who sees which case: the organisations taking part in it. A denial reads like "not found"
so it does not reveal that a case exists.

What each of them may do on a case it sees is ``homeward.permissions``' table.
"""

from __future__ import annotations

from sqlalchemy import union
from sqlmodel import Session, col, select

from homeward.errors import NotFound
from homeward.models import (
    Case,
    CaseParticipant,
    ChecklistItem,
    Handoff,
    HandoffStatus,
    StaffMember,
)


def case_org_ids(session: Session, case: Case) -> set[int]:
    """The organisations taking part in ``case``: owner, participants, item owners, and the
    receivers of live handoffs (the same rule as PostgreSQL's ``homeward_case_visible``)."""
    participants = select(CaseParticipant.org_id).where(CaseParticipant.case_id == case.id)
    item_owners = select(ChecklistItem.owner_org_id).where(ChecklistItem.case_id == case.id)
    receivers = select(Handoff.to_org_id).where(
        Handoff.case_id == case.id,
        col(Handoff.status).in_([HandoffStatus.PROPOSED, HandoffStatus.ACCEPTED]),
    )
    found = session.execute(union(participants, item_owners, receivers)).scalars()
    return {case.owner_org_id, *found}


def ensure_can_see(session: Session, actor: StaffMember, case: Case) -> None:
    """Raise ``NotFound`` unless the actor's organisation takes part in the case."""
    if actor.org_id not in case_org_ids(session, case):
        raise NotFound(f"case {case.case_ref} not found")

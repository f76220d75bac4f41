"""Who may do what, for now: the checks every engine write path runs on the acting staff member.

The rule of thumb (Primero's, narrowed): a case is worked on by the organisations taking part in
it; an item by its owner organisation, or by the coordinators and supervisors of the case's owner
organisation; managers read and report but do not change cases. A denial reads like "not found"
so it does not reveal that a case exists.
"""

from __future__ import annotations

from sqlalchemy import union
from sqlmodel import Session, col, select

from homeward.errors import NotFound, Refused
from homeward.models import (
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
    StaffRole,
)

STEERING_ROLES = frozenset({StaffRole.COORDINATOR, StaffRole.SUPERVISOR})
WORKING_ROLES = STEERING_ROLES | {StaffRole.CASEWORKER}


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


def ensure_can_steer(session: Session, actor: StaffMember, case: Case) -> None:
    """Moving a case between stages: a coordinator or supervisor of a participating organisation."""
    ensure_can_see(session, actor, case)
    ensure_steering_role(actor)


def ensure_steering_role(actor: StaffMember) -> None:
    """The role half of ``ensure_can_steer``, for a case the actor was already shown."""
    if actor.role not in STEERING_ROLES:
        raise Refused(
            f"staff role {actor.role!r} cannot move a case between stages; "
            "ask a coordinator or supervisor"
        )


def ensure_can_work_item(actor: StaffMember, case: Case, item: ChecklistItem) -> None:
    """Recording or handing off an item: its owner org, or the case owner's steering staff."""
    owns_item = actor.org_id == item.owner_org_id and actor.role in WORKING_ROLES
    steers_case = actor.org_id == case.owner_org_id and actor.role in STEERING_ROLES
    if not (owns_item or steers_case):
        raise Refused(
            f"item #{item.id} belongs to another organisation; "
            "hand it off or ask its owner to record it"
        )


def ensure_can_open_cases(actor: StaffMember) -> None:
    """Opening a case: coordinators and supervisors only."""
    if actor.role not in STEERING_ROLES:
        raise Refused(f"staff role {actor.role!r} cannot open cases; ask a coordinator")

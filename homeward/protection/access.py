"""Who sees which case: the organisations taking part in it. A denial reads exactly like "not
found" (``case_not_found``, ``item_not_found``: the same words, the same exit) and names only
what the caller typed, so it reveals neither that a case or item exists nor its case_ref.

What each of them may do on a case it sees is ``homeward.protection.permissions``' table.
"""

from __future__ import annotations

from collections.abc import Iterable

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


def barred_case_ids(session: Session, org_id: int) -> set[int]:
    """Cases where organisation ``org_id`` is a participant waiting for consent or whose part
    ended, or whose sharing consent the person withdrew (and did not give again): the cases its
    items and handoffs do not show it (``case_org_ids``' ``barred``). Two index lookups."""
    waiting = select(CaseParticipant.case_id).where(
        CaseParticipant.org_id == org_id, CaseParticipant.status != ParticipantStatus.LIVE
    )
    barred = set(session.exec(waiting).all())
    consents = session.exec(
        select(Consent.case_id, col(Consent.withdrawn_on)).where(
            Consent.org_id == org_id, Consent.purpose == ConsentPurpose.SHARING
        )
    ).all()
    active = {case_id for case_id, withdrawn in consents if withdrawn is None}
    return barred | ({case_id for case_id, withdrawn in consents if withdrawn} - active)


def visible_working(session: Session, org_id: int, case_ids: Iterable[int]) -> set[int]:
    """Of ``case_ids``, on each of which organisation ``org_id`` owns an item that is not
    cancelled (a list of its open items), those it sees: ``org_id in case_org_ids(case)`` for
    each, asked once for the organisation and then only of its barred cases, instead of three
    queries a case."""
    wanted = set(case_ids)
    barred = barred_case_ids(session, org_id) & wanted
    for case_id in barred:
        case = session.get(Case, case_id)
        if case is not None and org_id in case_org_ids(session, case):
            barred.discard(case_id)  # its owner or a live participant after all
    return wanted - barred


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
    """Whether the actor's organisation takes part in the case."""
    return actor.org_id in case_org_ids(session, case)


def ensure_can_see(session: Session, actor: StaffMember, case: Case) -> None:
    """Raise ``case_not_found`` unless the actor's organisation takes part in the case (for a
    case the caller named by its case_ref; an item's case is ``item_not_found``)."""
    if not can_see(session, actor, case):
        raise case_not_found(case.case_ref)

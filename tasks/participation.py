"""Who takes part in a case, and since when: the person's sharing consent gates participation.

``SHARING_CONSENT`` says which participant roles need the person's consent to sharing before
they get the case's items (and so its reference, stage and route), with the reason for each.
Until then the participant is ``pending_consent``: it does not see the case, and its items are
held by the case owner marked "partner needed". Consent makes it ``live`` and hands it those
items; withdrawal ``ended`` (the row stays, for history) and gives its open work back to the
owner, or to another organisation of the same kind the person consents to share with.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from homeward.base.models import (
    PARTICIPANT_KINDS,
    Case,
    CaseParticipant,
    ChecklistItem,
    ItemStatus,
    Organisation,
    ParticipantRole,
    ParticipantStatus,
    StaffMember,
)
from homeward.protection.consent import has_sharing_consent
from homeward.records.audit import record_event


class ConsentRule(NamedTuple):
    """Whether a role needs sharing consent on an adult's and on a minor's case, and why."""

    adult: bool
    minor: bool
    why: str


R = ParticipantRole
SHARING_CONSENT: dict[ParticipantRole, ConsentRule] = {
    R.S_IOM: ConsentRule(False, False, "works with the person abroad and obtains the consent"),
    R.CONS: ConsentRule(False, False, "consular mandate: identity, travel document, notice"),
    R.R_IOM: ConsentRule(True, True, "a partner the person names in the consent to sharing"),
    R.NGO: ConsentRule(True, True, "a partner the person names in the consent to sharing"),
    R.DGASPC: ConsentRule(True, False, "an adult names it; a minor's case it owns by law"),
    R.ANITP: ConsentRule(False, False, "national referral mechanism: its own legal mandate"),
    R.LE: ConsentRule(False, False, "police and prosecutors act under criminal procedure"),
}


def needs_consent(role: str, *, is_minor: bool) -> bool:
    """Whether ``role`` takes part in such a case only with the person's sharing consent."""
    rule = SHARING_CONSENT[ParticipantRole(role)]
    return rule.minor if is_minor else rule.adult


def initial_status(session: Session, case: Case, role: str, org_id: int) -> ParticipantStatus:
    """A named participant's status when the case opens."""
    if org_id == case.owner_org_id or not needs_consent(role, is_minor=case.is_minor):
        return ParticipantStatus.LIVE
    if case.id is not None and has_sharing_consent(session, case=case, org_id=org_id):
        return ParticipantStatus.LIVE
    return ParticipantStatus.PENDING_CONSENT


_CURRENT = (  # built once: every stage move asks it
    select(CaseParticipant)
    .where(
        CaseParticipant.case_id == bindparam("case_id"),
        CaseParticipant.status != ParticipantStatus.ENDED,
    )
    .order_by(col(CaseParticipant.id))
)


def current(session: Session, case: Case) -> list[CaseParticipant]:
    """The participants not ended (live or waiting for consent), in role order."""
    return list(session.exec(_CURRENT, params={"case_id": case.id}))


def live_roles(
    session: Session, case: Case, parts: list[CaseParticipant] | None = None
) -> dict[str, int]:
    """Roles of live participants mapped to organisation ids (``parts``: ``current``'s answer,
    when the caller has it)."""
    parts = current(session, case) if parts is None else parts
    return {p.role: p.org_id for p in parts if p.status == ParticipantStatus.LIVE}


def waiting(session: Session, case: Case) -> list[CaseParticipant]:
    """Participants waiting for the person's consent to sharing."""
    return [p for p in current(session, case) if p.status == ParticipantStatus.PENDING_CONSENT]


def gated_role_of(session: Session, case: Case, org: Organisation) -> str | None:
    """The role ``org`` plays (or would fill) in ``case`` that needs sharing consent."""
    for part in current(session, case):
        if part.org_id == org.id and needs_consent(part.role, is_minor=case.is_minor):
            return part.role
    for role, kind in PARTICIPANT_KINDS.items():
        if kind == org.kind and needs_consent(role, is_minor=case.is_minor):
            return role if _may_fill(case, role, org) else None
    return None


def _may_fill(case: Case, role: str, org: Organisation) -> bool:
    # A receiving mission is in the destination country; the sending one is not a stand-in.
    return role != R.R_IOM or org.country == case.destination_country


def partner_items(session: Session, case: Case, role: str) -> list[ChecklistItem]:
    """Open items the case owner holds until a partner in ``role`` takes part."""
    query = select(ChecklistItem).where(
        ChecklistItem.case_id == case.id,
        ChecklistItem.partner_needed == role,
        ChecklistItem.status == ItemStatus.OPEN,
    )
    return list(session.exec(query.order_by(col(ChecklistItem.id))))


def join(
    session: Session,
    *,
    case: Case,
    org: Organisation,
    actor: StaffMember | None,
    now: datetime,
) -> CaseParticipant | None:
    """``org`` now has sharing consent: if it is named (or there is work waiting for its kind
    and no one else fills the role) it takes part, and the items waiting for it become its own.
    Returns its live participant row, or None when nothing changes."""
    role = gated_role_of(session, case, org)
    if role is None or org.id is None or org.id == case.owner_org_id:
        return None
    part = _current_in(session, case, role)
    if part is not None and (part.org_id != org.id or part.status == ParticipantStatus.LIVE):
        return None  # someone else fills the role, or org already takes part
    if part is None and not partner_items(session, case, role):
        return None  # consent alone does not make an organisation part of the case
    if part is None:
        assert case.id is not None  # noqa: S101
        part = CaseParticipant(case_id=case.id, role=role, org_id=org.id)
    part.status = ParticipantStatus.LIVE
    session.add(part)
    moved = _move_items(session, case, role, org.id)
    record_event(
        session,
        case=case,
        trigger="partner_joined",
        at=now,
        actor=actor,
        data={"org": org.slug, "role": role, "item_ids": [i.id for i in moved]},
    )
    return part


def _current_in(session: Session, case: Case, role: str) -> CaseParticipant | None:
    return next((p for p in current(session, case) if p.role == role), None)


def _move_items(session: Session, case: Case, role: str, org_id: int) -> list[ChecklistItem]:
    items = partner_items(session, case, role)
    for item in items:
        item.owner_org_id, item.partner_needed, item.assignee_id = org_id, None, None
        session.add(item)
    session.flush()
    return items


def end(session: Session, *, case: Case, org_id: int) -> list[str]:
    """End ``org_id``'s part in ``case`` (its rows stay, marked ended); returns its roles."""
    roles = []
    for part in current(session, case):
        if part.org_id == org_id:
            part.status = ParticipantStatus.ENDED
            session.add(part)
            roles.append(part.role)
    session.flush()
    return roles


def stand_in(session: Session, case: Case, role: str) -> Organisation | None:
    """Another organisation that may fill ``role``: of its kind, not the owner, not ended in
    this case, and with the person's active consent to sharing."""
    ended = select(CaseParticipant.org_id).where(
        CaseParticipant.case_id == case.id, CaseParticipant.status == ParticipantStatus.ENDED
    )
    query = select(Organisation).where(
        Organisation.kind == PARTICIPANT_KINDS[ParticipantRole(role)],
        Organisation.id != case.owner_org_id,
        col(Organisation.id).not_in(ended),
    )
    for org in session.exec(query.order_by(col(Organisation.id))):
        assert org.id is not None  # noqa: S101
        if _may_fill(case, role, org) and has_sharing_consent(session, case=case, org_id=org.id):
            return org
    return None


_PARTNERS_NEEDED = select(ChecklistItem.partner_needed).where(  # built once: every move asks
    ChecklistItem.case_id == bindparam("case_id"),
    ChecklistItem.status == ItemStatus.OPEN,
    col(ChecklistItem.partner_needed).is_not(None),
)


def fill_waiting_roles(
    session: Session,
    *,
    case: Case,
    actor: StaffMember | None,
    now: datetime,
    parts: list[CaseParticipant] | None = None,
    waiting_for: Iterable[str | None] | None = None,
) -> None:
    """Items waiting for a partner go to a stand-in the person consents to share with, for
    roles no one is named in (a named partner waiting for consent keeps its place).
    ``parts``: the participants not ended (``current``), when the caller has them;
    ``waiting_for``: the roles the case's open items wait for, when the caller knows them
    (a stage move, which has just read and written its items)."""
    parts = current(session, case) if parts is None else parts
    named = {part.role for part in parts}
    if waiting_for is None:
        waiting_for = list(session.execute(_PARTNERS_NEEDED, {"case_id": case.id}).scalars())
    for role in sorted({r for r in waiting_for if r and r not in named}):
        org = stand_in(session, case, role)
        if org is not None:
            join(session, case=case, org=org, actor=actor, now=now)

"""What reports count: the cases in scope, their events and their profiles, loaded once.

Loading runs as the system (row security off) because a programme counts cases other
organisations also work on; scope is decided here, by programme enrolment or by the actor's
organisation taking part in the case.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, or_, select

from homeward.base.db import system_scope
from homeward.base.models import (
    Case,
    CaseEvent,
    CaseParticipant,
    ParticipantStatus,
    Programme,
    StaffMember,
)
from homeward.base.settings import get_settings
from homeward.protection import vault
from homeward.reporting.dimensions import Profile, profile
from homeward.reporting.indicators import EventFact
from homeward.reporting.programmes import enrolled_case_ids

CHUNK = 500


@dataclass(frozen=True)
class Period:
    """Inclusive local dates; None is open-ended."""

    start: date | None = None
    end: date | None = None

    def contains(self, moment: datetime) -> bool:
        day = moment.astimezone(get_settings().tz).date()
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)

    def describe(self) -> str:
        return f"{self.start or 'beginning'} to {self.end or 'today'}"


@dataclass(frozen=True)
class CaseFacts:
    """One case as reports see it."""

    case_id: int
    owner_org_id: int
    opened_at: datetime
    events: list[EventFact]
    profile: Profile


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def scope_case_ids(
    session: Session, *, actor: StaffMember, programme: Programme | None
) -> list[int]:
    """Cases a report covers: the programme's enrolment, or the actor's organisation's cases."""
    if programme is not None:
        return enrolled_case_ids(session, programme)
    taking_part = select(CaseParticipant.case_id).where(
        CaseParticipant.org_id == actor.org_id, CaseParticipant.status == ParticipantStatus.LIVE
    )
    query = select(Case.id).where(
        or_(Case.owner_org_id == actor.org_id, col(Case.id).in_(taking_part))
    )
    with system_scope(session):
        return sorted(i for i in session.exec(query) if i is not None)


def _events(session: Session, case_ids: list[int]) -> dict[int, list[EventFact]]:
    found: dict[int, list[EventFact]] = {i: [] for i in case_ids}
    for chunk in _chunks(case_ids):
        query = select(CaseEvent).where(col(CaseEvent.case_id).in_(chunk))
        for e in session.exec(query.order_by(col(CaseEvent.id))):
            found[e.case_id].append(
                EventFact(e.trigger, e.at, e.from_state, e.to_state, dict(e.data))
            )
    return found


def _cases(session: Session, case_ids: list[int]) -> list[Case]:
    cases: list[Case] = []
    for chunk in _chunks(case_ids):
        cases.extend(session.exec(select(Case).where(col(Case.id).in_(chunk))))
    return sorted(cases, key=lambda c: c.id or 0)


def load_facts(
    session: Session, *, case_ids: list[int], actor: StaffMember, purpose: str, now: datetime
) -> list[CaseFacts]:
    """Events and profiles of ``case_ids`` (the decryption is audited once, by ``purpose``)."""
    attrs = vault.statistical_attributes(
        session, case_ids=case_ids, actor=actor, purpose=purpose, now=now
    )
    tz = get_settings().tz
    with system_scope(session):
        cases, events = _cases(session, case_ids), _events(session, case_ids)
    return [
        CaseFacts(
            case_id=case.id,
            owner_org_id=case.owner_org_id,
            opened_at=case.opened_at,
            events=events[case.id],
            profile=profile(
                attrs.get(case.id, {}),
                country=case.host_country,
                on=case.opened_at.astimezone(tz).date(),
                is_minor=case.is_minor,
            ),
        )
        for case in cases
        if case.id is not None
    ]

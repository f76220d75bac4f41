"""Programmes (grants), their targets per indicator, and the cases enrolled in them."""

from __future__ import annotations

import re
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlmodel import Session, col, select

from homeward.base.caseref import checked_ref
from homeward.base.errors import Conflict, InvalidInput, NotFound
from homeward.base.models import Case, Enrolment, Programme, ProgrammeTarget, StaffMember
from homeward.protection.access import case_not_found, ensure_can_see
from homeward.protection.permissions import Action, ensure
from homeward.records.auditlog import audit
from homeward.records.crossorg import programme_code_taken
from homeward.reporting.indicators import INDICATORS

_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$")


class ProgrammeIn(BaseModel):
    """A programme as a manager registers it; targets are indicator code -> number."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(description="short code, e.g. tango-2017")
    name: str = Field(min_length=2, max_length=200)
    donor: str = Field(min_length=2, max_length=200)
    starts_on: date
    ends_on: date
    targets: dict[str, int] = Field(default_factory=dict)

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not _CODE.match(value):
            raise ValueError("use 3-40 lower-case letters, digits and dashes, e.g. tango-2017")
        return value

    @field_validator("targets")
    @classmethod
    def _targets(cls, value: dict[str, int]) -> dict[str, int]:
        for code, number in value.items():
            if code not in INDICATORS:
                raise ValueError(f"unknown indicator {code!r}; use one of {', '.join(INDICATORS)}")
            if number < 1:
                raise ValueError(f"the target for {code} must be at least 1")
        return value

    @model_validator(mode="after")
    def _period(self) -> ProgrammeIn:
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        return self


def ensure_can_manage(session: Session, actor: StaffMember) -> None:
    """Programmes and reports: as ``homeward.protection.permissions`` says (managers, supervisors
    and
    coordinators)."""
    ensure(session, actor, Action.RUN_REPORTS)


def add_programme(
    session: Session, *, programme_in: ProgrammeIn, actor: StaffMember, now: datetime
) -> Programme:
    """Register a programme run by the actor's organisation, with its targets."""
    ensure_can_manage(session, actor)
    if programme_code_taken(session, programme_in.code):  # across organisations, seen or not
        raise Conflict(f"programme {programme_in.code!r} already exists; pick another code")
    values = programme_in.model_dump(exclude={"targets"})
    programme = Programme(**values, org_id=actor.org_id, created_at=now)
    session.add(programme)
    session.flush()
    assert programme.id is not None  # noqa: S101
    for indicator, target in programme_in.targets.items():
        session.add(ProgrammeTarget(programme_id=programme.id, indicator=indicator, target=target))
    session.flush()
    audit(session, actor=actor, action=f"programme_add:{programme.code}"[:48], at=now)
    return programme


def get_programme(session: Session, *, code: str, actor: StaffMember) -> Programme:
    """The actor's organisation's programme with this code."""
    query = select(Programme).where(Programme.code == code, Programme.org_id == actor.org_id)
    programme = session.exec(query).first()
    if programme is None:
        raise NotFound(f"programme {code!r} not found; see `homeward programme list`")
    return programme


def list_programmes(session: Session, *, actor: StaffMember) -> list[Programme]:
    """The programmes of the actor's organisation, by start date."""
    query = select(Programme).where(Programme.org_id == actor.org_id)
    return list(session.exec(query.order_by(col(Programme.starts_on), col(Programme.code))))


def targets(session: Session, programme: Programme) -> dict[str, int]:
    """Indicator code -> target, in the catalogue's order."""
    rows = session.exec(select(ProgrammeTarget).where(ProgrammeTarget.programme_id == programme.id))
    found = {row.indicator: row.target for row in rows}
    return {code: found[code] for code in INDICATORS if code in found}


def enrolled_case_ids(session: Session, programme: Programme) -> list[int]:
    """Ids of the cases enrolled in ``programme``."""
    query = select(Enrolment.case_id).where(Enrolment.programme_id == programme.id)
    return sorted(session.exec(query))


def enrol(
    session: Session,
    *,
    programme: Programme,
    case_refs: list[str],
    actor: StaffMember,
    on: date,
    now: datetime,
) -> list[str]:
    """Enrol cases the actor's organisation takes part in; returns the newly enrolled refs."""
    ensure_can_manage(session, actor)
    if not case_refs:
        raise InvalidInput("case_refs: name at least one case")
    enrolled, already = [], set(enrolled_case_ids(session, programme))
    for ref in case_refs:
        ref = checked_ref(ref)
        case = session.exec(select(Case).where(Case.case_ref == ref)).first()
        if case is None or case.id is None:
            raise case_not_found(ref)
        ensure_can_see(session, actor, case)
        if case.id in already:
            continue
        assert programme.id is not None  # noqa: S101
        session.add(
            Enrolment(
                programme_id=programme.id, case_id=case.id, enrolled_on=on, enrolled_by_id=actor.id
            )
        )
        already.add(case.id)
        enrolled.append(case.case_ref)
        audit(
            session,
            actor=actor,
            action=f"enrol:{programme.code}"[:48],
            at=now,
            case_ref=case.case_ref,
        )
    session.flush()
    return enrolled

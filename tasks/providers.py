"""The service directory (issue 16, point 8) and the services proposed from assessments.

Organisations declare the service types they offer per Romanian county (ISO 3166-2:RO), with
an optional capacity (how many more people they can take). An organisation's coordinators,
supervisors and admins keep its own offers (``Action.KEEP_SERVICES``); platform
administrators keep any organisation's; every signed-in staff member reads the directory.
Row security (PostgreSQL, migration 0017) lets each organisation change only its own rows.

A case's destination county (``Case.destination_county``) is set by its owner's steering
staff; the needs its latest needs and family assessments found are matched with the offers
in that county (``proposals``).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from homeward.base.countries import COUNTIES
from homeward.base.db import may_act_for_system, widest_scope
from homeward.base.errors import InvalidInput, NotFound, Refused
from homeward.base.models import Case, Organisation, ProviderService, StaffMember
from homeward.protection.permissions import Action, org_text, owner_staff, permits, who_text
from homeward.records.audit import record_event
from homeward.records.locking import bump
from tasks import assessments

SERVICE_TYPES = (*assessments.NEED_CODES, "other")
MAX_CAPACITY = 100_000


def check_county(value: str) -> str:
    """An ISO 3166-2:RO county code, normalised (``ro-cj`` -> ``RO-CJ``), or one line on how
    to write it."""
    code = value.strip().upper()
    if code not in COUNTIES:
        raise InvalidInput(
            "county: not a Romanian county code; write RO- and the county's "
            "letters as in ISO 3166-2:RO (RO-AB ... RO-VS, Bucharest RO-B), e.g. RO-CJ for Cluj"
        )
    return code


def check_service(value: str) -> str:
    code = value.strip().lower()
    if code not in SERVICE_TYPES:
        raise InvalidInput(f"service: not a service type; use one of {', '.join(SERVICE_TYPES)}")
    return code


def check_capacity(value: int | None) -> int | None:
    if value is not None and not 0 <= value <= MAX_CAPACITY:
        raise InvalidInput(
            f"capacity: a number of people from 0 to {MAX_CAPACITY}; or leave it out"
        )
    return value


def _keeper_of(session: Session, actor: StaffMember, org: Organisation) -> None:
    """Refuse unless ``actor`` keeps ``org``'s offers: its own steering staff or admins, or a
    platform administrator."""
    if permits(session, actor, Action.MANAGE_DIRECTORY):
        if org.id != actor.org_id and not may_act_for_system(session):
            raise Refused(
                f"organisation: the database lets only {org_text(org)}'s own staff change its "
                "offers under the app's login; ask its coordinator, supervisor or admin"
            )
        return
    if org.id == actor.org_id and permits(session, actor, Action.KEEP_SERVICES):
        return
    raise Refused(
        f"{who_text(session, actor)} cannot keep the service offers of {org_text(org)}; ask a "
        f"coordinator, supervisor or admin of {org_text(org)}, or a platform_admin"
    )


def _offer(session: Session, org_id: int, service: str, county: str) -> ProviderService | None:
    query = select(ProviderService).where(
        ProviderService.org_id == org_id,
        ProviderService.service_type == service,
        ProviderService.county == county,
    )
    return session.exec(query).first()


def add_offer(
    session: Session,
    *,
    actor: StaffMember,
    org: Organisation,
    service: str,
    county: str,
    capacity: int | None,
) -> ProviderService:
    """Declare (or update) that ``org`` offers ``service`` in ``county``, with ``capacity``."""
    service, county, capacity = (
        check_service(service),
        check_county(county),
        check_capacity(capacity),
    )
    _keeper_of(session, actor, org)
    assert org.id is not None  # noqa: S101
    scope: AbstractContextManager[None] = (
        widest_scope(session) if org.id != actor.org_id else nullcontext()
    )
    with scope:
        row = _offer(session, org.id, service, county) or ProviderService(
            org_id=org.id, service_type=service, county=county
        )
        row.capacity, row.active = capacity, True
        session.add(row)
        session.flush()
    return row


def remove_offer(
    session: Session, *, actor: StaffMember, org: Organisation, service: str, county: str
) -> None:
    """Withdraw ``org``'s offer of ``service`` in ``county``."""
    service, county = check_service(service), check_county(county)
    _keeper_of(session, actor, org)
    assert org.id is not None  # noqa: S101
    scope: AbstractContextManager[None] = (
        widest_scope(session) if org.id != actor.org_id else nullcontext()
    )
    with scope:
        row = _offer(session, org.id, service, county)
        if row is None:
            raise NotFound(
                f"service: {org.slug} offers no {service} in {county}; "
                "`homeward providers list` shows the offers"
            )
        session.delete(row)
        session.flush()


def offers(
    session: Session, *, service: str | None = None, county: str | None = None
) -> list[tuple[ProviderService, Organisation]]:
    """The directory's active offers (filtered), by county, service and organisation."""
    query = select(ProviderService, Organisation).where(
        ProviderService.org_id == Organisation.id,
        col(ProviderService.active).is_(True),
    )
    if service:
        query = query.where(ProviderService.service_type == check_service(service))
    if county:
        query = query.where(ProviderService.county == check_county(county))
    query = query.order_by(
        col(ProviderService.county), col(ProviderService.service_type), col(Organisation.slug)
    )
    return [(row, org) for row, org in session.exec(query)]


def set_county(
    session: Session, *, case: Case, actor: StaffMember, county: str | None, now: datetime
) -> Case:
    """Set (or, with None, clear) where the person will live, as the owner's steering staff."""
    code = check_county(county) if county else None
    if not permits(session, actor, Action.FIRE_TRIGGER, case):
        raise Refused(
            f"{who_text(session, actor)} cannot set the destination county of case "
            f"{case.case_ref}; ask {owner_staff(session, case, Action.FIRE_TRIGGER)}"
        )
    bump(session, case)
    before = case.destination_county
    case.destination_county = code
    session.add(case)
    session.flush()
    record_event(
        session,
        case=case,
        trigger="destination_county_set",
        at=now,
        actor=actor,
        data={"from": before, "county": code},
    )
    return case


@dataclass(frozen=True)
class Proposal:
    """One need found, and the organisations offering it in the case's county."""

    need: str
    providers: list[tuple[ProviderService, Organisation]]


def needs_of(session: Session, case: Case) -> list[str]:
    """The needs the latest needs and family assessments found (``NEED_CODES`` order)."""
    found: set[str] = set()
    for kind in ("needs", "family"):
        row = assessments.latest(session, case, kind)
        if row is not None:
            found.update(row.needs)
    return [code for code in assessments.NEED_CODES if code in found]


def proposals(session: Session, case: Case) -> list[Proposal]:
    """For each need found, the offers in the case's destination county (none set: refused
    with how to set it)."""
    if not case.destination_county:
        raise InvalidInput(
            f"county: case {case.case_ref} has no destination county; set it with "
            f"`homeward case set-county {case.case_ref} RO-CJ` (the county's code)"
        )
    county = case.destination_county
    return [
        Proposal(need, offers(session, service=need, county=county))
        for need in needs_of(session, case)
    ]

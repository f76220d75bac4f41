"""Reading cases: show one (facts, participants, checklist items, what can happen next, and on
request the person's data and free texts), list them, trace their history.

Views are plain values; an edge formats them. What a reader may see is decided below, by
``homeward.protection`` (visibility, the vault), never by the edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from homeward.base.caseref import checked_ref
from homeward.base.models import (
    Case,
    ChecklistItem,
    ConsentPurpose,
    Organisation,
    ParticipantStatus,
    StaffMember,
)
from homeward.commands.runner import Command, Context
from homeward.commands.texts import TextLine, case_texts
from homeward.protection import vault
from homeward.protection.consent import ledger
from homeward.records.audit import history
from homeward.records.directory import orgs_by_id
from statemachines.cases import allowed_triggers, get_case, list_cases
from tasks import participation
from tasks.catalog import load_catalog
from tasks.family import person_labels


class OneCase:
    """A command on one case named by ``ref``, checked and normalised when it is built (a
    name typed where a case_ref belongs is refused without being repeated)."""

    ref: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "ref", checked_ref(self.ref))


def org_kind(session: Session, case: Case) -> str:
    """The kind of the case's owner organisation (run tags and flow results carry it)."""
    owner = session.get(Organisation, case.owner_org_id)
    return str(owner.kind) if owner else "unknown"


@dataclass(frozen=True)
class ItemLine:
    """One checklist item as listed."""

    id: int
    stage: str
    title: str
    owner: str
    due_at: datetime | None
    status: str
    outcome: str | None
    partner_needed: str | None
    blocking: bool
    about: str | None = None  # the family member it is about ("child 1"), never a name


@dataclass(frozen=True)
class CaseFacts:
    """A case's facts: codes, dates and organisation slugs."""

    case_ref: str
    stage: str
    since: datetime  # when it entered its stage, or its status when not active
    owner: str
    minor: bool
    route: str
    process: str
    version: int
    consent: str
    departure_on: date | None
    arrival_on: date | None
    closure: str | None
    live: list[str]  # "role=slug" of the organisations taking part
    waiting: list[str]  # "role=slug" of those waiting for the person's sharing consent
    status: str = "active"  # apart from the stage: suspended, lost_contact, closed...


@dataclass(frozen=True)
class CaseDetails:
    """``case show``: the facts, the items, the triggers allowed next; with ``--personal`` the
    person's fields and the free texts the reader may see (``text`` None: private)."""

    facts: CaseFacts
    items: list[ItemLine]
    next: list[str]
    person: dict[str, str | None] | None = None
    texts: list[TextLine] = field(default_factory=list)


def item_lines(session: Session, case: Case) -> list[ItemLine]:
    """The case's checklist items, in the order they were created."""
    orgs, catalog = orgs_by_id(session), load_catalog(case.process_version)
    members = person_labels(session, case)
    query = select(ChecklistItem).where(ChecklistItem.case_id == case.id)
    return [
        ItemLine(
            item.id or 0,
            item.stage,
            catalog.spec(item.code).title,
            orgs[item.owner_org_id].slug,
            item.due_at,
            item.status,
            item.outcome,
            item.partner_needed,
            item.blocking,
            members.get(item.person_id) if item.person_id else None,
        )
        for item in session.exec(query.order_by(col(ChecklistItem.id)))
    ]


def _consent_line(session: Session, case: Case) -> str:
    """The consent to the return: method and language, and who gave a minor's consent."""
    given = next((c for c in ledger(session, case) if c.purpose == ConsentPurpose.RETURN), None)
    words = [case.consent_method or "", case.consent_language or ""]
    if given is not None and given.representative:
        words.append(f"by {given.representative}")
    return " ".join(w for w in words if w)


def case_facts(session: Session, case: Case) -> CaseFacts:
    orgs = orgs_by_id(session)
    parts = participation.current(session, case)
    live = [f"{p.role}={orgs[p.org_id].slug}" for p in parts if p.status == ParticipantStatus.LIVE]
    waiting = [f"{p.role}={orgs[p.org_id].slug}" for p in participation.waiting(session, case)]
    return CaseFacts(
        case.case_ref,
        case.state,
        case.stage_entered_at,
        orgs[case.owner_org_id].slug,
        case.is_minor,
        f"{case.host_country} -> {case.destination_country}",
        case.process_version,
        case.version,
        _consent_line(session, case),
        case.departure_on,
        case.arrival_on,
        case.closure_reason,
        live,
        waiting,
        case.status,
    )


def _details(ctx: Context, ref: str, *, personal: bool) -> CaseDetails:
    who: StaffMember = ctx.staff
    case = get_case(ctx.session, case_ref=ref, actor=who)
    facts = case_facts(ctx.session, case)
    person = vault.read_person(ctx.session, case=case, actor=who, now=ctx.now) if personal else None
    items = item_lines(ctx.session, case)
    texts = case_texts(ctx.session, case, who, ctx.now) if personal else []
    return CaseDetails(facts, items, allowed_triggers(case), person, texts)


@dataclass(frozen=True)
class ShowCase(OneCase, Command[CaseDetails]):
    """A case as its reader may see it."""

    ref: str
    name = "case show"
    writes = False

    def execute(self, ctx: Context) -> CaseDetails:
        return _details(ctx, self.ref, personal=False)


@dataclass(frozen=True)
class ShowCasePersonal(ShowCase):
    """A case with the person's data and the free texts its reader may see: each read is
    audited, so it runs in a write transaction."""

    name = "case show --personal"
    writes = True

    def execute(self, ctx: Context) -> CaseDetails:
        return _details(ctx, self.ref, personal=True)


@dataclass(frozen=True)
class CaseItems(OneCase, Command[list[ItemLine]]):
    """A case's checklist items."""

    ref: str
    name = "case items"
    writes = False

    def execute(self, ctx: Context) -> list[ItemLine]:
        return item_lines(ctx.session, get_case(ctx.session, case_ref=self.ref, actor=ctx.staff))


@dataclass(frozen=True)
class CaseLine:
    """One case as listed."""

    case_ref: str
    stage: str
    since: datetime
    owner: str
    minor: bool
    host_country: str
    destination_country: str


@dataclass(frozen=True)
class ListCases(Command[list[CaseLine]]):
    """The cases the reader's organisation takes part in, newest first (``stage``: only
    those in it)."""

    stage: str | None = None
    name = "case list"
    writes = False

    def execute(self, ctx: Context) -> list[CaseLine]:
        orgs = orgs_by_id(ctx.session)
        return [
            CaseLine(
                case.case_ref,
                case.phase,
                case.stage_entered_at,
                orgs[case.owner_org_id].slug,
                case.is_minor,
                case.host_country,
                case.destination_country,
            )
            for case in list_cases(ctx.session, actor=ctx.staff, state=self.stage)
        ]


@dataclass(frozen=True)
class HistoryLine:
    """One event of a case's history: who (staff email, or ``system``) and how they were
    proven (``session 3f9c2a1b``, ``run ... for session ...``, ``service scheduler``)."""

    at: datetime
    who: str
    trigger: str
    from_state: str | None
    to_state: str | None
    data: dict[str, Any]
    proof: str | None


@dataclass(frozen=True)
class CaseHistory(OneCase, Command[list[HistoryLine]]):
    """Every event of a case, oldest first."""

    ref: str
    name = "case history"
    writes = False

    def execute(self, ctx: Context) -> list[HistoryLine]:
        return timeline(ctx.session, get_case(ctx.session, case_ref=self.ref, actor=ctx.staff))


def timeline(session: Session, case: Case) -> list[HistoryLine]:
    """Every event of the case, oldest first (as ``case history``)."""
    events = history(session, case)
    actors = {e.actor_id for e in events if e.actor_id is not None}
    query = select(StaffMember.id, StaffMember.email).where(col(StaffMember.id).in_(actors))
    staff = dict(session.exec(query).all()) if actors else {}
    return [
        HistoryLine(
            event.at,
            staff.get(event.actor_id, "system"),
            event.trigger,
            event.from_state,
            event.to_state,
            dict(event.data),
            event.proof,
        )
        for event in events
    ]

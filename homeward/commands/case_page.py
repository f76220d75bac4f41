"""What a case page shows its reader, read in one transaction: the case's facts and timeline,
its checklist items with the actions this person may take on each, the next steps the
procedure allows with the fields each needs, the closure request, the consents, and whether
the reader may see or enter the person's details. No personal data: codes, dates, slugs.

Every "may" here is the engine's answer (``homeward.protection.permissions``, the machine's
table, ``homeward.protection.vault``), asked without acting; the engine asks the same again
when the action comes, so a page offers what will be allowed and nothing is decided twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from homeward.base.models import (
    PARTICIPANT_KINDS,
    Case,
    ChecklistItem,
    Handoff,
    HandoffStatus,
    ItemStatus,
    Organisation,
    RequestKey,
    StaffMember,
)
from homeward.commands.case_views import CaseFacts, HistoryLine, OneCase, case_facts, timeline
from homeward.commands.consent import ConsentLine, consent_lines
from homeward.commands.runner import Command, Context
from homeward.protection import vault
from homeward.protection.consent import sharing_org_ids
from homeward.protection.permissions import (
    CASEWORK_KINDS,
    Action,
    allowed,
    permits,
    permits_item,
)
from homeward.records.directory import orgs_by_id
from statemachines.cases import allowed_triggers, get_case
from statemachines.closure_requests import pending_request
from statemachines.step_fields import (
    TRIGGER_LABELS,
    Choice,
    FieldSpec,
    choices,
    fields_for,
    model_fields,
)
from statemachines.steps import ClosureReason, ClosureRejection
from tasks.catalog import load_catalog
from tasks.checklist import visible_item
from tasks.family import person_labels

DONE, SKIP, HANDOFF, ACCEPT, REJECT = "done", "skip", "handoff", "accept", "reject"
BY_REQUEST = frozenset({"close"})  # a closure is requested and approved, not fired from here


@dataclass(frozen=True)
class PageItem:
    """One checklist item and what the reader may do with it (``actions``: among ``done``,
    ``skip``, ``handoff``, ``accept``, ``reject``); ``outcomes``: the codes ``done`` needs
    one of; ``handoff_to``: the organisation a pending handoff awaits; ``targets``: those it
    may be handed to (the owner, and those the person consented to share with)."""

    id: int
    stage: str
    code: str
    title: str
    owner: str
    due_at: datetime
    status: str
    outcome: str | None
    partner_needed: str | None
    blocking: bool
    overdue: bool
    actions: tuple[str, ...]
    outcomes: tuple[Choice, ...] = ()
    handoff_to: str | None = None
    targets: tuple[str, ...] = ()
    about: str | None = None  # the family member it is about ("child 1"), never a name


@dataclass(frozen=True)
class NextStep:
    """A trigger the procedure allows from the case's stage, with the fields it needs (its
    guards may still refuse: the refusal says why)."""

    trigger: str
    label: str
    fields: tuple[FieldSpec, ...]


@dataclass(frozen=True)
class ClosurePanel:
    """The case's closure as the reader may act on it: ask (``may_request``, with a reason
    from ``reasons``), or, for a pending request, approve or reject (with a code from
    ``rejections``)."""

    closable: bool
    may_request: bool
    pending: bool
    request_id: int | None
    reason: str | None
    requested_by: str | None
    may_approve: bool
    may_reject: bool
    reasons: tuple[Choice, ...]
    rejections: tuple[Choice, ...]


@dataclass(frozen=True)
class CasePageView:
    """Everything a case page shows (no personal data); ``version``: the case's version, for
    a form that must be refused if the case changed meanwhile."""

    facts: CaseFacts
    version: int
    items: list[PageItem]
    timeline: list[HistoryLine]
    next: list[NextStep]
    closure: ClosurePanel
    consents: list[ConsentLine]
    may_read_person: bool
    may_enter_person: bool
    person_fields: tuple[FieldSpec, ...]


def person_fields() -> tuple[FieldSpec, ...]:
    """The person's fields as a form asks for them (``vault.PersonIn``'s own, with its codes
    as choices)."""
    coded = {"sex": choices(vault.SEXES), "exploitation_form": choices(vault.EXPLOITATION_FORMS)}
    return tuple(
        FieldSpec(f.name, "choice", f.required, f.label, f.help, coded[f.name])
        if f.name in coded
        else f
        for f in model_fields(vault.PersonIn)
    )


def _targets(session: Session, case: Case, orgs: dict[int, Organisation]) -> tuple[str, ...]:
    """Organisations work on ``case`` may go to: its owner, and those the person consented to
    share with (the engine's ``ensure_sharing_consent`` asks the same)."""
    sharing = sharing_org_ids(session, case)
    return tuple(
        org.slug
        for org_id, org in sorted(orgs.items(), key=lambda kv: kv[1].slug)
        if org.kind in CASEWORK_KINDS and (org_id == case.owner_org_id or org_id in sharing)
    )


def _pending_handoffs(session: Session, case: Case) -> dict[int, Handoff]:
    query = select(Handoff).where(
        Handoff.case_id == case.id,
        Handoff.status == HandoffStatus.PROPOSED,
        col(Handoff.item_id).is_not(None),
    )
    return {h.item_id: h for h in session.exec(query) if h.item_id is not None}


def _item_actions(
    session: Session,
    who: StaffMember,
    case: Case,
    item: ChecklistItem,
    pending: Handoff | None,
) -> tuple[str, ...]:
    org = session.get(Organisation, who.org_id)
    actions: list[str] = []
    if item.status == ItemStatus.OPEN:
        if permits_item(session, who, Action.RECORD_OWN_ITEM, case, item):
            actions += [DONE, SKIP]
        if pending is None and permits_item(session, who, Action.HAND_OFF_OWN_ITEM, case, item):
            actions.append(HANDOFF)
    if (
        pending is not None
        and org is not None
        and pending.to_org_id == who.org_id
        and allowed(org.kind, who.role, Action.ANSWER_HANDOFF)
    ):
        actions += [ACCEPT, REJECT]
    return tuple(actions)


def page_items(session: Session, who: StaffMember, case: Case, now: datetime) -> list[PageItem]:
    """The case's items in the order they were created, with the reader's actions."""
    orgs, catalog = orgs_by_id(session), load_catalog(case.process_version)
    handoffs = _pending_handoffs(session, case)
    targets = _targets(session, case, orgs)
    lines = []
    query = select(ChecklistItem).where(ChecklistItem.case_id == case.id)
    members = person_labels(session, case)
    for item in session.exec(query.order_by(col(ChecklistItem.id))):
        assert item.id is not None  # noqa: S101 (a stored row)
        spec, pending = catalog.spec(item.code), handoffs.get(item.id)
        actions = _item_actions(session, who, case, item, pending)
        lines.append(
            PageItem(
                item.id,
                item.stage,
                item.code,
                spec.title,
                orgs[item.owner_org_id].slug,
                item.due_at,
                item.status,
                item.outcome,
                item.partner_needed,
                item.blocking,
                item.status == ItemStatus.OPEN and item.due_at < now,
                actions,
                choices(spec.outcomes) if DONE in actions else (),
                orgs[pending.to_org_id].slug if pending else None,
                tuple(t for t in targets if t != orgs[item.owner_org_id].slug)
                if HANDOFF in actions
                else (),
                members.get(item.person_id) if item.person_id else None,
            )
        )
    return lines


def next_steps(session: Session, who: StaffMember, case: Case) -> list[NextStep]:
    """The triggers the reader may fire from the case's stage (none if they may not steer)."""
    if not permits(session, who, Action.FIRE_TRIGGER, case):
        return []
    return [
        NextStep(t, TRIGGER_LABELS.get(t, t), fields_for(t))
        for t in allowed_triggers(case)
        if t not in BY_REQUEST
    ]


def closure_panel(session: Session, who: StaffMember, case: Case) -> ClosurePanel:
    """What the reader may do about the case's closure now."""
    closable = "close" in allowed_triggers(case)
    request = pending_request(session, case) if closable else None
    decides = closable and permits(session, who, Action.DECIDE_CLOSURE, case)
    asker = (
        session.get(StaffMember, request.requested_by_id)
        if request and request.requested_by_id
        else None
    )
    return ClosurePanel(
        closable,
        closable and request is None and permits(session, who, Action.FIRE_TRIGGER, case),
        request is not None,
        request.event_id if request else None,
        request.reason if request else None,
        asker.email if asker else None,
        decides and request is not None and request.requested_by_id != who.id,
        decides and request is not None,
        choices(ClosureReason),
        choices(ClosureRejection),
    )


@dataclass(frozen=True)
class CasePage(OneCase, Command[CasePageView]):
    """A case as its page shows it to the reader (read-only; no personal data)."""

    ref: str
    name = "case page"
    writes = False

    def execute(self, ctx: Context) -> CasePageView:
        session, who = ctx.session, ctx.staff
        case = get_case(session, case_ref=self.ref, actor=who)
        return CasePageView(
            case_facts(session, case),
            case.version,
            page_items(session, who, case, ctx.now),
            timeline(session, case),
            next_steps(session, who, case),
            closure_panel(session, who, case),
            consent_lines(session, case),
            bool(vault.readable_fields(session, case, who)),
            permits(session, who, Action.ENTER_PERSON, case),
            person_fields(),
        )


@dataclass(frozen=True)
class ItemPlace:
    """Where an item lives: its case."""

    item_id: int
    case_ref: str


@dataclass(frozen=True)
class FindItem(Command[ItemPlace]):
    """The case of item ``item_id``, if the reader sees it (otherwise the same "not found" as
    for an item that does not exist)."""

    item_id: int
    name = "items where"
    writes = False

    def execute(self, ctx: Context) -> ItemPlace:
        _item, case = visible_item(ctx.session, self.item_id, ctx.staff)
        return ItemPlace(self.item_id, case.case_ref)


@dataclass(frozen=True)
class StartedCase(Command[str | None]):
    """The case_ref of the case the reader's own request ``key`` opened (``case start``, as
    the ``start-return`` flow runs it), or None while it is not (yet) open."""

    key: str
    name = "case started"
    writes = False

    def execute(self, ctx: Context) -> str | None:
        query = select(RequestKey.case_id).where(
            RequestKey.key == self.key,
            RequestKey.command == "case start",
            RequestKey.actor_id == ctx.staff.id,
        )
        case_id = ctx.session.exec(query).first()
        case = ctx.session.get(Case, case_id) if case_id else None
        return case.case_ref if case else None


@dataclass(frozen=True)
class OrgChoice:
    """An organisation a form may name: slug, name and country (no staff, no cases)."""

    slug: str
    name: str
    country: str


@dataclass(frozen=True)
class RoleChoice:
    """A part in a new case and the organisations of the kind that may play it."""

    role: str
    kind: str
    orgs: tuple[OrgChoice, ...]


@dataclass(frozen=True)
class StartFormView:
    """What starting a return asks: whether the reader may open cases at all, their
    organisation's country (the default host country) and, per part, who may play it (left
    out, the engine picks the only one of its kind, as ``start_case`` does)."""

    may_open: bool
    host_country: str
    roles: tuple[RoleChoice, ...]


@dataclass(frozen=True)
class StartForm(Command[StartFormView]):
    """The choices of the "start a return" form (read-only)."""

    name = "case start form"
    writes = False

    def execute(self, ctx: Context) -> StartFormView:
        who, session = ctx.staff, ctx.session
        orgs = sorted(orgs_by_id(session).values(), key=lambda o: o.slug)
        own = session.get(Organisation, who.org_id)
        roles = tuple(
            RoleChoice(
                str(role),
                str(kind),
                tuple(OrgChoice(o.slug, o.name, o.country) for o in orgs if o.kind == kind),
            )
            for role, kind in PARTICIPANT_KINDS.items()
        )
        return StartFormView(
            permits(session, who, Action.OPEN_CASE), own.country if own else "", roles
        )

"""The reintegration plan as data (issue 16): versions, goals and services, approval, review.

A case's plan is a series of versions. The owner organisation's caseworkers, coordinators and
supervisors draft a version (a new draft copies the last version's goals and services), add
goals (one sustainability dimension each) and services (type, provider organisation, planned
dates, budget in minor units and currency), and submit it. A supervisor of the owner
organisation who did not submit it approves or rejects it, as for a closure request
(``statemachines.approvals``). The approved version supersedes the one approved before; its
planned services become approved, and each becomes a checklist item of its provider
(``service_<type>``, generic title, not blocking, due on the planned start), so the provider
sees the case and gets the reminders and digests. Approving also records the catalog's
``reintegration_plan`` item done, as the approver. The provider (or the owner's steering staff)
then records a service started, delivered (with its cost; its item done) or cancelled.

Free text (the summary, a goal, a service's note, a rejection's reason) is encrypted under the
case key before it is stored; history events hold ids and codes only.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from sqlmodel import Session, col, select

from homeward.base.caseref import checked_ref
from homeward.base.clock import local_date, local_noon
from homeward.base.errors import InvalidInput, NotFound, Refused
from homeward.base.models import (
    ENDED,
    Case,
    ChecklistItem,
    ItemStatus,
    Organisation,
    PlanGoal,
    PlanService,
    ReintegrationPlan,
    StaffMember,
)
from homeward.crypt import crypto
from homeward.protection import vault
from homeward.protection.access import can_see, case_not_found, ensure_can_see
from homeward.protection.permissions import (
    CASEWORK_KINDS,
    Action,
    owner_staff,
    permits,
    permits_item,
    who_text,
)
from homeward.records.audit import record_event
from homeward.records.locking import bump
from tasks import checklist
from tasks.catalog import SERVICE_PREFIX, SERVICE_TITLES

DIMENSIONS = ("economic", "social", "psychosocial")
SERVICE_TYPES = tuple(SERVICE_TITLES)
CURRENCIES = ("EUR", "RON", "USD", "GBP", "CHF")
PLAN_STAGES = ("received", "reintegration")  # both routes: assistance has started
TEXT_MAX = 4000
REASON_MIN = 5
PLAN_ITEM = "reintegration_plan"
FOLLOW_UP_PREFIX = "follow_up"
OPEN_SERVICE = ("planned", "approved", "in_progress")


# --- values -------------------------------------------------------------------------------------


def check_dimension(value: str) -> str:
    if value not in DIMENSIONS:
        raise InvalidInput(f"--dimension: use one of {', '.join(DIMENSIONS)}")
    return value


def check_service_type(value: str) -> str:
    if value not in SERVICE_TYPES:
        raise InvalidInput(f"--type: use one of {', '.join(SERVICE_TYPES)}")
    return value


def check_currency(value: str) -> str:
    code = value.strip().upper()
    if code not in CURRENCIES:
        raise InvalidInput(f"--currency: use a 3-letter code, one of {', '.join(CURRENCIES)}")
    return code


def to_minor(amount: str, field: str = "--budget") -> int:
    """``"1200.50"`` -> 120050: an amount in major units (at most 2 decimals, not negative)."""
    try:
        value = Decimal(amount.strip().replace(",", "."))
    except InvalidOperation:
        raise InvalidInput(f"{field}: write an amount like 1200.50") from None
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")):
        raise InvalidInput(f"{field}: write an amount like 1200.50 (not negative, 2 decimals)")
    if value >= 10**10:
        raise InvalidInput(f"{field}: the amount is too large")
    return int(value * 100)


def money(minor: int | None, currency: str) -> str:
    """120050, "EUR" -> ``"1200.50 EUR"``."""
    if minor is None:
        return ""
    return f"{Decimal(minor) / 100:.2f} {currency}"


def _text(value: str | None, field: str, *, required: bool = False) -> str | None:
    text = (value or "").strip()
    if required and not text:
        raise InvalidInput(f"{field}: write the text (it is stored encrypted)")
    if len(text) > TEXT_MAX:
        raise InvalidInput(f"{field}: keep it under {TEXT_MAX} characters")
    return text or None


# --- reading ------------------------------------------------------------------------------------


def versions(session: Session, case: Case) -> list[ReintegrationPlan]:
    query = select(ReintegrationPlan).where(ReintegrationPlan.case_id == case.id)
    return list(session.exec(query.order_by(col(ReintegrationPlan.version))))


def approved(session: Session, case: Case) -> ReintegrationPlan | None:
    found = [p for p in versions(session, case) if p.status == "approved"]
    return found[-1] if found else None


def goals_of(session: Session, plan: ReintegrationPlan) -> list[PlanGoal]:
    query = select(PlanGoal).where(PlanGoal.plan_id == plan.id)
    return list(session.exec(query.order_by(col(PlanGoal.id))))


def services_of(session: Session, plan: ReintegrationPlan) -> list[PlanService]:
    query = select(PlanService).where(PlanService.plan_id == plan.id)
    return list(session.exec(query.order_by(col(PlanService.id))))


def totals(services: list[PlanService]) -> dict[str, tuple[int, int]]:
    """Per currency: (budget planned, cost spent) in minor units, cancelled services left out."""
    found: dict[str, tuple[int, int]] = {}
    for s in services:
        if s.status == "cancelled":
            continue
        budget, cost = found.get(s.currency, (0, 0))
        found[s.currency] = (budget + (s.budget_minor or 0), cost + (s.cost_minor or 0))
    return dict(sorted(found.items()))


def reveal(
    session: Session,
    *,
    case: Case,
    table: str,
    column: str,
    row_id: int | None,
    stored: str | None,
    actor: StaffMember,
    now: datetime,
    parties: tuple[int, ...] = (),
) -> str | None:
    """A stored free text, decrypted for someone who may read it (audited); else None."""
    if stored is None or row_id is None:
        return None
    if not vault.may_read_text(session, case=case, actor=actor, parties=parties):
        return None
    return vault.reveal_text(
        session,
        case=case,
        table=table,
        column=column,
        row_id=row_id,
        stored=stored,
        actor=actor,
        now=now,
        parties=parties,
    )


# --- who may ------------------------------------------------------------------------------------


def get_case(session: Session, *, case_ref: str, actor: StaffMember) -> Case:
    """The case with ``case_ref``, if the actor may see it (otherwise 'not found')."""
    ref = checked_ref(case_ref)
    case = session.exec(select(Case).where(Case.case_ref == ref)).first()
    if case is None:
        raise case_not_found(ref)
    ensure_can_see(session, actor, case)
    return case


def _editable_case(session: Session, case_ref: str, actor: StaffMember) -> Case:
    """The case, if the actor's organisation owns it (coordinator, caseworker, supervisor) and
    its stage lets a plan be worked on."""
    case = get_case(session, case_ref=case_ref, actor=actor)
    if not permits(session, actor, Action.ENTER_PERSON, case):
        raise Refused(
            f"{who_text(session, actor)} cannot work on the reintegration plan of case "
            f"{case.case_ref}; ask {owner_staff(session, case, Action.ENTER_PERSON)}"
        )
    if case.status in ENDED:
        raise Refused(f"case {case.case_ref} is {case.status}: its plan is kept as it stands")
    if case.state not in PLAN_STAGES:
        raise Refused(
            f"case {case.case_ref} is in stage {case.state}: a reintegration plan is drafted "
            "once the person is received (stages received and reintegration)"
        )
    return case


def _draft(session: Session, case: Case) -> ReintegrationPlan:
    found = [p for p in versions(session, case) if p.status == "draft"]
    if not found:
        raise Refused(
            f"case {case.case_ref} has no draft plan; start one with "
            f"`homeward plan draft {case.case_ref}`"
        )
    return found[-1]


def _row_id(row: object) -> int:
    row_id = getattr(row, "id", None)
    assert row_id is not None  # noqa: S101 (flushed)
    return int(row_id)


def _protect(
    session: Session, case: Case, table: str, column: str, row_id: int, text: str, now: datetime
) -> str:
    return vault.protect_text(
        session, case=case, table=table, column=column, row_id=row_id, text=text, now=now
    )


def _copy_text(
    session: Session,
    case: Case,
    table: str,
    column: str,
    old_id: int | None,
    stored: str | None,
    new_id: int,
    now: datetime,
) -> str | None:
    """Re-encrypt a stored text for a new row (every ciphertext is bound to its row)."""
    if stored is None or old_id is None:
        return None
    key = vault.case_key(session, case)
    text = crypto.decrypt_field(key, stored, table=table, column=column, row_id=old_id)
    return _protect(session, case, table, column, new_id, text, now)


def _event(
    session: Session,
    case: Case,
    trigger: str,
    actor: StaffMember,
    now: datetime,
    **data: object,
) -> None:
    record_event(session, case=case, trigger=trigger, at=now, actor=actor, data=dict(data))


# --- drafting -----------------------------------------------------------------------------------


def draft(
    session: Session, *, case_ref: str, actor: StaffMember, summary: str | None, now: datetime
) -> ReintegrationPlan:
    """Start a new plan version as a draft, copying the latest version's goals and services."""
    summary = _text(summary, "--summary")
    case = _editable_case(session, case_ref, actor)
    found = versions(session, case)
    if any(p.status in ("draft", "submitted") for p in found):
        raise Refused(
            f"case {case.case_ref} already has a plan version in draft or waiting for approval; "
            f"see `homeward plan show {case.case_ref}`"
        )
    bump(session, case)
    assert case.id is not None and actor.id is not None  # noqa: S101
    plan = ReintegrationPlan(
        case_id=case.id,
        version=(found[-1].version + 1) if found else 1,
        status="draft",
        created_by_id=actor.id,
        created_at=now,
    )
    session.add(plan)
    session.flush()
    plan_id = _row_id(plan)
    base = found[-1] if found else None
    if summary:
        plan.summary = _protect(
            session, case, "reintegration_plan", "summary", plan_id, summary, now
        )
    elif base is not None:
        plan.summary = _copy_text(
            session, case, "reintegration_plan", "summary", base.id, base.summary, plan_id, now
        )
    if base is not None:
        _copy_contents(session, case, base, plan_id, now)
    _event(session, case, "plan_drafted", actor, now, plan_id=plan_id, version=plan.version)
    return plan


def _copy_contents(
    session: Session, case: Case, base: ReintegrationPlan, plan_id: int, now: datetime
) -> None:
    goal_ids: dict[int | None, int] = {}
    for goal in goals_of(session, base):
        copy = PlanGoal(
            case_id=goal.case_id, plan_id=plan_id, dimension=goal.dimension, status=goal.status
        )
        session.add(copy)
        session.flush()
        copy.text = _copy_text(
            session, case, "plan_goal", "text", goal.id, goal.text, _row_id(copy), now
        )
        goal_ids[goal.id] = _row_id(copy)
    for old in services_of(session, base):
        if old.status == "cancelled":
            continue
        service = PlanService(
            case_id=old.case_id,
            plan_id=plan_id,
            goal_id=goal_ids.get(old.goal_id),
            service_type=old.service_type,
            provider_org_id=old.provider_org_id,
            status=old.status,  # one already under way stays so; its item carries on
            planned_start_on=old.planned_start_on,
            planned_end_on=old.planned_end_on,
            actual_start_on=old.actual_start_on,
            actual_end_on=old.actual_end_on,
            budget_minor=old.budget_minor,
            cost_minor=old.cost_minor,
            currency=old.currency,
            item_id=old.item_id,
        )
        session.add(service)
        session.flush()
        service.note = _copy_text(
            session, case, "plan_service", "note", old.id, old.note, _row_id(service), now
        )
    session.flush()


def add_goal(
    session: Session,
    *,
    case_ref: str,
    actor: StaffMember,
    dimension: str,
    text: str,
    now: datetime,
) -> PlanGoal:
    """Add a goal (one dimension, encrypted text) to the case's draft plan."""
    check_dimension(dimension)
    body = _text(text, "--text", required=True)
    assert body is not None  # noqa: S101
    case = _editable_case(session, case_ref, actor)
    plan = _draft(session, case)
    bump(session, case)
    goal = PlanGoal(case_id=plan.case_id, plan_id=_row_id(plan), dimension=dimension)
    session.add(goal)
    session.flush()
    goal.text = _protect(session, case, "plan_goal", "text", _row_id(goal), body, now)
    _event(session, case, "plan_goal_added", actor, now, plan_id=plan.id, goal_id=goal.id)
    return goal


def add_service(
    session: Session,
    *,
    case_ref: str,
    actor: StaffMember,
    service_type: str,
    provider: str,
    start: date,
    end: date | None,
    budget_minor: int | None,
    currency: str,
    note: str | None,
    now: datetime,
) -> PlanService:
    """Add a planned service to the case's draft plan."""
    check_service_type(service_type)
    currency = check_currency(currency)
    body = _text(note, "--note")
    if end is not None and end < start:
        raise InvalidInput("--end: the planned end cannot be before the planned start")
    case = _editable_case(session, case_ref, actor)
    org = session.exec(select(Organisation).where(Organisation.slug == provider)).first()
    if org is None:
        raise NotFound(f"--provider: organisation {provider!r} not found; see `homeward org list`")
    if org.kind not in CASEWORK_KINDS:
        raise InvalidInput(
            f"--provider: {org.slug} takes part read-only and cannot deliver a service; "
            "name an NGO, a DGASPC, an IOM mission or a consulate"
        )
    plan = _draft(session, case)
    bump(session, case)
    assert org.id is not None  # noqa: S101
    service = PlanService(
        case_id=plan.case_id,
        plan_id=_row_id(plan),
        service_type=service_type,
        provider_org_id=org.id,
        status="planned",
        planned_start_on=start,
        planned_end_on=end,
        budget_minor=budget_minor,
        currency=currency,
    )
    session.add(service)
    session.flush()
    if body:
        service.note = _protect(session, case, "plan_service", "note", _row_id(service), body, now)
    _event(
        session,
        case,
        "plan_service_added",
        actor,
        now,
        plan_id=plan.id,
        service_id=service.id,
        type=service_type,
        provider=org.slug,
    )
    return service


def submit(
    session: Session, *, case_ref: str, actor: StaffMember, now: datetime
) -> ReintegrationPlan:
    """Send the draft for a supervisor's approval; it needs at least one goal or service."""
    case = _editable_case(session, case_ref, actor)
    plan = _draft(session, case)
    if not goals_of(session, plan) and not services_of(session, plan):
        raise Refused(
            f"the draft plan of case {case.case_ref} is empty; add a goal or a service first"
        )
    bump(session, case)
    plan.status, plan.submitted_by_id, plan.submitted_at = "submitted", actor.id, now
    session.add(plan)
    _event(session, case, "plan_submitted", actor, now, plan_id=plan.id, version=plan.version)
    return plan


# --- the decision -------------------------------------------------------------------------------


SELF_APPROVAL = (
    "the staff member who submitted the plan of case {ref} cannot approve it; "
    "another supervisor of its owner organisation decides"
)


def _submitted(
    session: Session, case_ref: str, actor: StaffMember
) -> tuple[Case, ReintegrationPlan]:
    case = get_case(session, case_ref=case_ref, actor=actor)
    if not permits(session, actor, Action.DECIDE_CLOSURE, case):
        raise Refused(
            f"{who_text(session, actor)} cannot approve or reject the reintegration plan of "
            f"case {case.case_ref}; ask {owner_staff(session, case, Action.DECIDE_CLOSURE)}"
        )
    found = [p for p in versions(session, case) if p.status == "submitted"]
    if not found:
        raise Refused(
            f"no plan of case {case.case_ref} is waiting for a decision; "
            f"see `homeward plan show {case.case_ref}`"
        )
    return case, found[-1]


def approve(
    session: Session, *, case_ref: str, actor: StaffMember, now: datetime
) -> ReintegrationPlan:
    """A supervisor of the owner organisation (not the submitter) approves the submitted plan."""
    case, plan = _submitted(session, case_ref, actor)
    if plan.submitted_by_id == actor.id:
        raise Refused(SELF_APPROVAL.format(ref=case.case_ref))
    bump(session, case)
    previous = approved(session, case)
    if previous is not None:
        previous.status = "superseded"
        session.add(previous)
    plan.status, plan.decided_by_id, plan.decided_at = "approved", actor.id, now
    plan.review_due_on = next_follow_up(session, case)
    session.add(plan)
    session.flush()
    items = 0
    for service in services_of(session, plan):
        if service.status == "planned":
            service.status = "approved"
        if service.status in OPEN_SERVICE and service.item_id is None:
            service.item_id = _service_item(session, case, service, now)
            items += 1
        session.add(service)
    session.flush()
    _event(
        session,
        case,
        "plan_approved",
        actor,
        now,
        plan_id=plan.id,
        version=plan.version,
        supersedes=previous.id if previous else None,
        service_items=items,
    )
    plan_item = checklist.latest_item(session, case, PLAN_ITEM)
    if plan_item is not None and plan_item.status == ItemStatus.OPEN:
        checklist.mark_done(session, item_id=_row_id(plan_item), actor=actor, now=now)
    return plan


def reject(
    session: Session, *, case_ref: str, actor: StaffMember, reason: str, now: datetime
) -> ReintegrationPlan:
    """A supervisor of the owner organisation sends the submitted plan back, with a reason."""
    body = _text(reason, "--reason", required=True)
    assert body is not None  # noqa: S101
    if len(body) < REASON_MIN:
        raise InvalidInput(f"--reason: say why the plan is rejected ({REASON_MIN}+ characters)")
    case, plan = _submitted(session, case_ref, actor)
    bump(session, case)
    plan.status, plan.decided_by_id, plan.decided_at = "rejected", actor.id, now
    plan.decision_note = _protect(
        session, case, "reintegration_plan", "decision_note", _row_id(plan), body, now
    )
    session.add(plan)
    _event(session, case, "plan_rejected", actor, now, plan_id=plan.id, version=plan.version)
    return plan


def _service_item(session: Session, case: Case, service: PlanService, now: datetime) -> int:
    """The provider's checklist item for an approved service (due on its planned start)."""
    assert case.id is not None  # noqa: S101
    start = service.planned_start_on or local_date(now)
    item = ChecklistItem(
        case_id=case.id,
        stage=case.state,
        code=f"{SERVICE_PREFIX}{service.service_type}",
        title_key=f"item.{SERVICE_PREFIX}{service.service_type}.title",
        owner_org_id=service.provider_org_id,
        due_at=local_noon(start),
        blocking=False,
        created_at=now,
    )
    session.add(item)
    session.flush()
    return _row_id(item)


def next_follow_up(session: Session, case: Case) -> date | None:
    """The due day of the case's next open follow-up item (when the plan is reviewed next)."""
    query = select(ChecklistItem).where(
        ChecklistItem.case_id == case.id,
        ChecklistItem.status == ItemStatus.OPEN,
        col(ChecklistItem.code).startswith(FOLLOW_UP_PREFIX),
    )
    item = session.exec(query.order_by(col(ChecklistItem.due_at))).first()
    return local_date(item.due_at) if item else None


def mark_review_due(session: Session, case: Case, now: datetime) -> ReintegrationPlan | None:
    """After a follow-up visit: the approved plan's review falls due today ("plan review due").
    Nothing to do for a case without an approved plan."""
    plan = approved(session, case)
    if plan is None:
        return None
    plan.review_due_on = local_date(now)
    session.add(plan)
    session.flush()
    return plan


# --- services under way (each returns the service and its case's reference: once a provider
# cancels its own service, the case may be out of its sight)


def _service_for(session: Session, service_id: int, actor: StaffMember) -> tuple[PlanService, Case]:
    """A service of the case's approved plan, if the actor may record it: staff of its provider
    (through its item) or the owner's steering staff. Hidden services answer like missing ones."""
    service = session.get(PlanService, service_id)
    case = session.get(Case, service.case_id) if service else None
    if service is None or case is None or not can_see(session, actor, case):
        raise NotFound(f"service #{service_id} not found; see `homeward plan show REF`")
    item = session.get(ChecklistItem, service.item_id) if service.item_id else None
    allowed = (
        permits_item(session, actor, Action.RECORD_OWN_ITEM, case, item)
        if item is not None
        else permits(session, actor, Action.WORK_ANY_ITEM, case)
    )
    if not allowed:
        raise Refused(
            f"{who_text(session, actor)} cannot record service #{service_id} of case "
            f"{case.case_ref}; ask its provider's staff or "
            f"{owner_staff(session, case, Action.WORK_ANY_ITEM)}"
        )
    plan = session.get(ReintegrationPlan, service.plan_id)
    if plan is None or plan.status != "approved":
        raise Refused(
            f"service #{service_id} is not in the approved plan of case {case.case_ref}; "
            "record services of the approved version"
        )
    return service, case


def _not_future(on: date | None, now: datetime) -> None:
    if on is not None and on > local_date(now):
        raise InvalidInput("--on: record what happened, on a day up to today (YYYY-MM-DD)")


def service_started(
    session: Session, *, service_id: int, actor: StaffMember, on: date | None, now: datetime
) -> tuple[PlanService, str]:
    _not_future(on, now)
    service, case = _service_for(session, service_id, actor)
    if service.status != "approved":
        raise Refused(f"service #{service_id} is {service.status}; only an approved one starts")
    bump(session, case)
    service.status, service.actual_start_on = "in_progress", on or local_date(now)
    session.add(service)
    _event(session, case, "plan_service_started", actor, now, service_id=service.id)
    return service, case.case_ref


def service_delivered(
    session: Session,
    *,
    service_id: int,
    actor: StaffMember,
    on: date | None,
    cost_minor: int | None,
    currency: str | None,
    now: datetime,
) -> tuple[PlanService, str]:
    """Record a service delivered (its cost, in the plan's currency), and its item done."""
    _not_future(on, now)
    service, case = _service_for(session, service_id, actor)
    if service.status not in ("approved", "in_progress"):
        raise Refused(f"service #{service_id} is {service.status}; it cannot be delivered now")
    if currency is not None and check_currency(currency) != service.currency:
        raise InvalidInput(
            f"--currency: service #{service_id} is budgeted in {service.currency}; "
            f"give the cost in {service.currency}"
        )
    end = on or local_date(now)
    start = service.actual_start_on or end
    if end < start:
        raise InvalidInput("--on: the delivery cannot be before the service started")
    bump(session, case)
    service.status, service.actual_start_on, service.actual_end_on = "delivered", start, end
    service.cost_minor = cost_minor if cost_minor is not None else service.cost_minor
    session.add(service)
    _event(session, case, "plan_service_delivered", actor, now, service_id=service.id)
    item = session.get(ChecklistItem, service.item_id) if service.item_id else None
    if item is not None and item.status == ItemStatus.OPEN:
        checklist.mark_done(session, item_id=_row_id(item), actor=actor, now=now)
    return service, case.case_ref


def service_cancelled(
    session: Session, *, service_id: int, actor: StaffMember, reason: str, now: datetime
) -> tuple[PlanService, str]:
    """Record a service cancelled (the reason kept encrypted as its note); its item cancelled."""
    body = _text(reason, "--reason", required=True)
    assert body is not None  # noqa: S101
    if len(body) < REASON_MIN:
        raise InvalidInput(f"--reason: say why the service is cancelled ({REASON_MIN}+ characters)")
    service, case = _service_for(session, service_id, actor)
    if service.status not in OPEN_SERVICE:
        raise Refused(f"service #{service_id} is already {service.status}")
    bump(session, case)
    service.status = "cancelled"
    service.note = _protect(session, case, "plan_service", "note", _row_id(service), body, now)
    session.add(service)
    item = session.get(ChecklistItem, service.item_id) if service.item_id else None
    if item is not None and item.status == ItemStatus.OPEN:
        item.status, item.completed_at = ItemStatus.CANCELLED, now
        session.add(item)
    _event(session, case, "plan_service_cancelled", actor, now, service_id=service.id)
    return service, case.case_ref

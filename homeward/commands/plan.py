"""The reintegration plan as commands (issue 16): show, draft, add a goal or a service, submit,
approve, reject, and record a service started, delivered or cancelled.

The engine (``tasks.plans``) checks who may, the stage and the approval rules. Free text (the
summary, a goal's text, a service's note, a reason) stays out of request fingerprints
(``private``) and is shown only through ``ShowPlan``, each text read audited by the vault.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from homeward.base.clock import local_date
from homeward.base.models import (
    ENDED,
    Case,
    PlanGoal,
    PlanService,
    ReintegrationPlan,
    StaffMember,
)
from homeward.commands.runner import Command, Context
from homeward.protection.permissions import Action, permits
from homeward.records.directory import orgs_by_id
from tasks import plans


@dataclass(frozen=True)
class PlanChanged:
    """A plan version after a change: ids and codes only (a request key keeps it)."""

    case_ref: str
    plan_id: int
    version: int
    status: str
    goal_id: int | None = None
    service_id: int | None = None
    review_due_on: str | None = None


@dataclass(frozen=True)
class ServiceChanged:
    """A service after a change, and its provider's checklist item."""

    service_id: int
    case_ref: str
    service_type: str
    status: str
    item_id: int | None


class PlanCommand(Command[PlanChanged]):
    view = PlanChanged
    private: ClassVar[tuple[str, ...]] = ()

    def args(self) -> Mapping[str, Any]:
        found = {k: v for k, v in super().args().items() if k not in self.private}
        return {k: v.isoformat() if isinstance(v, date) else v for k, v in found.items()}


def _changed(case_ref: str, plan: ReintegrationPlan, **extra: int | None) -> PlanChanged:
    assert plan.id is not None  # noqa: S101
    review = plan.review_due_on.isoformat() if plan.review_due_on else None
    return PlanChanged(case_ref, plan.id, plan.version, plan.status, review_due_on=review, **extra)


def _case_ref(ctx: Context, case_id: int) -> str:
    case = ctx.session.get(Case, case_id)
    assert case is not None  # noqa: S101 (a foreign key)
    return case.case_ref


@dataclass(frozen=True)
class DraftPlan(PlanCommand):
    """Start a new plan version (copying the latest one's goals and services)."""

    ref: str
    summary: str | None = None
    name = "plan draft"
    private = ("summary",)

    def execute(self, ctx: Context) -> PlanChanged:
        plan = plans.draft(
            ctx.session, case_ref=self.ref, actor=ctx.staff, summary=self.summary, now=ctx.now
        )
        return _changed(_case_ref(ctx, plan.case_id), plan)


@dataclass(frozen=True)
class AddGoal(PlanCommand):
    """Add a goal on one dimension (economic, social, psychosocial) to the draft."""

    ref: str
    dimension: str
    text: str
    name = "plan add-goal"
    private = ("text",)

    def execute(self, ctx: Context) -> PlanChanged:
        goal = plans.add_goal(
            ctx.session,
            case_ref=self.ref,
            actor=ctx.staff,
            dimension=self.dimension,
            text=self.text,
            now=ctx.now,
        )
        plan = ctx.session.get_one(ReintegrationPlan, goal.plan_id)
        return _changed(_case_ref(ctx, plan.case_id), plan, goal_id=goal.id)


@dataclass(frozen=True)
class AddService(PlanCommand):
    """Add a planned service (type, provider, dates, budget in minor units) to the draft."""

    ref: str
    service_type: str
    provider: str
    start: date
    end: date | None = None
    budget_minor: int | None = None
    currency: str = "EUR"
    note: str | None = None
    name = "plan add-service"
    private = ("note",)

    def execute(self, ctx: Context) -> PlanChanged:
        service = plans.add_service(
            ctx.session,
            case_ref=self.ref,
            actor=ctx.staff,
            service_type=self.service_type,
            provider=self.provider,
            start=self.start,
            end=self.end,
            budget_minor=self.budget_minor,
            currency=self.currency,
            note=self.note,
            now=ctx.now,
        )
        plan = ctx.session.get_one(ReintegrationPlan, service.plan_id)
        return _changed(_case_ref(ctx, plan.case_id), plan, service_id=service.id)


@dataclass(frozen=True)
class SubmitPlan(PlanCommand):
    """Send the draft to a supervisor of the owner organisation for approval."""

    ref: str
    name = "plan submit"

    def execute(self, ctx: Context) -> PlanChanged:
        plan = plans.submit(ctx.session, case_ref=self.ref, actor=ctx.staff, now=ctx.now)
        return _changed(_case_ref(ctx, plan.case_id), plan)


@dataclass(frozen=True)
class ApprovePlan(PlanCommand):
    """Approve the submitted version (a supervisor who did not submit it)."""

    ref: str
    name = "plan approve"

    def execute(self, ctx: Context) -> PlanChanged:
        plan = plans.approve(ctx.session, case_ref=self.ref, actor=ctx.staff, now=ctx.now)
        return _changed(_case_ref(ctx, plan.case_id), plan)


@dataclass(frozen=True)
class RejectPlan(PlanCommand):
    """Send the submitted version back, with a reason (stored encrypted)."""

    ref: str
    reason: str
    name = "plan reject"
    private = ("reason",)

    def execute(self, ctx: Context) -> PlanChanged:
        plan = plans.reject(
            ctx.session, case_ref=self.ref, actor=ctx.staff, reason=self.reason, now=ctx.now
        )
        return _changed(_case_ref(ctx, plan.case_id), plan)


class ServiceCommand(Command[ServiceChanged]):
    view = ServiceChanged
    private: ClassVar[tuple[str, ...]] = ()

    def args(self) -> Mapping[str, Any]:
        found = {k: v for k, v in super().args().items() if k not in self.private}
        return {k: v.isoformat() if isinstance(v, date) else v for k, v in found.items()}

    def case_ref(self) -> str | None:
        return None  # named by the service's number; the history event names the case


def _service_changed(service: PlanService, case_ref: str) -> ServiceChanged:
    assert service.id is not None  # noqa: S101
    return ServiceChanged(
        service.id,
        case_ref,
        service.service_type,
        service.status,
        service.item_id,
    )


@dataclass(frozen=True)
class ServiceStarted(ServiceCommand):
    """Record that a service of the approved plan has started (on a day, today by default)."""

    service_id: int
    on: date | None = None
    name = "plan service-started"

    def execute(self, ctx: Context) -> ServiceChanged:
        service, case_ref = plans.service_started(
            ctx.session, service_id=self.service_id, actor=ctx.staff, on=self.on, now=ctx.now
        )
        return _service_changed(service, case_ref)


@dataclass(frozen=True)
class ServiceDelivered(ServiceCommand):
    """Record a service delivered, with its actual cost; its provider's item is done."""

    service_id: int
    on: date | None = None
    cost_minor: int | None = None
    currency: str | None = None
    name = "plan service-delivered"

    def execute(self, ctx: Context) -> ServiceChanged:
        service, case_ref = plans.service_delivered(
            ctx.session,
            service_id=self.service_id,
            actor=ctx.staff,
            on=self.on,
            cost_minor=self.cost_minor,
            currency=self.currency,
            now=ctx.now,
        )
        return _service_changed(service, case_ref)


@dataclass(frozen=True)
class ServiceCancelled(ServiceCommand):
    """Record a service cancelled, with a reason (stored encrypted)."""

    service_id: int
    reason: str
    name = "plan service-cancelled"
    private = ("reason",)

    def execute(self, ctx: Context) -> ServiceChanged:
        service, case_ref = plans.service_cancelled(
            ctx.session,
            service_id=self.service_id,
            actor=ctx.staff,
            reason=self.reason,
            now=ctx.now,
        )
        return _service_changed(service, case_ref)


# --- showing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GoalLine:
    goal_id: int
    dimension: str
    status: str
    text: str | None  # None: the reader may not read it


@dataclass(frozen=True)
class ServiceLine:
    service_id: int
    service_type: str
    provider: str
    status: str
    planned_start_on: date | None
    planned_end_on: date | None
    actual_start_on: date | None
    actual_end_on: date | None
    budget: str
    cost: str
    currency: str
    item_id: int | None
    note: str | None


@dataclass(frozen=True)
class Total:
    currency: str
    budget: str
    spent: str


@dataclass(frozen=True)
class VersionView:
    plan_id: int
    version: int
    status: str
    summary: str | None
    created_at: Any
    submitted_at: Any
    decided_at: Any
    decision_note: str | None
    review_due_on: date | None
    goals: list[GoalLine]
    services: list[ServiceLine]
    totals: list[Total]


@dataclass(frozen=True)
class PlanView:
    """A case's plan, latest version first, with what the reader may do."""

    case_ref: str
    stage: str
    versions: list[VersionView]
    review_due: bool
    can_edit: bool
    can_decide: bool
    dimensions: tuple[str, ...] = plans.DIMENSIONS
    service_types: tuple[str, ...] = plans.SERVICE_TYPES
    currencies: tuple[str, ...] = plans.CURRENCIES


@dataclass(frozen=True)
class ShowPlan(Command[PlanView]):
    """The plan's versions, goals, services and totals (a write: each text read is audited)."""

    ref: str
    name = "plan show"

    def execute(self, ctx: Context) -> PlanView:
        session, who = ctx.session, ctx.staff
        case = plans.get_case(session, case_ref=self.ref, actor=who)
        found = [_version(ctx, case, who, p) for p in reversed(plans.versions(session, case))]
        current = plans.approved(session, case)
        today = local_date(ctx.now)
        return PlanView(
            case.case_ref,
            case.phase,
            found,
            review_due=bool(current and current.review_due_on and current.review_due_on <= today),
            can_edit=permits(session, who, Action.ENTER_PERSON, case)
            and case.status not in ENDED
            and case.state in plans.PLAN_STAGES,
            can_decide=permits(session, who, Action.DECIDE_CLOSURE, case),
        )


def _version(ctx: Context, case: Case, who: StaffMember, plan: ReintegrationPlan) -> VersionView:
    session, now = ctx.session, ctx.now
    orgs = orgs_by_id(session)

    def text(
        table: str, column: str, row: Any, stored: str | None, parties: tuple[int, ...] = ()
    ) -> str | None:
        return plans.reveal(
            session,
            case=case,
            table=table,
            column=column,
            row_id=row.id,
            stored=stored,
            actor=who,
            now=now,
            parties=parties,
        )

    goals = [_goal(g, text("plan_goal", "text", g, g.text)) for g in plans.goals_of(session, plan)]
    services = plans.services_of(session, plan)
    lines = [
        ServiceLine(
            s.id or 0,
            s.service_type,
            orgs[s.provider_org_id].slug,
            s.status,
            s.planned_start_on,
            s.planned_end_on,
            s.actual_start_on,
            s.actual_end_on,
            plans.money(s.budget_minor, s.currency),
            plans.money(s.cost_minor, s.currency),
            s.currency,
            s.item_id,
            text("plan_service", "note", s, s.note, (s.provider_org_id,)),
        )
        for s in services
    ]
    totals = [
        Total(cur, plans.money(budget, cur), plans.money(spent, cur))
        for cur, (budget, spent) in plans.totals(services).items()
    ]
    assert plan.id is not None  # noqa: S101
    return VersionView(
        plan.id,
        plan.version,
        plan.status,
        text("reintegration_plan", "summary", plan, plan.summary),
        plan.created_at,
        plan.submitted_at,
        plan.decided_at,
        text("reintegration_plan", "decision_note", plan, plan.decision_note),
        plan.review_due_on,
        goals,
        lines,
        totals,
    )


def _goal(goal: PlanGoal, text: str | None) -> GoalLine:
    return GoalLine(goal.id or 0, goal.dimension, goal.status, text)

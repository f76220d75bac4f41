"""The workspace's page for a case's reintegration plan and its services (issue 16):
``/cases/{ref}/plan`` shows the versions (latest first), goals, services and budget totals per
currency, with the forms this reader may use; every action is a CSRF-checked POST carrying a
request key, run through ``homeward.commands.plan``; a refusal is shown in place."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from homeward.base.errors import InvalidInput, NotFound
from homeward.commands import plan as cmd
from homeward.commands.runner import Command
from homeward.edges.web import casework, deps
from homeward.edges.web.cases import new_key
from homeward.edges.web.deps import Form, Problem, Viewer
from homeward.edges.web.i18n import N_
from tasks.plans import to_minor

router = APIRouter()
casework.part("plan", N_("Reintegration plan"))

MAX_TEXT = 4_000

DIMENSIONS = {
    "economic": N_("Economic goal"),
    "social": N_("Social goal"),
    "psychosocial": N_("Psychosocial goal"),
}
SERVICE_TYPES = {
    "medical": N_("medical care"),
    "psychological": N_("psychological counselling"),
    "legal": N_("legal assistance"),
    "housing": N_("housing"),
    "child_care": N_("child care"),
    "education": N_("education"),
    "vocational_training": N_("vocational training"),
    "job_placement": N_("job placement"),
    "income_generation": N_("income-generating activity"),
    "family_mediation": N_("family mediation"),
    "other": N_("other assistance"),
}
PLAN_STATUSES = {
    "draft": N_("Plan draft"),
    "submitted": N_("Plan waiting for approval"),
    "approved": N_("Plan approved"),
    "rejected": N_("Plan rejected"),
    "superseded": N_("Plan superseded"),
}
SERVICE_STATUSES = {
    "planned": N_("Service planned"),
    "approved": N_("Service approved"),
    "in_progress": N_("Service in progress"),
    "delivered": N_("Service delivered"),
    "cancelled": N_("Service cancelled"),
}


def _text(form: Form, name: str) -> str:
    text = form.get(name, "").strip()
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"{name}: at most {MAX_TEXT} characters; shorten it")
    return text


def _day(form: Form, name: str, *, required: bool = False) -> date | None:
    given = form.get(name, "").strip()
    if not given and not required:
        return None
    try:
        return date.fromisoformat(given)
    except ValueError:
        raise InvalidInput(f"{name}: choose a date (YYYY-MM-DD)") from None


def _minor(form: Form, name: str) -> int | None:
    given = form.get(name, "").strip()
    return to_minor(given, name) if given else None


def _word(v: Viewer, words: dict[str, str], code: str) -> str:
    return v._(words[code]) if code in words else code


def plan_page(
    request: Request, v: Viewer, ref: str, *, problem: Problem | None = None, at: str = ""
) -> Response:
    view: cmd.PlanView = deps.call(v, cmd.ShowPlan(ref))
    return deps.render(
        request,
        v,
        "plan.html",
        status_code=problem.status if problem else 200,
        active="case",
        path=f"/cases/{view.case_ref}/plan",
        page=view,
        ref=view.case_ref,
        dimension=lambda code: _word(v, DIMENSIONS, code),
        service_type=lambda code: _word(v, SERVICE_TYPES, code),
        plan_status=lambda code: _word(v, PLAN_STATUSES, code),
        service_status=lambda code: _word(v, SERVICE_STATUSES, code),
        key=new_key,
        issue=problem,
        issue_at=at,
    )


@router.get("/cases/{ref}/plan")
def show_plan(ref: str, request: Request, v: Viewer = Depends(deps.viewer)) -> Response:
    """The plan page (a case the reader may not see is "not found", as a missing one)."""
    return plan_page(request, v, ref)


def _act(
    request: Request,
    v: Viewer,
    ref: str,
    form: Form,
    at: str,
    make: Callable[[], Command[Any]],
) -> Response:
    return deps.act(
        v,
        make,
        form.get("key") or None,
        refused=lambda problem: plan_page(request, v, ref, problem=problem, at=at),
        then=lambda done: f"/cases/{done.case_ref}/plan#{at}",
    )


@router.post("/cases/{ref}/plan/draft")
def plan_draft(
    ref: str,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    return _act(
        request,
        v,
        ref,
        form,
        "draft",
        lambda: cmd.DraftPlan(ref, _text(form, "summary") or None),
    )


@router.post("/cases/{ref}/plan/goal")
def plan_goal(
    ref: str,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    return _act(
        request,
        v,
        ref,
        form,
        "goal",
        lambda: cmd.AddGoal(ref, form.get("dimension", ""), _text(form, "text")),
    )


@router.post("/cases/{ref}/plan/service")
def plan_service(
    ref: str,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    def make() -> Command[Any]:
        start = _day(form, "start", required=True)
        assert start is not None  # noqa: S101 (required)
        return cmd.AddService(
            ref,
            form.get("service_type", ""),
            form.get("provider", "").strip(),
            start,
            _day(form, "end"),
            _minor(form, "budget"),
            form.get("currency", "EUR"),
            _text(form, "note") or None,
        )

    return _act(request, v, ref, form, "service", make)


@router.post("/cases/{ref}/plan/submit")
def plan_submit(
    ref: str,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    return _act(request, v, ref, form, "draft", lambda: cmd.SubmitPlan(ref))


@router.post("/cases/{ref}/plan/approve")
def plan_approve(
    ref: str,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    return _act(request, v, ref, form, "decision", lambda: cmd.ApprovePlan(ref))


@router.post("/cases/{ref}/plan/reject")
def plan_reject(
    ref: str,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    return _act(
        request, v, ref, form, "decision", lambda: cmd.RejectPlan(ref, _text(form, "reason"))
    )


@router.post("/cases/{ref}/plan/services/{service_id}/{what}")
def plan_service_record(
    ref: str,
    service_id: int,
    what: str,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    def make() -> Command[Any]:
        if what == "started":
            return cmd.ServiceStarted(service_id, _day(form, "on"))
        if what == "delivered":
            return cmd.ServiceDelivered(service_id, _day(form, "on"), _minor(form, "cost"))
        if what == "cancelled":
            return cmd.ServiceCancelled(service_id, _text(form, "reason"))
        raise NotFound(f"service #{service_id} not found; see `homeward plan show REF`")

    return _act(request, v, ref, form, f"service-{service_id}", make)

"""The workspace's assessments page (issue 16, points 7 and 8): ``/cases/{ref}/assessments``.

A case's assessments with their levels, needs and reviews; the effective risk and, when a high
risk waits for a supervisor's review, that review and the suggestion to suspend; the forms of
the risk, needs and family assessments (fieldsets of radios); a supervisor's review form; the
destination county; the services proposed for the needs found, with the providers covering the
county. Every action is a command (``homeward.commands.assessments`` and ``.providers``); the
answers are never put in a URL.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from homeward.base.countries import COUNTIES
from homeward.base.errors import HomewardError
from homeward.commands.assessments import (
    AssessmentsView,
    ListAssessments,
    Proposals,
    ProposeServices,
    Questions,
    RecordAssessment,
    ReviewAssessment,
)
from homeward.commands.providers import SetDestinationCounty
from homeward.edges.web import deps
from homeward.edges.web.cases import new_key
from homeward.edges.web.casework import part
from homeward.edges.web.deps import Form, Problem, Viewer
from homeward.edges.web.i18n import N_
from notifications.i18n import stage_label
from tasks import assessments

router = APIRouter()
part("assessments", N_("Assessments"))

KINDS = {"risk": N_("Risk"), "needs": N_("Needs and skills"), "family": N_("Family")}
# The questions' labels and answers (``tasks.assessments.QUESTIONS``), for the catalogs.
MESSAGES = (
    N_("The trafficker knows where the person will live"),
    N_("The trafficker contacts the family"),
    N_("An active trafficking network in the destination"),
    N_("The family took part in the trafficking"),
    N_("Threats received (person or family)"),
    N_("Debt (to the trafficker or others)"),
    N_("No income on return"),
    N_("Trafficked before"),
    N_("Substance use"),
    N_("Health"),
    N_("Notes (encrypted)"),
    N_("Needs medical"),
    N_("Needs psychological"),
    N_("Needs legal"),
    N_("Needs housing"),
    N_("Needs child care"),
    N_("Needs education"),
    N_("Needs vocational training"),
    N_("Needs job placement"),
    N_("Needs income generation"),
    N_("Needs family mediation"),
    N_("Education"),
    N_("Skills and work experience (encrypted)"),
    N_("The family supports the person"),
    N_("Safe to return home"),
    N_("yes"),
    N_("no"),
    N_("unknown"),
    N_("none"),
    N_("condition"),
    N_("pregnant"),
    N_("partly"),
    N_("primary"),
    N_("secondary"),
    N_("higher"),
    N_("low"),
    N_("medium"),
    N_("high"),
    N_("agreed"),
    N_("changed"),
    N_("medical"),
    N_("psychological"),
    N_("legal"),
    N_("housing"),
    N_("child_care"),
    N_("education"),
    N_("vocational_training"),
    N_("job_placement"),
    N_("income_generation"),
    N_("family_mediation"),
)


def _page(
    request: Request,
    v: Viewer,
    ref: str,
    *,
    problem: Problem | None = None,
    at: str = "",
    given: Form | None = None,
) -> Response:
    view: AssessmentsView = deps.call(v, ListAssessments(ref))
    proposals: Proposals | None = None
    if view.county:
        try:
            proposals = deps.call(v, ProposeServices(ref))
        except Problem:
            proposals = None
    forms = {kind: deps.call(v, Questions(kind)) for kind in KINDS} if view.may_record else {}
    return deps.render(
        request,
        v,
        "assessments.html",
        status_code=problem.status if problem else 200,
        active="case",
        path=f"/cases/{view.case_ref}/assessments",
        view=view,
        ref=view.case_ref,
        stage=lambda s: stage_label(s, v.language) if s else "",
        kinds=KINDS,
        forms=forms,
        proposals=proposals,
        counties=sorted(COUNTIES),
        key=new_key,
        issue=problem,
        issue_at=at,
        given=given or {},
    )


@router.get("/cases/{ref}/assessments")
def show_assessments(ref: str, request: Request, v: Viewer = Depends(deps.viewer)) -> Response:
    """The assessments page (a case the reader may not see is "not found", as a missing one)."""
    return _page(request, v, ref)


def _answers(kind: str, form: Form) -> dict[str, str]:
    prefix = f"{kind}."
    return {
        k.removeprefix(prefix): value
        for k, value in form.items()
        if k.startswith(prefix) and value.strip()
    }


def _kept(kind: str, form: Form) -> Form:
    """What the form keeps after a refusal: the chosen answers, never a free-text one."""
    try:
        free = {f"{kind}.{q.key}" for q in assessments.questions(kind) if q.free}
    except HomewardError:
        return {}
    return {k: value for k, value in form.items() if k not in free}


@router.post("/cases/{ref}/assessments/{kind}")
def record(
    ref: str,
    kind: str,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    """Record a risk, needs or family assessment from its form."""
    try:
        deps.call(v, RecordAssessment(ref, kind, _answers(kind, form)), key=form.get("key") or None)
    except Problem as problem:
        return _page(request, v, ref, problem=problem, at=f"form-{kind}", given=_kept(kind, form))
    return deps.see_other(f"/cases/{ref}/assessments#assessments")


@router.post("/cases/{ref}/assessments/review/{assessment_id}")
def review(
    ref: str,
    assessment_id: int,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    """A supervisor's review: agree, or set another level."""
    level = form.get("level") or None
    command = ReviewAssessment(assessment_id, None if level == "agree" else level)
    try:
        deps.call(v, command, key=form.get("key") or None)
    except Problem as problem:
        return _page(request, v, ref, problem=problem, at=f"review-{assessment_id}")
    return deps.see_other(f"/cases/{ref}/assessments#assessments")


@router.post("/cases/{ref}/county")
def set_county(
    ref: str,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    """Set the destination county (empty: clear it)."""
    command = SetDestinationCounty(ref, form.get("county") or None)
    try:
        deps.call(v, command, key=form.get("key") or None)
    except Problem as problem:
        return _page(request, v, ref, problem=problem, at="county")
    return deps.see_other(f"/cases/{ref}/assessments#proposals")

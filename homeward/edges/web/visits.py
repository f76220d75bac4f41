"""The workspace's page for follow-up visits: ``/cases/{ref}/visits`` lists a case's visits with
their scores (for those who may read them) and offers the monitoring form, its questions as
radio groups; a visit's texts and answers are shown on request, audited, on that response only.

The form only parses: the dates, codes, permission and the follow-up item are the engine's
(``homeward.commands.visits``). What was typed is never repeated on a refusal (codes and the
day are kept in the form, free text is not).
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from homeward.base.clock import local_date
from homeward.commands.visits import ListVisits, RecordVisit, ShowVisit, VisitShown
from homeward.edges.web import casework, deps
from homeward.edges.web.cases import new_key
from homeward.edges.web.deps import Form, Problem, Viewer
from homeward.edges.web.i18n import N_
from tasks.sustainability import DIMENSIONS, QUESTIONS

router = APIRouter()
casework.part("visits", N_("Follow-up visits"))

DIMENSION_LABELS = {
    "economic": N_("Economic"),
    "social": N_("Social"),
    "psychosocial": N_("Psychosocial"),
}
MODE_LABELS = {"home": N_("Home visit"), "office": N_("At the office"), "phone": N_("By phone")}
PROGRESS_LABELS = {
    "on_track": N_("On track"),
    "partly": N_("Partly on track"),
    "off_track": N_("Off track"),
    "no_plan": N_("No plan yet"),
}
# The monitoring form's questions and answers (tasks.sustainability), marked for the catalog;
# tests/casework/test_visits_web.py checks that every one is here.
FORM_WORDS = (
    N_("Satisfaction with the current economic situation"),
    N_("Very satisfied"),
    N_("Satisfied"),
    N_("Neither satisfied nor dissatisfied"),
    N_("Dissatisfied"),
    N_("Very dissatisfied"),
    N_("Had to reduce the quantity or quality of food for lack of money"),
    N_("Never"),
    N_("Sometimes"),
    N_("Often"),
    N_("Work or a regular income"),
    N_("Regular work or income"),
    N_("Occasional work, or in training"),
    N_("No work and no income"),
    N_("Debts"),
    N_("No debts"),
    N_("Debts that can be repaid"),
    N_("Debts that cannot be repaid"),
    N_("Could borrow money or find work if needed"),
    N_("Easily"),
    N_("With difficulty"),
    N_("Not at all"),
    N_("Housing (including safe drinking water)"),
    N_("Adequate and secure"),
    N_("Basic or temporary"),
    N_("Inadequate or none"),
    N_("Access to education or training (for the person or their children)"),
    N_("Good access"),
    N_("Limited access"),
    N_("No access"),
    N_("Access to health care"),
    N_("Has identity and civil documents"),
    N_("All of them"),
    N_("Some"),
    N_("None"),
    N_("Access to justice and legal aid"),
    N_("Signs of distress (sadness, fear, sleeplessness)"),
    N_("Feels physically safe where they live"),
    N_("Always"),
    N_("Mostly"),
    N_("Rarely or never"),
    N_("Feels discriminated against or stigmatised"),
    N_("Wishes to migrate again"),
    N_("No"),
    N_("Undecided"),
    N_("Yes, even irregularly"),
    N_("Has people to turn to and takes part in community life"),
    N_("Yes, several"),
    N_("A few"),
    N_("No one"),
    N_("No answer"),
    N_("who attended"),  # the texts of a visit, as ``tasks.visits.TEXTS`` names them
    N_("safety note"),
    N_("progress note"),
)
# Engine messages met on this page, with their values as ``{0}`` (deps.translate_error).
VISIT_MESSAGES = (
    N_("on: the visit's day is in the future; record it once it happened"),
    N_("on: the visit's day is before the case's start ({0}-{1}-{2})"),
    N_("case {0} has no arrival yet; follow-up visits start after it"),
    N_("safety_note: a safety note needs --safety-concern"),
    N_("on: give the visit's day"),
    N_("mode: choose how the visit took place"),
)


def _day(v: Viewer, form: Form) -> date:
    try:
        return date.fromisoformat(form.get("on", "").strip())
    except ValueError:
        raise Problem.make("invalid", N_("on: give the visit's day"), v.language, "on") from None


def _command(v: Viewer, ref: str, form: Form) -> RecordVisit:
    mode = form.get("mode", "")
    if not mode:
        choose = N_("mode: choose how the visit took place")
        raise Problem.make("invalid", choose, v.language, "mode")
    answers = tuple(
        (q.key, form[f"q_{q.key}"]) for q in QUESTIONS if form.get(f"q_{q.key}", "").strip()
    )
    item = form.get("item", "")
    version = form.get("version", "")
    return RecordVisit(
        ref,
        _day(v, form),
        mode,
        attended=form.get("attended", "").strip() or None,
        safety_concern=form.get("safety_concern") == "on",
        safety_note=form.get("safety_note", "").strip() or None,
        progress=form.get("progress") or None,
        progress_note=form.get("progress_note", "").strip() or None,
        answers=answers,
        item_id=int(item) if item.isdigit() else None,
        expected_version=int(version) if version.isdigit() else None,
    )


def _kept(form: Form) -> dict[str, str]:
    """What the form keeps after a refusal: codes and the day, never the free text."""
    texts = ("attended", "safety_note", "progress_note")
    return {k: value for k, value in form.items() if k not in texts}


def visits_page(
    request: Request,
    v: Viewer,
    ref: str,
    *,
    problem: Problem | None = None,
    given: Form | None = None,
    shown: VisitShown | None = None,
    recorded: int | None = None,
) -> Response:
    """The visits of case ``ref`` and the form (a hidden case: "not found", as a missing one)."""
    view = deps.call(v, ListVisits(ref))
    return deps.render(
        request,
        v,
        "visits.html",
        status_code=problem.status if problem else 200,
        active="case",
        path=f"/cases/{view.case_ref}/visits",
        view=view,
        ref=view.case_ref,
        questions=QUESTIONS,
        dimensions=DIMENSIONS,
        dimension_labels=DIMENSION_LABELS,
        modes=MODE_LABELS,
        progress=PROGRESS_LABELS,
        today=local_date(v.clock.now()).isoformat(),
        key=new_key,
        issue=problem,
        given=given or {},
        shown=shown,
        recorded=recorded,
    )


@router.get("/cases/{ref}/visits")
def show_visits(
    ref: str, request: Request, recorded: int | None = None, v: Viewer = Depends(deps.viewer)
) -> Response:
    return visits_page(request, v, ref, recorded=recorded)


@router.post("/cases/{ref}/visits")
def record_visit(
    ref: str,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    """Record a visit from the form; a refusal is shown above the form, the codes kept."""
    try:
        done = deps.call(v, _command(v, ref, form), key=form.get("key") or None)
    except Problem as problem:
        return visits_page(request, v, ref, problem=problem, given=_kept(form))
    return deps.see_other(f"/cases/{done.case_ref}/visits?recorded={done.visit_id}")


@router.post("/cases/{ref}/visits/{visit_id}/show", dependencies=[Depends(deps.checked_form)])
def reveal_visit(
    ref: str, visit_id: int, request: Request, v: Viewer = Depends(deps.viewer)
) -> Response:
    """A visit's texts and answers, on this response only (each read audited by the vault)."""
    try:
        shown = deps.call(v, ShowVisit(visit_id))
    except Problem as problem:
        return visits_page(request, v, ref, problem=problem)
    if shown.case_ref != ref.strip().upper():  # another case's visit: not shown under this one
        return deps.see_other(f"/cases/{shown.case_ref}/visits")
    return visits_page(request, v, ref, shown=shown)

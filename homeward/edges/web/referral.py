"""The workspace's NRM referral page of a case: ``/cases/{ref}/referral`` shows the referral
(ANITP record number, date, referring body) and records or corrects it.

The page parses the form and runs ``RecordReferral`` / ``ShowReferral``; the engine
(``tasks.referrals``) keeps every rule. The record number is shown only after "Show the record
number" (a POST: the read is audited), and never put in a URL.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from homeward.commands.referral import RecordReferral, ReferralShown, ShowReferral
from homeward.edges.web import deps
from homeward.edges.web.cases import new_key
from homeward.edges.web.casework import part
from homeward.edges.web.deps import Form, Problem, Viewer
from homeward.edges.web.i18n import N_
from tasks.referrals import ReferringBody

router = APIRouter()
part("referral", N_("NRM referral"))

BODIES: dict[str, str] = {
    ReferringBody.POLICE: N_("Police"),
    ReferringBody.PROSECUTOR: N_("Prosecutor's office"),
    ReferringBody.NGO: N_("Non-governmental organisation"),
    ReferringBody.IOM: N_("IOM"),
    ReferringBody.DGASPC: N_("Child protection (DGASPC)"),
    ReferringBody.LABOUR_INSPECTORATE: N_("Labour inspectorate"),
    ReferringBody.CONSULATE: N_("Consulate"),
    ReferringBody.SELF: N_("The person themselves"),
    ReferringBody.OTHER: N_("Other"),
}
# The internal route's own trigger, as the case page names it (statemachines.step_fields).
START_ASSISTANCE = N_("Start assistance (identified in Romania: no travel)")
DATE_NEEDED = N_("referred_on: give the day the person was referred, as YYYY-MM-DD")


def _page(
    request: Request,
    v: Viewer,
    ref: str,
    *,
    shown: ReferralShown | None = None,
    problem: Problem | None = None,
    given: dict[str, str] | None = None,
) -> Response:
    view = shown or deps.call(v, ShowReferral(ref, reveal=False))
    return deps.render(
        request,
        v,
        "referral.html",
        status_code=problem.status if problem else 200,
        active="case",
        path=f"/cases/{view.case_ref}/referral",
        view=view,
        ref=view.case_ref,
        bodies=[(code, v._(text)) for code, text in BODIES.items()],
        body_label=lambda code: v._(BODIES.get(code or "", code or "")),
        key=new_key(),
        issue=problem,
        given=given or {},
    )


@router.get("/cases/{ref}/referral")
def show_referral(ref: str, request: Request, v: Viewer = Depends(deps.viewer)) -> Response:
    """The referral as recorded (without the record number) and the form to record it."""
    return _page(request, v, ref)


@router.post("/cases/{ref}/referral/show", dependencies=[Depends(deps.checked_form)])
def reveal_referral(ref: str, request: Request, v: Viewer = Depends(deps.viewer)) -> Response:
    """The same page with the record number, for the owner's staff (the read is audited)."""
    return _page(request, v, ref, shown=deps.call(v, ShowReferral(ref)))


def _day(v: Viewer, form: Form) -> date:
    try:
        return date.fromisoformat(form.get("referred_on", "").strip())
    except ValueError:
        raise Problem.make("invalid", DATE_NEEDED, v.language, "referred_on") from None


@router.post("/cases/{ref}/referral")
def record_referral(
    ref: str,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    """Record (or correct) the referral, then show the page again."""
    given: dict[str, Any] = {
        k: form.get(k, "") for k in ("referred_on", "referring_body")
    }  # the record number is not echoed back
    try:
        command = RecordReferral(
            ref,
            form.get("record_no", ""),
            _day(v, form),
            form.get("referring_body", ""),
            None,
        )
        deps.call(v, command, key=form.get("key") or None)
    except Problem as problem:
        return _page(request, v, ref, problem=problem, given=given)
    return deps.see_other(f"/cases/{ref}/referral")

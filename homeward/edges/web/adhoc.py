"""The appointments page of a case (``/cases/REF/appointments``): its ad-hoc items (court
hearings, medical appointments, flights...) with their own titles for those who may read them
(each read audited), a form to add one, and forms to reschedule or cancel each.

Nothing typed goes into a URL (the forms POST); the rules and who may are the engine's
(``tasks.adhoc``), through the commands layer (``homeward.commands.adhoc``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from homeward.commands.adhoc import AddAdhocItem, CancelItem, ListAdhoc, RescheduleItem
from homeward.commands.runner import Command
from homeward.edges.web import casework, deps
from homeward.edges.web.cases import TOO_LONG, new_key
from homeward.edges.web.deps import Form, Problem, Viewer
from homeward.edges.web.i18n import N_
from notifications.i18n import item_title
from tasks.catalog import ADHOC_KINDS

router = APIRouter()
casework.part("appointments", N_("Appointments and other tasks"))

ZONES = {
    "home": N_("Bucharest time"),
    "host": N_("Time in the host country"),
}
MAX_TEXT = 2_000
BAD_DAY = N_("due: give the day as YYYY-MM-DD")


def appointments_page(
    request: Request,
    v: Viewer,
    ref: str,
    *,
    problem: Problem | None = None,
    at: str = "",
    status_code: int = 200,
) -> Response:
    """The page, with ``problem`` shown at ``at`` (``add`` or ``item-N``)."""
    page = deps.call(v, ListAdhoc(ref, v.language))
    return deps.render(
        request,
        v,
        "adhoc.html",
        status_code=problem.status if problem else status_code,
        active="case",
        path=f"/cases/{page.case_ref}/appointments",
        page=page,
        ref=page.case_ref,
        kinds={kind: item_title(f"adhoc_{kind}", v.language) for kind in ADHOC_KINDS},
        zones=ZONES,
        key=new_key,
        issue=problem,
        issue_at=at,
    )


@router.get("/cases/{ref}/appointments")
def show_appointments(ref: str, request: Request, v: Viewer = Depends(deps.viewer)) -> Response:
    """The page (a case the reader may not see is "not found", as a missing one)."""
    return appointments_page(request, v, ref)


def _day(v: Viewer, form: Form) -> date:
    try:
        return date.fromisoformat(form.get("due", "").strip())
    except ValueError:
        raise Problem.make("invalid", BAD_DAY, v.language, field="due") from None


def _reason(v: Viewer, form: Form) -> str:
    text = form.get("reason", "").strip()
    if len(text) > MAX_TEXT:
        raise Problem.make("invalid", TOO_LONG["reason"], v.language, field="reason")
    return text


def _act(request: Request, v: Viewer, ref: str, at: str, form: Form, make: Any) -> Response:
    """Build and run a command; back to the page at the item, or the page with the problem."""
    return deps.act(
        v,
        make,
        form.get("key") or None,
        refused=lambda problem: appointments_page(request, v, ref, problem=problem, at=at),
        then=lambda done: f"/cases/{done.case_ref}/appointments#item-{done.item_id}",
    )


@router.post("/cases/{ref}/appointments")
def add_appointment(
    ref: str,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    """Add an item outside the catalog."""

    def make() -> Command[Any]:
        return AddAdhocItem(
            ref,
            form.get("kind", ""),
            form.get("owner", ""),
            _day(v, form),
            at=form.get("at") or None,
            zone=form.get("zone") or "home",
            title=form.get("title", "").strip()[:MAX_TEXT] or None,
            assignee=form.get("assignee", "").strip() or None,
        )

    return _act(request, v, ref, "add", form, make)


@router.post("/cases/{ref}/appointments/{item_id}/reschedule")
def reschedule_appointment(
    ref: str,
    item_id: int,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    """Move an item to another day (and time), with a reason."""

    def make() -> Command[Any]:
        return RescheduleItem(
            item_id,
            _day(v, form),
            _reason(v, form),
            at=form.get("at") or None,
            zone=form.get("zone") or "home",
        )

    return _act(request, v, ref, f"item-{item_id}", form, make)


@router.post("/cases/{ref}/appointments/{item_id}/cancel")
def cancel_appointment(
    ref: str,
    item_id: int,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    """Cancel an item, with a reason."""
    return _act(
        request,
        v,
        ref,
        f"item-{item_id}",
        form,
        lambda: CancelItem(item_id, _reason(v, form)),
    )

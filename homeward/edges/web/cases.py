"""The case page: stage and timeline, checklist items with the actions this person may take,
the next steps with a form for exactly the data each needs, the closure, consents, and the
person's details behind an explicit, audited "show personal details".

Every action is a POST carrying the CSRF token and a request key made when the form was
rendered (``key``): a second submit of the same form runs nothing again (the commands layer
keeps the first result). A refusal is shown in place, at the item or form it concerns, in the
reader's language, on the case page as it is now. What may be done, and what the procedure
allows, is the engine's answer (``homeward.commands.case_page``); nothing is decided here.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from homeward.commands.case_page import CasePage, CasePageView, FindItem
from homeward.commands.case_views import CaseDetails, ShowCasePersonal
from homeward.commands.cases import AdvanceCase, EnterPerson
from homeward.commands.closures import ApproveClosure, RejectClosure, RequestClosure
from homeward.commands.handoffs import AcceptHandoff, ProposeHandoff, RejectHandoff
from homeward.commands.items import DoneItem, SkipItem
from homeward.commands.runner import Command
from homeward.edges.web import deps
from homeward.edges.web.deps import Form, Problem, Viewer
from homeward.edges.web.i18n import N_
from homeward.edges.web.labels import code_label, event_label, help_text, label, who, word
from homeward.protection.vault import PersonIn
from homeward.records.directory import first_error
from notifications.i18n import item_title, stage_label
from statemachines.step_fields import step_data
from statemachines.steps import ClosureReason, ClosureRejection

router = APIRouter()

MAX_TEXT = 2_000  # a note or a reason, as the CLI caps it


def new_key() -> str:
    """A request key for one rendered form (``homeward.records.idempotency``'s shape)."""
    return f"web:{secrets.token_urlsafe(18)}"


def _key(form: Form) -> str | None:
    """The form's request key (None if it carries none: the action then simply runs)."""
    return form.get("key") or None


TOO_LONG = {
    "note": N_("note: at most 2000 characters; shorten it"),
    "reason": N_("reason: at most 2000 characters; shorten it"),
}


def _text(v: Viewer, form: Form, name: str) -> str:
    """A free-text field, stripped; refused past ``MAX_TEXT`` without repeating it."""
    text = form.get(name, "").strip()
    if len(text) > MAX_TEXT:
        raise Problem.make("invalid", TOO_LONG[name], v.language, field=name)
    return text


def case_page(
    request: Request,
    v: Viewer,
    ref: str,
    *,
    problem: Problem | None = None,
    at: str = "",
    given: Form | None = None,
    details: CaseDetails | None = None,
    status_code: int = 200,
    duplicates: str = "",
) -> Response:
    """The case page; with ``problem`` shown at ``at`` (``item-3``, ``step-depart``,
    ``closure``, ``person``), the codes and dates the reader had ``given`` kept in that form,
    and, after "show personal details", ``details``."""
    page: CasePageView = deps.call(v, CasePage(ref))
    language = v.language
    version = page.facts.process

    def title(code: str) -> str:
        return item_title(code, language, process_version=version)

    return deps.render(
        request,
        v,
        "case.html",
        status_code=problem.status if problem else status_code,
        active="case",
        path=f"/cases/{page.facts.case_ref}",  # the language switch comes back here, not to a POST
        page=page,
        facts=page.facts,
        ref=page.facts.case_ref,
        stage=lambda s: stage_label(s, language) if s else "",
        title=title,
        label=lambda text: label(v, text),
        help_text=lambda text: help_text(v, text),
        event_label=lambda trigger: event_label(v, trigger),
        code=lambda c: code_label(v, c),
        about=lambda member: who(v, member),
        word=lambda w: word(v, w),
        key=new_key,
        issue=problem,
        issue_at=at,
        given=given or {},
        details=details,
        duplicates=duplicates,
    )


@router.get("/cases/{ref}")
def show_case(ref: str, request: Request, v: Viewer = Depends(deps.viewer)) -> Response:
    """The case page (a case the reader may not see is "not found", as a missing one)."""
    return case_page(request, v, ref)


@router.get("/items/{item_id}")
def show_item(item_id: int, v: Viewer = Depends(deps.viewer)) -> Response:
    """An item's deep link (emails): its place on its case's page."""
    place = deps.call(v, FindItem(item_id))
    return deps.see_other(f"/cases/{place.case_ref}#item-{item_id}")


def _item_action(
    request: Request,
    v: Viewer,
    item_id: int,
    form: Form,
    make: Callable[[], Command[Any]],
) -> Response:
    """Run an item's action; on a refusal, the case page with it shown at the item."""
    try:
        changed = deps.call(v, make(), key=_key(form))
    except Problem as problem:
        place = deps.call(v, FindItem(item_id))  # a hidden item: the same "not found"
        return case_page(request, v, place.case_ref, problem=problem, at=f"item-{item_id}")
    return deps.see_other(f"/cases/{changed.case_ref}#item-{item_id}")


@router.post("/items/{item_id}/done")
def item_done(
    item_id: int,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    def make() -> Command[Any]:
        note = _text(v, form, "note") or None
        return DoneItem(item_id, outcome=form.get("outcome") or None, note=note)

    return _item_action(request, v, item_id, form, make)


@router.post("/items/{item_id}/skip")
def item_skip(
    item_id: int,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    return _item_action(
        request, v, item_id, form, lambda: SkipItem(item_id, reason=_text(v, form, "reason"))
    )


@router.post("/items/{item_id}/handoff")
def item_handoff(
    item_id: int,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    def make() -> Command[Any]:
        to = form.get("to", "").strip()
        if not to:
            raise Problem.make("invalid", CHOOSE["to"], v.language, "to")
        return ProposeHandoff(item_id, to=to, reason=_text(v, form, "reason") or None)

    return _item_action(request, v, item_id, form, make)


@router.post("/items/{item_id}/accept")
def item_accept(
    item_id: int,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    return _item_action(request, v, item_id, form, lambda: AcceptHandoff(item_id))


@router.post("/items/{item_id}/reject")
def item_reject(
    item_id: int,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    return _item_action(
        request, v, item_id, form, lambda: RejectHandoff(item_id, reason=_text(v, form, "reason"))
    )


def _version(form: Form) -> int | None:
    given = form.get("version", "")
    return int(given) if given.isdigit() else None


@router.post("/cases/{ref}/advance")
def advance(
    ref: str,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    """Fire the trigger the form names with its typed fields (the engine validates them)."""
    trigger = form.get("trigger", "")
    data = step_data(trigger, form)
    command = AdvanceCase(ref, trigger, data, expected_version=_version(form))
    try:
        moved = deps.call(v, command, key=_key(form))
    except Problem as problem:
        kept = {k: str(value) for k, value in data.items()}
        return case_page(request, v, ref, problem=problem, at=f"step-{trigger}", given=kept)
    return deps.see_other(f"/cases/{moved.case_ref}")


def _closure(
    request: Request, v: Viewer, ref: str, form: Form, command: Callable[[], Command[Any]]
) -> Response:
    try:
        done = deps.call(v, command(), key=_key(form))
    except Problem as problem:
        return case_page(request, v, ref, problem=problem, at="closure")
    return deps.see_other(f"/cases/{done.case_ref}#closure")


def _request_id(form: Form) -> int | None:
    given = form.get("request", "")
    return int(given) if given.isdigit() else None


CHOOSE = {
    "to": N_("to: choose the organisation to hand the item to"),
    "reason": N_("reason: choose why the case should close"),
    "rejection": N_("rejection: choose why the closure is not approved"),
}


def _code(v: Viewer, form: Form, name: str, codes: dict[str, Any]) -> Any:
    """The code chosen in ``name``, one of ``codes``; refused in place otherwise."""
    code = form.get(name, "").strip()
    if code not in codes:
        raise Problem.make("invalid", CHOOSE[name], v.language, field=name)
    return codes[code]


@router.post("/cases/{ref}/closure/request")
def closure_request(
    ref: str,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    def make() -> Command[Any]:
        return RequestClosure(ref, reason=_code(v, form, "reason", _reasons()))

    return _closure(request, v, ref, form, make)


@router.post("/cases/{ref}/closure/approve")
def closure_approve(
    ref: str,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    return _closure(request, v, ref, form, lambda: ApproveClosure(ref, request=_request_id(form)))


@router.post("/cases/{ref}/closure/reject")
def closure_reject(
    ref: str,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    def make() -> Command[Any]:
        rejection = _code(v, form, "rejection", _rejections())
        return RejectClosure(ref, rejection=rejection, request=_request_id(form))

    return _closure(request, v, ref, form, make)


def _reasons() -> dict[str, Any]:
    return {str(r): r for r in ClosureReason}


def _rejections() -> dict[str, Any]:
    return {str(r): r for r in ClosureRejection}


@router.post("/cases/{ref}/personal", dependencies=[Depends(deps.checked_form)])
def show_personal(ref: str, request: Request, v: Viewer = Depends(deps.viewer)) -> Response:
    """The person's details and the free texts the reader may see, on this response only
    (each read is audited by the vault; nothing is kept for the next page)."""
    try:
        details = deps.call(v, ShowCasePersonal(ref))
    except Problem as problem:  # a case the reader may not see stays "not found" (case_page)
        return case_page(request, v, ref, problem=problem, at="person")
    return case_page(request, v, ref, details=details)


@router.post("/cases/{ref}/person")
def enter_person(
    ref: str,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    """Enter or correct the person's details (stored encrypted; what was typed is never
    repeated on the page, in a message or in the request key)."""
    fields = {k: form[k].strip() for k in PersonIn.model_fields if form.get(k, "").strip()}
    try:
        try:
            person = PersonIn.model_validate(fields)
        except ValidationError as exc:
            raise Problem.of(first_error(exc), v.language) from None
        if any(len(value) > MAX_TEXT * 3 for value in fields.values()):
            raise Problem.make("invalid", N_("notes: too long; shorten it"), v.language, "notes")
        stored = deps.call(v, EnterPerson(ref, person), key=_key(form))
    except Problem as problem:
        return case_page(request, v, ref, problem=problem, at="person")
    if stored.duplicates:  # stay on the page to say so (case_refs only)
        return case_page(request, v, ref, duplicates=stored.duplicates)
    return deps.see_other(f"/cases/{ref}#person")

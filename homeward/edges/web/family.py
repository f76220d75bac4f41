"""The workspace's pages for the people of a family case and finding a case by name (issue 16).

``/cases/{ref}/family``: the family members (relation, number, minor or not), their names only
behind an explicit, audited "show names" (a POST, as the case page's personal details), and a
form to add one; ``/find``: a name search sent by POST only, so a name never appears in an
address, a log line or the browser's history. What was typed is never repeated on a page.
"""

from __future__ import annotations

import secrets
from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from homeward.commands.family import (
    AddPerson,
    CaseMatch,
    FindCaseByName,
    ListPeople,
    PersonAdded,
    PersonLine,
    RemovePerson,
)
from homeward.edges.web import deps
from homeward.edges.web.casework import part
from homeward.edges.web.deps import Form, Problem, Viewer
from homeward.edges.web.i18n import N_
from homeward.edges.web.labels import RELATION_LABELS, who
from homeward.protection.vault import RELATIONS, SEXES, DependantIn
from homeward.records.directory import first_error
from notifications.i18n import stage_label
from tasks.family import REMOVAL_REASONS

router = APIRouter()
part("family", N_("Family members"))

SEX_LABELS = {
    "female": N_("female"),
    "male": N_("male"),
    "other": N_("other"),
    "unknown": N_("unknown"),
}
REASON_LABELS = {
    "not_travelling": N_("not travelling with the person"),
    "entered_in_error": N_("entered in error"),
    "own_case": N_("has a case of their own"),
    "other": N_("another reason"),
}
FIELDS = ("relation", "given_name", "family_name", "birth_date", "sex")


def _key() -> str:
    return f"web:{secrets.token_urlsafe(18)}"


def family_page(
    request: Request,
    v: Viewer,
    ref: str,
    *,
    names: bool = False,
    problem: Problem | None = None,
    at: str = "",
    added: PersonAdded | None = None,
) -> Response:
    people: list[PersonLine] = deps.call(v, ListPeople(ref, names=names))
    return deps.render(
        request,
        v,
        "family.html",
        status_code=problem.status if problem else 200,
        active="case",
        path=f"/cases/{ref}/family",
        ref=ref,
        people=people,
        names=names,
        who=lambda label: who(v, label),
        relations=[(code, v._(RELATION_LABELS[code])) for code in RELATIONS],
        sexes=[(code, v._(SEX_LABELS[code])) for code in SEXES],
        reasons=[(code, v._(REASON_LABELS[code])) for code in REMOVAL_REASONS],
        key=_key,
        issue=problem,
        issue_at=at,
        added=added,
    )


@router.get("/cases/{ref}/family")
def show_family(ref: str, request: Request, v: Viewer = Depends(deps.viewer)) -> Response:
    """The family members, without names (a hidden case is "not found", as a missing one)."""
    return family_page(request, v, ref)


@router.post("/cases/{ref}/family/names", dependencies=[Depends(deps.checked_form)])
def show_names(ref: str, request: Request, v: Viewer = Depends(deps.viewer)) -> Response:
    """The names the reader may see, on this response only (the vault audits the read)."""
    return family_page(request, v, ref, names=True)


def _person(v: Viewer, form: Form) -> DependantIn:
    fields: dict[str, object] = {k: form[k].strip() for k in FIELDS if form.get(k, "").strip()}
    if "birth_date" in fields:
        try:
            fields["birth_date"] = date.fromisoformat(str(fields["birth_date"]))
        except ValueError:
            message = N_("birth_date: give the birth date as YYYY-MM-DD")
            raise Problem.make("invalid", message, v.language, "birth_date") from None
    try:
        return DependantIn.model_validate(fields)
    except ValidationError as exc:
        raise Problem.of(first_error(exc), v.language) from None


@router.post("/cases/{ref}/family/add")
def add_person(
    ref: str,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    """Add a family member (stored encrypted; what was typed is never shown back)."""
    try:
        added = deps.call(v, AddPerson(ref, _person(v, form)), key=form.get("key") or None)
    except Problem as problem:
        return family_page(request, v, ref, problem=problem, at="add")
    return family_page(request, v, ref, added=added)


@router.post("/cases/{ref}/family/{person_id}/remove")
def remove_person(
    ref: str,
    person_id: int,
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    reason = form.get("reason", "")
    try:
        deps.call(v, RemovePerson(ref, person_id, reason))
    except Problem as problem:
        return family_page(request, v, ref, problem=problem, at=f"person-{person_id}")
    return deps.see_other(f"/cases/{ref}/family")


def find_page(
    request: Request,
    v: Viewer,
    *,
    matches: list[CaseMatch] | None = None,
    problem: Problem | None = None,
) -> Response:
    return deps.render(
        request,
        v,
        "family_find.html",
        status_code=problem.status if problem else 200,
        active="find",
        path="/find",
        matches=matches,
        issue=problem,
        who=lambda label: who(v, label),
        stage=lambda s: stage_label(s, v.language),
    )


@router.get("/find")
def find_form(request: Request, v: Viewer = Depends(deps.viewer)) -> Response:
    """The search form (the name goes in a POST's body, never in the address)."""
    return find_page(request, v)


@router.post("/find")
def find(
    request: Request,
    v: Viewer = Depends(deps.viewer),
    form: Form = Depends(deps.checked_form),
) -> Response:
    name = form.get("name", "")
    if len(name) > 401:
        problem = Problem.make("invalid", N_("name: at most 400 characters"), v.language, "name")
        return find_page(request, v, problem=problem)
    try:
        matches = deps.call(v, FindCaseByName(name))
    except Problem as problem:
        return find_page(request, v, problem=problem)
    return find_page(request, v, matches=matches)

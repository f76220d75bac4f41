"""The CLI for the people of a family case and finding a case by name (issue 16).

``homeward case add-person``, ``case people``, ``case remove-person``, ``case find`` and the
operator's ``homeward keys reindex-names``. The searched name is read from an option, never
echoed back; a name never appears in an error line.
"""

from __future__ import annotations

from datetime import date

import typer
from pydantic import ValidationError
from rich.table import Table

from homeward.base.errors import InvalidInput
from homeward.commands import family
from homeward.commands.runner import run
from homeward.edges.cli.cases import case_app
from homeward.edges.cli.common import (
    console,
    credential,
    expect_version_option,
    now,
    request_id_option,
    state,
    writing,
)
from homeward.edges.cli.protect import keys_app
from homeward.protection.vault import DependantIn
from homeward.records.directory import first_error
from tasks import family as engine

OPTION_OF = {"given_name": "--given", "family_name": "--family", "birth_date": "--born"}


def _born(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("--born: give the birth date as YYYY-MM-DD") from None


def add_person(
    case_ref: str,
    relation: str = typer.Option(..., help="child, partner, parent, sibling or other"),
    given: str = typer.Option(..., help="given name(s)"),
    family_name: str = typer.Option(..., "--family", help="family name"),
    born: str = typer.Option(None, help="birth date, YYYY-MM-DD (needed for a child)"),
    sex: str = typer.Option(None, help="female, male, other or unknown"),
    expect_version: int = expect_version_option(),
    request_id: str = request_id_option(),
) -> None:
    """Add a family member to a case (stored encrypted); a minor gets the minors' items."""
    try:
        person = DependantIn(
            relation=relation,
            given_name=given,
            family_name=family_name,
            birth_date=_born(born),
            sex=sex,
        )
    except ValidationError as exc:
        raise _named(first_error(exc)) from None
    command = family.AddPerson(case_ref, person, expect_version)
    added = run(command, credential(), key=request_id, clock=state.clock)
    console.print(
        f"{added.label} (#{added.person_id}) added to case {added.case_ref}"
        + (f"; a minor: {added.items} minors' item(s) created" if added.minor else "")
    )
    if added.possible_duplicates:
        console.print(
            f"warning: possibly the same person as in {added.possible_duplicates}; "
            "check before going on"
        )


def _named(error: InvalidInput) -> InvalidInput:
    """The option a user typed, in place of the model's field name."""
    text = str(error)
    for field, option in OPTION_OF.items():
        if text.startswith(field):
            return InvalidInput(option + text.removeprefix(field))
    if text.startswith("relation") or text.startswith("sex"):
        return InvalidInput("--" + text)
    return error


def people(case_ref: str) -> None:
    """List a case's family members (names only if you may read them; audited)."""
    lines = run(family.ListPeople(case_ref), credential(), clock=state.clock)
    table = Table("#", "member", "minor", "given", "family", "born", "sex", "status")
    for line in lines:
        table.add_row(
            str(line.person_id),
            line.label,
            "yes" if line.minor else "no",
            line.given_name or "",
            line.family_name or "",
            line.birth_date or "",
            line.sex or "",
            "removed" if line.removed else "",
        )
    console.print(table)
    if not lines:
        console.print(f"case {case_ref} has no family members recorded")


def remove_person(
    case_ref: str,
    person_id: int,
    reason: str = typer.Option(..., help=", ".join(engine.REMOVAL_REASONS)),
    expect_version: int = expect_version_option(),
) -> None:
    """Remove a family member from a case (names wiped; the child's open items cancelled)."""
    removed = run(
        family.RemovePerson(case_ref, person_id, reason, expect_version),
        credential(),
        clock=state.clock,
    )
    console.print(f"{removed.label} (#{removed.person_id}) removed from case {removed.case_ref}")


def find(
    name: str = typer.Option(..., "--name", help='the person\'s full name, "Given Family"'),
) -> None:
    """Find the cases of a person by name, among those you may see (keyed index; audited)."""
    matches = run(family.FindCaseByName(name), credential(), clock=state.clock)
    if not matches:
        console.print("no case you may see matches this name")
        return
    table = Table("case_ref", "stage", "matched")
    for match in matches:
        table.add_row(match.case_ref, match.stage, match.who)
    console.print(table)


def reindex_names() -> None:
    """Write the name index of people stored before it existed (operator; audited)."""
    with writing() as session:
        done = engine.reindex(session, now=now())
        console.print(f"name index written for {done} person(s)")


def register(app: typer.Typer) -> None:
    """Add this part's commands to ``homeward case`` and ``homeward keys``."""
    del app
    case_app.command("add-person")(add_person)
    case_app.command("people")(people)
    case_app.command("remove-person")(remove_person)
    case_app.command("find")(find)
    keys_app.command("reindex-names")(reindex_names)

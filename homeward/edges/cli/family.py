"""The CLI for the people of a family case and finding a case by name (issue 16).

``homeward case add-person``, ``case people``, ``case remove-person``, ``case find`` and the
operator's ``homeward keys reindex-names``. Names are read from a JSON file, standard input or a
prompt, never from the command line (``ps``, shell history); a name never appears in an error
line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.table import Table

from homeward.base.errors import InvalidInput
from homeward.commands import family
from homeward.commands.runner import run
from homeward.edges.cli.common import (
    console,
    credential,
    expect_version_option,
    now,
    request_id_option,
    state,
    writing,
)
from homeward.protection.vault import RELATIONS, DependantIn
from homeward.records.directory import first_error
from tasks import family as engine

PERSON_FIELDS = ("given_name", "family_name", "birth_date", "sex")
NO_ARGUMENTS = "personal data is never taken as command-line arguments (ps, shell history)"


def _read_json(source: str | None, option: str) -> dict[str, Any]:
    """A JSON object from a file or standard input (``-``); never from the command line."""
    if source is None:
        raise InvalidInput(f"{option}: pass a JSON file, or - for standard input; {NO_ARGUMENTS}")
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8")
        raw = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInput(f"{option}: could not read a JSON object from it") from None
    if not isinstance(raw, dict):
        raise InvalidInput(f"{option}: could not read a JSON object from it")
    return raw


def _dependant(relation: str, source: str | None) -> DependantIn:
    """The family member: ``relation`` from the option, the rest from ``--person`` (a JSON
    file or ``-``) or, at a terminal, asked for."""
    if relation not in RELATIONS:
        raise InvalidInput(f"--relation: use one of {', '.join(RELATIONS)}")
    if source is None and sys.stdin.isatty():
        raw: dict[str, Any] = {
            "given_name": typer.prompt("Given name"),
            "family_name": typer.prompt("Family name"),
            "birth_date": typer.prompt("Birth date, YYYY-MM-DD (empty: unknown)", default="")
            or None,
        }
    else:
        raw = _read_json(source, "--person")
    unknown = sorted(set(raw) - set(PERSON_FIELDS))
    if unknown:
        raise InvalidInput(
            f"--person: only {', '.join(PERSON_FIELDS)} are read; remove the other keys"
        )
    try:
        return DependantIn(relation=relation, **raw)
    except ValidationError as exc:
        raise first_error(exc) from None


def add_person(
    case_ref: str,
    relation: str = typer.Option(..., help="child, partner, parent, sibling or other"),
    person: str = typer.Option(
        None,
        help='JSON file ({"given_name", "family_name", "birth_date", "sex"}), or - for stdin',
    ),
    expect_version: int = expect_version_option(),
    request_id: str = request_id_option(),
) -> None:
    """Add a family member to a case (stored encrypted); a minor gets the minors' items."""
    command = family.AddPerson(case_ref, _dependant(relation, person), expect_version)
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
    name_file: str = typer.Option(
        None, "--name-file", help="read the full name from this file, or - for stdin"
    ),
) -> None:
    """Find the cases of a person by name, among those you may see (keyed index; audited).
    The name is read from standard input or a file, or asked for without echo: never taken
    as an argument."""
    if name_file is None and sys.stdin.isatty():
        name = typer.prompt("Full name (not shown)", hide_input=True)
    elif name_file is None:
        raise InvalidInput(f"--name-file: pass a file, or - for standard input; {NO_ARGUMENTS}")
    else:
        try:
            name = sys.stdin.read() if name_file == "-" else Path(name_file).read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            raise InvalidInput("--name-file: could not read a name from it") from None
    matches = run(family.FindCaseByName(name.strip()), credential(), clock=state.clock)
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


def register_case(case: typer.Typer) -> None:
    """Add this part's commands to ``homeward case``."""
    case.command("add-person")(add_person)
    case.command("people")(people)
    case.command("remove-person")(remove_person)
    case.command("find")(find)


def register_keys(keys: typer.Typer) -> None:
    """Add ``homeward keys reindex-names``."""
    keys.command("reindex-names")(reindex_names)

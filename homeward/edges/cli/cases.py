"""``homeward case``: open, show, list, advance and trace return cases; a thin adapter over
``homeward.commands.cases`` and ``case_views``: parse the options, run the command as the
signed-in person, print the view."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from homeward.base.errors import InvalidInput
from homeward.commands import case_views as views
from homeward.commands.runner import run
from homeward.edges.cli import LazyCaseGroup, notes, texts
from homeward.edges.cli.common import (
    console,
    credential,
    expect_version_option,
    item_status,
    local,
    local_day,
    request_id_option,
    state,
    where_now,
)
from homeward.protection.vault import PersonIn
from homeward.records.directory import first_error
from statemachines.cases import CaseIn
from statemachines.diagram import mermaid

if TYPE_CHECKING:
    from homeward.commands.cases import CaseOpened

# The commands that change a case (``homeward.commands.cases``) are imported by the CLI commands
# that run them: a read (``case show``, ``case list``) loads none of them (issue 19).

case_app = typer.Typer(cls=LazyCaseGroup, help="Return cases.", no_args_is_help=True)


# Why a key may not repeat, per option. A case has one organisation per part: the
# ``case_participant`` table is unique on (case, role) and each part's checklist items go to
# the one organisation holding it; another organisation joins through an item handoff.
REPEATED_KEY_HINTS = {
    "--with": "a case has one organisation per part; name one, and hand single items to "
    "another with `homeward items handoff ID --to SLUG`",
}


def parse_pairs(pairs: list[str], option: str) -> dict[str, str]:
    """``["a=1", "b=2"]`` -> ``{"a": "1", "b": "2"}``; a malformed or repeated key names the
    option (a repeated key is refused, never silently overwritten)."""
    parsed: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"{option}: {pair!r} is not key=value")
        if key.strip() in parsed:
            hint = REPEATED_KEY_HINTS.get(option, "give each key once")
            raise InvalidInput(f"{option}: {key.strip()} is given twice; {hint}")
        parsed[key.strip()] = value.strip()
    return parsed


def _read_person(source: str | None) -> PersonIn:
    if source is None and not sys.stdin.isatty():
        raise InvalidInput(
            "--person: pass a JSON file, or - to read it from standard input; "
            "personal data is never taken as command-line arguments"
        )
    try:
        if source is None:
            raw: dict[str, Any] = {
                "given_name": typer.prompt("Given name"),
                "family_name": typer.prompt("Family name"),
            }
        else:
            text = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8")
            raw = json.loads(text)
        return PersonIn.model_validate(raw)
    except (OSError, json.JSONDecodeError):
        raise InvalidInput("--person: could not read a JSON object from it") from None
    except ValidationError as exc:
        raise first_error(exc) from None


@case_app.command("start")
def case_start(
    minor: bool = typer.Option(False, "--minor", help="the person is under 18"),
    host_country: str = typer.Option(None, help="where identified (default: your org's country)"),
    with_: list[str] = typer.Option([], "--with", help="participant, e.g. --with ngo=adpare"),
    person: str = typer.Option(None, help="JSON file with the person's data, or - for stdin"),
    process_version: str = typer.Option(None, help="checklist catalog version (default: newest)"),
    route: str = typer.Option(
        "return", help="return (identified abroad) or internal (identified in Romania, no travel)"
    ),
    county: str = typer.Option(None, help="destination county, ISO 3166-2: RO-CJ"),
    request_id: str = request_id_option(),
) -> None:
    """Open a case owned by your organisation; prints its case_ref and first checklist items."""
    from homeward.commands import cases

    try:
        case_in = CaseIn.model_validate(
            {
                "is_minor": minor,
                "host_country": host_country,
                "route": route,
                "destination_county": county,
                "participants": parse_pairs(with_, "--with"),
                **({"process_version": process_version} if process_version else {}),
            }
        )
    except ValidationError as exc:
        raise first_error(exc) from None
    command = cases.StartCase(case_in, _read_person(person))
    opened = run(command, credential(), key=request_id, clock=state.clock)
    console.print(f"case {opened.case_ref} opened in stage {opened.state}")
    _warn_duplicates(opened)
    _items_table(run(views.CaseItems(opened.case_ref), credential(), clock=state.clock))


def _warn_duplicates(opened: CaseOpened) -> None:
    """Name your organisation's earlier cases of possibly the same person (only its own)."""
    if opened.duplicates:
        console.print(
            f"warning: possibly the same person as {opened.duplicates}; check before going on"
        )


@case_app.command("show")
def case_show(
    case_ref: str,
    personal: bool = typer.Option(
        False, help="also show the person's data, notes and reasons you may see (audited)"
    ),
) -> None:
    """Show a case: stage, facts, participants, checklist items and what can happen next."""
    show = views.ShowCasePersonal(case_ref) if personal else views.ShowCase(case_ref)
    details = run(show, credential(), clock=state.clock)
    _facts(details.facts)
    if details.person is not None:
        _personal(details.person)
    _items_table(details.items)
    if personal:
        notes.print_text_lines(details.texts)
    console.print("next: " + (", ".join(details.next) or "nothing (closed)"))


@case_app.command("person")
def case_person(
    case_ref: str,
    person: str = typer.Option(None, help="JSON file with the person's data, or - for stdin"),
) -> None:
    """Enter or replace the person's data on a case (owner organisation; stored encrypted)."""
    from homeward.commands import cases

    command = cases.EnterPerson(case_ref, _read_person(person))
    stored = run(command, credential(), clock=state.clock)
    console.print(f"personal data of case {stored.case_ref} stored (encrypted)")
    if stored.duplicates:
        console.print(
            f"warning: possibly the same person as {stored.duplicates}; check before going on"
        )


def _facts(facts: views.CaseFacts) -> None:
    table = Table(show_header=False, title=f"case {facts.case_ref}")
    rows = [
        ("stage", facts.stage),
        ("status", facts.status),
        ("since", local(facts.since)),
        ("owner", facts.owner),
        ("minor", "yes" if facts.minor else "no"),
        ("route", facts.route),
        ("process", facts.process),
        ("version", str(facts.version)),
        ("consent", facts.consent),
        ("departure", local_day(facts.departure_on)),
        ("arrival", local_day(facts.arrival_on)),
        ("closure", facts.closure or ""),
    ]
    for key, value in rows:
        if value:
            table.add_row(key, value)
    table.add_row("with", ", ".join(facts.live))
    if facts.waiting:
        table.add_row(
            "waiting for consent",
            f"{', '.join(facts.waiting)} (record it: homeward consent give {facts.case_ref} "
            "--purpose sharing ...)",
        )
    console.print(table)


def _personal(person: dict[str, str | None]) -> None:
    table = Table(show_header=False, title="person (confidential)")
    for field, value in person.items():
        table.add_row(field, value or "")
    console.print(table, markup=False)


def _items_table(items: list[views.ItemLine]) -> None:
    table = Table("#", "stage", "item", "owner", "due", "status", "blocks")
    for item in items:
        table.add_row(
            str(item.id),
            item.stage,
            item.title + (f" ({item.about})" if item.about else ""),
            item.owner,
            local_day(item.due_at),
            item_status(item),
            "yes" if item.blocking else "",
        )
    console.print(table)


@case_app.command("list")
def case_list(
    stage: str = typer.Option(
        None,
        help="only active cases in this stage, or cases with this status "
        "(suspended, lost_contact, consent_withdrawn, closed)",
    ),
) -> None:
    """List the cases your organisation takes part in."""
    table = Table("case_ref", "stage", "since", "owner", "minor", "route")
    for case in run(views.ListCases(stage), credential(), clock=state.clock):
        table.add_row(
            case.case_ref,
            case.stage,
            local(case.since),
            case.owner,
            "yes" if case.minor else "",
            f"{case.host_country}->{case.destination_country}",
        )
    console.print(table)


@case_app.command("advance")
def case_advance(
    case_ref: str,
    trigger: str,
    set_: list[str] = typer.Option([], "--set", help="step data, e.g. --set method=signed"),
    expect_version: int = expect_version_option(),
    request_id: str = request_id_option(),
) -> None:
    """Move a case (owner's coordinators, supervisors): fire TRIGGER with its step data. A
    case closes through `request-closure`, then a supervisor's `approve-closure`."""
    from homeward.commands import cases

    data = parse_pairs(set_, "--set")
    command = cases.AdvanceCase(case_ref, trigger, data, expect_version)
    moved = run(command, credential(), key=request_id, clock=state.clock)
    console.print(f"case {moved.case_ref} is now {where_now(moved.state)}")


@case_app.command("history")
def case_history(case_ref: str) -> None:
    """The case's history: every transition, item record and handoff decision, with who acted
    and how they were proven (their session, or the Prefect run and the session behind it)."""
    table = Table("when", "who", "what", "from", "to", "details", "proof")
    for event in run(views.CaseHistory(case_ref), credential(), clock=state.clock):
        table.add_row(
            local(event.at),
            event.who,
            event.trigger,
            event.from_state or "",
            event.to_state or "",
            ", ".join(f"{k}={v}" for k, v in event.data.items()),
            event.proof or "",
        )
    console.print(table)


@case_app.command("diagram")
def case_diagram() -> None:
    """Print the state machine as a mermaid diagram (generated from the transition table)."""
    console.print(mermaid(), markup=False)


@case_app.command("handoff")
def case_handoff(
    case_ref: str,
    to: str = typer.Option(..., "--to", help="the receiving organisation's slug"),
    reason: str | None = typer.Option(None, help="why (no personal details)"),
    reason_file: str | None = texts.file_option("reason"),
    edit: bool = texts.edit_option("reason"),
    expect_version: int = expect_version_option(),
    request_id: str = request_id_option(),
) -> None:
    """Hand the whole case to another organisation (a child's stays with DGASPC from transit)."""
    from homeward.commands import cases

    reason = texts.FreeText("reason", reason, reason_file, edit).read()
    command = cases.TransferCase(case_ref, to, reason, expect_version)
    offered = run(command, credential(), key=request_id, clock=state.clock)
    console.print(f"case {offered.case_ref} offered to {offered.to}, awaiting their answer")


@case_app.command("accept")
def case_accept(case_ref: str, expect_version: int = expect_version_option()) -> None:
    """Accept a case handed to your organisation: it becomes yours."""
    from homeward.commands import cases

    accepted = run(cases.AcceptTransfer(case_ref, expect_version), credential(), clock=state.clock)
    console.print(f"case {accepted.case_ref} now belongs to your organisation")


@case_app.command("reject")
def case_reject(
    case_ref: str,
    reason: str | None = typer.Option(None, help="why it is rejected"),
    reason_file: str | None = texts.file_option("reason"),
    edit: bool = texts.edit_option("reason"),
    expect_version: int = expect_version_option(),
) -> None:
    """Reject a case handed to your organisation."""
    from homeward.commands import cases

    reason = texts.FreeText("reason", reason, reason_file, edit).required()
    command = cases.RejectTransfer(case_ref, reason, expect_version)
    rejected = run(command, credential(), clock=state.clock)
    console.print(f"transfer of case {rejected.case_ref} rejected")


@case_app.command("hold")
def case_hold(
    case_ref: str,
    release: bool = typer.Option(False, "--release", help="lift the hold instead of placing it"),
) -> None:
    """Place (or lift) a legal hold (owner's supervisor): its personal data is never purged."""
    from homeward.commands import cases

    held = run(cases.LegalHold(case_ref, not release), credential(), clock=state.clock)
    console.print(f"legal hold {'lifted from' if release else 'placed on'} {held.case_ref}")

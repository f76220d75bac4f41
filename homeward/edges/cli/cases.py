"""``homeward case``: open, show, list, advance and trace return cases."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.table import Table
from sqlmodel import Session, col, select

from homeward.base.caseref import checked_ref
from homeward.base.errors import InvalidInput
from homeward.base.models import Case, ChecklistItem, ConsentPurpose, ParticipantStatus, StaffMember
from homeward.edges.cli.common import (
    actor,
    console,
    expect_version_option,
    item_status,
    local,
    local_day,
    now,
    reading,
    request_id_option,
    writing,
)
from homeward.edges.cli.notes import print_case_texts
from homeward.protection import retention, vault
from homeward.protection.access import case_org_ids
from homeward.protection.consent import ledger
from homeward.protection.vault import PersonIn
from homeward.records.audit import history
from homeward.records.directory import first_error, orgs_by_id
from homeward.records.idempotency import check_key, once
from statemachines.cases import (
    CaseIn,
    allowed_triggers,
    fire,
    get_case,
    list_cases,
    start_case,
)
from statemachines.diagram import mermaid
from tasks import participation, transfers
from tasks.catalog import load_catalog

case_app = typer.Typer(help="Return cases.", no_args_is_help=True)


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
    request_id: str = request_id_option(),
) -> None:
    """Open a case owned by your organisation; prints its case_ref and first checklist items."""
    key = check_key(request_id)
    try:
        case_in = CaseIn.model_validate(
            {
                "is_minor": minor,
                "host_country": host_country,
                "participants": parse_pairs(with_, "--with"),
                **({"process_version": process_version} if process_version else {}),
            }
        )
    except ValidationError as exc:
        raise first_error(exc) from None
    person_in = _read_person(person)
    with writing() as session:
        who, earlier = actor(session), []

        def open_case() -> dict[str, Any]:
            earlier.extend(vault.find_possible_duplicates(session, person_in))
            case = start_case(session, actor=who, case_in=case_in, person=person_in, now=now())
            return {"case_ref": case.case_ref, "case_id": case.id, "state": case.state}

        args = case_in.model_dump(mode="json")  # the person's data stays out of the fingerprint
        opened, _ = once(
            session, key=key, command="case start", actor=who, args=args, now=now(), run=open_case
        )
        console.print(f"case {opened['case_ref']} opened in stage {opened['state']}")
        _warn_duplicates(session, who, earlier)
        _items_table(session, get_case(session, case_ref=str(opened["case_ref"]), actor=who))


def _warn_duplicates(session: Session, who: StaffMember, case_ids: list[int]) -> None:
    """Name earlier cases of the same person the actor may see; only count the others."""
    if not case_ids:
        return
    visible, hidden = [], 0
    for case_id in case_ids:
        other = session.get(Case, case_id)
        if other and who.org_id in case_org_ids(session, other):
            visible.append(other.case_ref)
        else:
            hidden += 1
    others = f"{hidden} case(s) of other organisations" if hidden else ""
    listed = ", ".join(filter(None, [", ".join(visible), others]))
    console.print(f"warning: possibly the same person as {listed}; check before going on")


@case_app.command("show")
def case_show(
    case_ref: str,
    personal: bool = typer.Option(
        False, help="also show the person's data, notes and reasons you may see (audited)"
    ),
) -> None:
    """Show a case: stage, facts, participants, checklist items and what can happen next."""
    with writing() if personal else reading() as session:
        who = actor(session)
        case = get_case(session, case_ref=case_ref, actor=who)
        _facts(session, case)
        if personal:
            _personal(session, case, who)
        _items_table(session, case)
        if personal:
            print_case_texts(session, case, who)
        console.print("next: " + (", ".join(allowed_triggers(case)) or "nothing (closed)"))


@case_app.command("person")
def case_person(
    case_ref: str,
    person: str = typer.Option(None, help="JSON file with the person's data, or - for stdin"),
) -> None:
    """Enter or replace the person's data on a case (owner organisation; stored encrypted)."""
    person_in = _read_person(person)
    with writing() as session:
        who = actor(session)
        case = get_case(session, case_ref=case_ref, actor=who)
        vault.store_person(session, case=case, person=person_in, actor=who, now=now())
        console.print(f"personal data of case {case.case_ref} stored (encrypted)")


def _facts(session: Session, case: Case) -> None:
    orgs = orgs_by_id(session)
    table = Table(show_header=False, title=f"case {case.case_ref}")
    rows = [
        ("stage", case.state),
        ("since", local(case.stage_entered_at)),
        ("owner", orgs[case.owner_org_id].slug),
        ("minor", "yes" if case.is_minor else "no"),
        ("route", f"{case.host_country} -> {case.destination_country}"),
        ("process", case.process_version),
        ("version", str(case.version)),
        ("consent", _consent_line(session, case)),
        ("departure", local_day(case.departure_on)),
        ("arrival", local_day(case.arrival_on)),
        ("closure", case.closure_reason or ""),
    ]
    for key, value in rows:
        if value:
            table.add_row(key, value)
    parts = participation.current(session, case)
    live = [p for p in parts if p.status == ParticipantStatus.LIVE]
    table.add_row("with", ", ".join(f"{p.role}={orgs[p.org_id].slug}" for p in live))
    waiting = ", ".join(
        f"{p.role}={orgs[p.org_id].slug}" for p in participation.waiting(session, case)
    )
    if waiting:
        table.add_row(
            "waiting for consent",
            f"{waiting} (record it: homeward consent give {case.case_ref} --purpose sharing ...)",
        )
    console.print(table)


def _consent_line(session: Session, case: Case) -> str:
    """The consent to the return: method and language, and who gave a minor's consent."""
    given = next((c for c in ledger(session, case) if c.purpose == ConsentPurpose.RETURN), None)
    words = [case.consent_method or "", case.consent_language or ""]
    if given is not None and given.representative:
        words.append(f"by {given.representative}")
    return " ".join(w for w in words if w)


def _personal(session: Session, case: Case, who: StaffMember) -> None:
    shown = vault.read_person(session, case=case, actor=who, now=now())
    table = Table(show_header=False, title="person (confidential)")
    for field, value in shown.items():
        table.add_row(field, value or "")
    console.print(table, markup=False)


def _items_table(session: Session, case: Case) -> None:
    orgs, catalog = orgs_by_id(session), load_catalog(case.process_version)
    table = Table("#", "stage", "item", "owner", "due", "status", "blocks")
    query = select(ChecklistItem).where(ChecklistItem.case_id == case.id)
    for item in session.exec(query.order_by(col(ChecklistItem.id))):
        table.add_row(
            str(item.id),
            item.stage,
            catalog.spec(item.code).title,
            orgs[item.owner_org_id].slug,
            local_day(item.due_at),
            item_status(item),
            "yes" if item.blocking else "",
        )
    console.print(table)


@case_app.command("list")
def case_list(stage: str = typer.Option(None, help="only cases in this stage")) -> None:
    """List the cases your organisation takes part in."""
    with reading() as session:
        orgs = orgs_by_id(session)
        table = Table("case_ref", "stage", "since", "owner", "minor", "route")
        for case in list_cases(session, actor=actor(session), state=stage):
            table.add_row(
                case.case_ref,
                case.state,
                local(case.stage_entered_at),
                orgs[case.owner_org_id].slug,
                "yes" if case.is_minor else "",
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
    """Move a case (owner's coordinators, supervisors): fire TRIGGER with its step data."""
    key, ref, data = check_key(request_id), checked_ref(case_ref), parse_pairs(set_, "--set")
    with writing() as session:
        who = actor(session)

        def move() -> dict[str, Any]:
            case = fire(
                session,
                case_ref=ref,
                trigger=trigger,
                actor=who,
                data=dict(data),
                now=now(),
                expected_version=expect_version,
            )
            return {"case_ref": case.case_ref, "case_id": case.id, "state": case.state}

        args = {"case_ref": ref, "trigger": trigger, "data": data}
        moved, _ = once(
            session, key=key, command="case advance", actor=who, args=args, now=now(), run=move
        )
        console.print(f"case {moved['case_ref']} is now in stage {moved['state']}")


@case_app.command("history")
def case_history(case_ref: str) -> None:
    """The case's history: every transition, item record and handoff decision."""
    with reading() as session:
        case = get_case(session, case_ref=case_ref, actor=actor(session))
        staff = {s.id: s.email for s in session.exec(select(StaffMember))}
        table = Table("when", "who", "what", "from", "to", "details")
        for event in history(session, case):
            details = ", ".join(f"{k}={v}" for k, v in event.data.items())
            table.add_row(
                local(event.at),
                staff.get(event.actor_id, "system"),
                event.trigger,
                event.from_state or "",
                event.to_state or "",
                details,
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
    reason: str = typer.Option(None, help="why (no personal details)"),
    expect_version: int = expect_version_option(),
    request_id: str = request_id_option(),
) -> None:
    """Hand the whole case to another organisation (a child's stays with DGASPC from transit)."""
    key, ref = check_key(request_id), checked_ref(case_ref)
    with writing() as session:
        who = actor(session)

        def offer() -> dict[str, Any]:
            case = get_case(session, case_ref=ref, actor=who)
            handoff = transfers.propose_transfer(
                session,
                case=case,
                to_org_slug=to,
                actor=who,
                now=now(),
                reason=reason,
                expected_version=expect_version,
            )
            return {"case_ref": case.case_ref, "case_id": case.id, "handoff_id": handoff.id}

        args = {"case_ref": ref, "to": to}  # the free-text reason stays out of the fingerprint
        offered, _ = once(
            session, key=key, command="case handoff", actor=who, args=args, now=now(), run=offer
        )
        console.print(f"case {offered['case_ref']} offered to {to}, awaiting their answer")


@case_app.command("accept")
def case_accept(case_ref: str, expect_version: int = expect_version_option()) -> None:
    """Accept a case handed to your organisation: it becomes yours."""
    with writing() as session:
        who = actor(session)
        case = get_case(session, case_ref=case_ref, actor=who)
        transfers.accept_transfer(
            session, case=case, actor=who, now=now(), expected_version=expect_version
        )
        console.print(f"case {case.case_ref} now belongs to your organisation")


@case_app.command("reject")
def case_reject(
    case_ref: str,
    reason: str = typer.Option(..., help="why it is rejected"),
    expect_version: int = expect_version_option(),
) -> None:
    """Reject a case handed to your organisation."""
    with writing() as session:
        who = actor(session)
        case = get_case(session, case_ref=case_ref, actor=who)
        transfers.reject_transfer(
            session,
            case=case,
            actor=who,
            now=now(),
            reason=reason,
            expected_version=expect_version,
        )
        console.print(f"transfer of case {case.case_ref} rejected")


@case_app.command("hold")
def case_hold(
    case_ref: str,
    release: bool = typer.Option(False, "--release", help="lift the hold instead of placing it"),
) -> None:
    """Place (or lift) a legal hold (owner's supervisor): its personal data is never purged."""
    with writing() as session:
        who = actor(session)
        case = get_case(session, case_ref=case_ref, actor=who)
        retention.set_legal_hold(session, case=case, actor=who, hold=not release, now=now())
        console.print(f"legal hold {'lifted from' if release else 'placed on'} {case.case_ref}")

"""``homeward items``: list, record, skip, reopen, reschedule and hand off checklist items."""

from __future__ import annotations

from datetime import date
from typing import Any

import typer
from rich.table import Table

from homeward.base.errors import InvalidInput
from homeward.edges.cli import notes
from homeward.edges.cli.common import (
    actor,
    console,
    expect_version_option,
    item_status,
    local_day,
    now,
    reading,
    request_id_option,
    writing,
)
from homeward.records.directory import get_org, get_staff, orgs_by_id
from homeward.records.idempotency import check_key, once
from statemachines.cases import get_case
from tasks import checklist, checklist_changes, handoffs
from tasks.catalog import load_catalog
from tasks.queries import ItemFilter, list_items

items_app = typer.Typer(help="Checklist items and their handoffs.", no_args_is_help=True)
notes.register(items_app)  # ``homeward items show ID``: an item with its notes and reasons


@items_app.command("list")
def items_list(
    case_ref: str = typer.Option(None, "--case", help="only this case"),
    mine: bool = typer.Option(False, "--mine", help="only my organisation's or my own items"),
    overdue: bool = typer.Option(False, "--overdue", help="only open items past their due date"),
    org: str = typer.Option(None, "--org", help="only items owned by this organisation (slug)"),
    status: str = typer.Option("open", help="open, done, skipped, cancelled, or all"),
) -> None:
    """List checklist items, soonest due first."""
    with reading() as session:
        who = actor(session)
        case_id = get_case(session, case_ref=case_ref, actor=who).id if case_ref else None
        org_id = get_org(session=session, slug=org).id if org else None
        filters = ItemFilter(
            case_id=case_id,
            mine=mine,
            overdue=overdue,
            org_id=org_id,
            status=None if status == "all" else status,
        )
        orgs, moment = orgs_by_id(session), now()
        table = Table("#", "case_ref", "stage", "item", "owner", "due", "status")
        for item, case in list_items(session, actor=who, now=moment, filters=filters):
            late = item.status == "open" and item.due_at < moment
            table.add_row(
                str(item.id),
                case.case_ref,
                item.stage,
                load_catalog(case.process_version).spec(item.code).title,
                orgs[item.owner_org_id].slug,
                local_day(item.due_at),
                item_status(item) + (" OVERDUE" if late else ""),
            )
        console.print(table)


@items_app.command("done")
def items_done(
    item_id: int,
    outcome: str = typer.Option(None, help="required for items with outcomes, e.g. risk level"),
    note: str = typer.Option(None, help="a short working note (no personal details)"),
    expect_version: int = expect_version_option(),
    request_id: str = request_id_option(),
) -> None:
    """Record an item as done."""
    key = check_key(request_id)
    with writing() as session:
        who = actor(session)

        def record() -> dict[str, Any]:
            item = checklist.mark_done(
                session,
                item_id=item_id,
                actor=who,
                now=now(),
                outcome=outcome,
                note=note,
                expected_version=expect_version,
            )
            return {"item_id": item.id, "code": item.code, "case_id": item.case_id}

        args = {"item_id": item_id, "outcome": outcome}  # the free-text note stays out
        done, _ = once(
            session, key=key, command="items done", actor=who, args=args, now=now(), run=record
        )
        console.print(f"item #{done['item_id']} {done['code']} done")


@items_app.command("assign")
def items_assign(
    item_id: int,
    to: str = typer.Option(..., "--to", help="email of the staff member"),
    expect_version: int = expect_version_option(),
) -> None:
    """Give an item to one staff member of its owner organisation."""
    with writing() as session:
        who = actor(session)
        assignee = get_staff(session=session, email=to)
        item = checklist.assign(
            session,
            item_id=item_id,
            assignee=assignee,
            actor=who,
            now=now(),
            expected_version=expect_version,
        )
        console.print(f"item #{item.id} {item.code} assigned to {assignee.email}")


@items_app.command("skip")
def items_skip(
    item_id: int,
    reason: str = typer.Option(..., help="why it is not needed"),
    expect_version: int = expect_version_option(),
    request_id: str = request_id_option(),
) -> None:
    """Record an item as skipped, with a reason."""
    key = check_key(request_id)
    with writing() as session:
        who = actor(session)

        def skip() -> dict[str, Any]:
            item = checklist.mark_skipped(
                session,
                item_id=item_id,
                actor=who,
                now=now(),
                reason=reason,
                expected_version=expect_version,
            )
            return {"item_id": item.id, "code": item.code, "case_id": item.case_id}

        args = {"item_id": item_id}  # the free-text reason stays out of the fingerprint
        skipped, _ = once(
            session, key=key, command="items skip", actor=who, args=args, now=now(), run=skip
        )
        console.print(f"item #{skipped['item_id']} {skipped['code']} skipped")


@items_app.command("handoff")
def items_handoff(
    item_id: int,
    to: str = typer.Option(..., "--to", help="the receiving organisation's slug"),
    reason: str = typer.Option(None, help="why (no personal details)"),
    expect_version: int = expect_version_option(),
    request_id: str = request_id_option(),
) -> None:
    """Hand an item to another organisation; it stays yours until they accept (a child's
    reception items stay with DGASPC)."""
    key = check_key(request_id)
    with writing() as session:
        who = actor(session)

        def propose() -> dict[str, Any]:
            handoff = handoffs.propose(
                session,
                item_id=item_id,
                to_org_slug=to,
                actor=who,
                now=now(),
                reason=reason,
                expected_version=expect_version,
            )
            return {"item_id": item_id, "handoff_id": handoff.id, "case_id": handoff.case_id}

        args = {"item_id": item_id, "to": to}  # the free-text reason stays out
        once(
            session, key=key, command="items handoff", actor=who, args=args, now=now(), run=propose
        )
        console.print(f"item #{item_id} handed to {to}, awaiting their answer")


@items_app.command("accept")
def items_accept(item_id: int, expect_version: int = expect_version_option()) -> None:
    """Accept the handoff of an item to your organisation."""
    with writing() as session:
        handoffs.accept(
            session,
            item_id=item_id,
            actor=actor(session),
            now=now(),
            expected_version=expect_version,
        )
        console.print(f"item #{item_id} is now your organisation's")


@items_app.command("reject")
def items_reject(
    item_id: int,
    reason: str = typer.Option(..., help="why it is rejected"),
    expect_version: int = expect_version_option(),
) -> None:
    """Reject the handoff of an item to your organisation."""
    with writing() as session:
        handoffs.reject(
            session,
            item_id=item_id,
            actor=actor(session),
            now=now(),
            reason=reason,
            expected_version=expect_version,
        )
        console.print(f"handoff of item #{item_id} rejected")


@items_app.command("reopen")
def items_reopen(
    item_id: int,
    reason: str = typer.Option(..., help="why it is reopened (stored encrypted)"),
    expect_version: int = expect_version_option(),
) -> None:
    """Open a done or skipped item again: an item of the case's current stage, or a
    non-blocking one of an earlier stage."""
    with writing() as session:
        item = checklist_changes.reopen_item(
            session,
            item_id=item_id,
            actor=actor(session),
            reason=reason,
            now=now(),
            expected_version=expect_version,
        )
        console.print(f"item #{item.id} {item.code} is open again, due {local_day(item.due_at)}")


@items_app.command("due")
def items_due(
    item_id: int,
    on: str = typer.Option(..., "--on", help="the new due date, YYYY-MM-DD (today or later)"),
    reason: str = typer.Option(..., help="why the date moves (stored encrypted)"),
    expect_version: int = expect_version_option(),
) -> None:
    """Move an open item's due date, with a reason."""
    day = parse_day(on, "--on")
    with writing() as session:
        item = checklist_changes.change_due(
            session,
            item_id=item_id,
            actor=actor(session),
            on=day,
            reason=reason,
            now=now(),
            expected_version=expect_version,
        )
        console.print(f"item #{item.id} {item.code} now due {local_day(item.due_at)}")


def parse_day(value: str, option: str) -> date:
    """A YYYY-MM-DD day from an option, or one line naming it."""
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"{option}: {value!r} is not a date; use YYYY-MM-DD") from None

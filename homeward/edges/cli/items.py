"""``homeward items``: list, record, skip, reopen, reschedule and hand off checklist items."""

from __future__ import annotations

from datetime import date

import typer
from rich.table import Table

from homeward.base.errors import InvalidInput
from homeward.commands import handoffs
from homeward.commands import items as cmd
from homeward.commands.runner import Command, run
from homeward.edges.cli import notes, texts
from homeward.edges.cli.common import (
    console,
    credential,
    expect_version_option,
    item_status,
    local_day,
    request_id_option,
    state,
)

items_app = typer.Typer(help="Checklist items and their handoffs.", no_args_is_help=True)
notes.register(items_app)  # ``homeward items show ID``: an item with its notes and reasons


def _run(command: Command[cmd.ItemChanged], request_id: str | None = None) -> cmd.ItemChanged:
    return run(command, credential(), key=request_id, clock=state.clock)


@items_app.command("list")
def items_list(
    case_ref: str = typer.Option(None, "--case", help="only this case"),
    mine: bool = typer.Option(False, "--mine", help="only my organisation's or my own items"),
    overdue: bool = typer.Option(False, "--overdue", help="only open items past their due date"),
    org: str = typer.Option(None, "--org", help="only items owned by this organisation (slug)"),
    status: str = typer.Option("open", help="open, done, skipped, cancelled, or all"),
) -> None:
    """List checklist items, soonest due first."""
    listed = cmd.ListItems(case_ref, mine, overdue, org, status)
    lines = run(listed, credential(), clock=state.clock)
    table = Table("#", "case_ref", "stage", "item", "owner", "due", "status")
    for line in lines:
        shown = item_status(line) + (" OVERDUE" if line.overdue else "")
        table.add_row(
            str(line.item_id),
            line.case_ref,
            line.stage,
            line.title,
            line.owner,
            local_day(line.due_at),
            shown,
        )
    console.print(table)


@items_app.command("done")
def items_done(
    item_id: int,
    outcome: str = typer.Option(None, help="required for items with outcomes, e.g. risk level"),
    note: str | None = typer.Option(None, help="a short working note (no personal details)"),
    note_file: str | None = texts.file_option("note"),
    edit: bool = texts.edit_option("note"),
    expect_version: int = expect_version_option(),
    request_id: str = request_id_option(),
) -> None:
    """Record an item as done."""
    note = texts.FreeText("note", note, note_file, edit).read()
    done = _run(cmd.DoneItem(item_id, outcome, note, expect_version), request_id)
    console.print(f"item #{done.item_id} {done.code} done")


@items_app.command("assign")
def items_assign(
    item_id: int,
    to: str = typer.Option(..., "--to", help="email of the staff member"),
    expect_version: int = expect_version_option(),
) -> None:
    """Give an item to one staff member of its owner organisation."""
    item = _run(cmd.AssignItem(item_id, to, expect_version))
    console.print(f"item #{item.item_id} {item.code} assigned to {item.assignee}")


@items_app.command("skip")
def items_skip(
    item_id: int,
    reason: str | None = typer.Option(None, help="why it is not needed"),
    reason_file: str | None = texts.file_option("reason"),
    edit: bool = texts.edit_option("reason"),
    expect_version: int = expect_version_option(),
    request_id: str = request_id_option(),
) -> None:
    """Record an item as skipped, with a reason."""
    reason = texts.FreeText("reason", reason, reason_file, edit).required()
    skipped = _run(cmd.SkipItem(item_id, reason, expect_version), request_id)
    console.print(f"item #{skipped.item_id} {skipped.code} skipped")


@items_app.command("handoff")
def items_handoff(
    item_id: int,
    to: str = typer.Option(..., "--to", help="the receiving organisation's slug"),
    reason: str | None = typer.Option(None, help="why (no personal details)"),
    reason_file: str | None = texts.file_option("reason"),
    edit: bool = texts.edit_option("reason"),
    expect_version: int = expect_version_option(),
    request_id: str = request_id_option(),
) -> None:
    """Hand an item to another organisation; it stays yours until they accept (a child's
    reception items stay with DGASPC)."""
    reason = texts.FreeText("reason", reason, reason_file, edit).read()
    _run(handoffs.ProposeHandoff(item_id, to, reason, expect_version), request_id)
    console.print(f"item #{item_id} handed to {to}, awaiting their answer")


@items_app.command("accept")
def items_accept(item_id: int, expect_version: int = expect_version_option()) -> None:
    """Accept the handoff of an item to your organisation."""
    _run(handoffs.AcceptHandoff(item_id, expect_version))
    console.print(f"item #{item_id} is now your organisation's")


@items_app.command("reject")
def items_reject(
    item_id: int,
    reason: str | None = typer.Option(None, help="why it is rejected"),
    reason_file: str | None = texts.file_option("reason"),
    edit: bool = texts.edit_option("reason"),
    expect_version: int = expect_version_option(),
) -> None:
    """Reject the handoff of an item to your organisation."""
    reason = texts.FreeText("reason", reason, reason_file, edit).required()
    _run(handoffs.RejectHandoff(item_id, reason, expect_version))
    console.print(f"handoff of item #{item_id} rejected")


@items_app.command("reopen")
def items_reopen(
    item_id: int,
    reason: str | None = typer.Option(None, help="why it is reopened (stored encrypted)"),
    reason_file: str | None = texts.file_option("reason"),
    edit: bool = texts.edit_option("reason"),
    expect_version: int = expect_version_option(),
) -> None:
    """Open a done or skipped item again: an item of the case's current stage, or a
    non-blocking one of an earlier stage."""
    reason = texts.FreeText("reason", reason, reason_file, edit).required()
    item = _run(cmd.ReopenItem(item_id, reason, expect_version))
    console.print(f"item #{item.item_id} {item.code} is open again, due {item.due_on}")


@items_app.command("due")
def items_due(
    item_id: int,
    on: str = typer.Option(..., "--on", help="the new due date, YYYY-MM-DD (today or later)"),
    reason: str | None = typer.Option(None, help="why the date moves (stored encrypted)"),
    reason_file: str | None = texts.file_option("reason"),
    edit: bool = texts.edit_option("reason"),
    expect_version: int = expect_version_option(),
) -> None:
    """Move an open item's due date, with a reason."""
    reason = texts.FreeText("reason", reason, reason_file, edit).required()
    item = _run(cmd.ChangeDue(item_id, parse_day(on, "--on"), reason, expect_version))
    console.print(f"item #{item.item_id} {item.code} now due {item.due_on}")


def parse_day(value: str, option: str) -> date:
    """A YYYY-MM-DD day from an option, or one line naming it."""
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"{option}: {value!r} is not a date; use YYYY-MM-DD") from None

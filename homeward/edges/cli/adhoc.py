"""``homeward items add|reschedule|cancel|adhoc``: items outside the catalog (a court hearing, a
medical appointment, a rebooked flight), moving and cancelling them (``tasks.adhoc``)."""

from __future__ import annotations

import typer
from rich.table import Table

from homeward.commands import adhoc as cmd
from homeward.commands.items import ItemChanged
from homeward.commands.runner import Command, run
from homeward.edges.cli import texts
from homeward.edges.cli.common import (
    console,
    credential,
    expect_version_option,
    local_day,
    request_id_option,
    state,
)
from homeward.edges.cli.items import parse_day
from tasks.adhoc import ZONES
from tasks.catalog import ADHOC_KINDS

KINDS = ", ".join(ADHOC_KINDS)


def _run(command: Command[ItemChanged], request_id: str | None = None) -> ItemChanged:
    return run(command, credential(), key=request_id, clock=state.clock)


def items_add(
    case_ref: str = typer.Argument(..., metavar="REF", help="the case"),
    kind: str = typer.Option(..., "--kind", help=f"one of {KINDS}"),
    owner: str = typer.Option(..., "--owner", help="the organisation (slug) that owns it"),
    due: str = typer.Option(..., "--due", help="the day, YYYY-MM-DD (today or later)"),
    at: str | None = typer.Option(None, "--at", help="an appointment's local time, HH:MM"),
    zone: str = typer.Option("home", "--zone", help=f"--at is in the zone: {', '.join(ZONES)}"),
    title: str | None = typer.Option(
        None, "--title", help="its own title (stored encrypted; emails show only the kind)"
    ),
    title_file: str | None = texts.file_option("title"),
    assignee: str | None = typer.Option(None, "--assignee", help="email of the owner's staff"),
    expect_version: int = expect_version_option(),
    request_id: str | None = request_id_option(),
) -> None:
    """Add an item outside the catalog (an appointment with --at gets a calendar invitation)."""
    text = texts.FreeText("title", title, title_file, edit=False).read()
    command = cmd.AddAdhocItem(
        case_ref,
        kind,
        owner,
        parse_day(due, "--due"),
        at=at,
        zone=zone,
        title=text,
        assignee=assignee,
        expected_version=expect_version,
    )
    item = _run(command, request_id)
    console.print(f"item #{item.item_id} {item.code} added to {item.case_ref}, due {item.due_on}")


def items_reschedule(
    item_id: int,
    due: str = typer.Option(..., "--due", help="the new day, YYYY-MM-DD (today or later)"),
    at: str | None = typer.Option(None, "--at", help="the new local time, HH:MM"),
    zone: str = typer.Option("home", "--zone", help=f"--at is in the zone: {', '.join(ZONES)}"),
    reason: str | None = typer.Option(None, help="why it moves (stored encrypted)"),
    reason_file: str | None = texts.file_option("reason"),
    edit: bool = texts.edit_option("reason"),
    expect_version: int = expect_version_option(),
    request_id: str | None = request_id_option(),
) -> None:
    """Move an ad-hoc item or appointment to another day (and time), with a reason."""
    text = texts.FreeText("reason", reason, reason_file, edit).required()
    command = cmd.RescheduleItem(
        item_id, parse_day(due, "--due"), text, at=at, zone=zone, expected_version=expect_version
    )
    item = _run(command, request_id)
    console.print(f"item #{item.item_id} {item.code} now due {item.due_on}")


def items_cancel(
    item_id: int,
    reason: str | None = typer.Option(None, help="why it is cancelled (stored encrypted)"),
    reason_file: str | None = texts.file_option("reason"),
    edit: bool = texts.edit_option("reason"),
    expect_version: int = expect_version_option(),
    request_id: str | None = request_id_option(),
) -> None:
    """Cancel an ad-hoc item or appointment, with a reason."""
    text = texts.FreeText("reason", reason, reason_file, edit).required()
    item = _run(cmd.CancelItem(item_id, text, expect_version), request_id)
    console.print(f"item #{item.item_id} {item.code} cancelled")


def items_adhoc(case_ref: str = typer.Argument(..., metavar="REF", help="the case")) -> None:
    """A case's ad-hoc items and appointments, with their own titles where you may read them
    (each read is audited)."""
    view = run(cmd.ListAdhoc(case_ref), credential(), clock=state.clock)
    table = Table("#", "kind", "title", "owner", "due", "starts", "status")
    for line in view.lines:
        starts = local_day(line.starts_at) if line.starts_at else ""
        if line.starts_at:
            starts = cmd.local_time(line.starts_at)
        table.add_row(
            str(line.item_id),
            line.kind,
            line.title if line.title is not None else line.kind_title,
            line.owner,
            local_day(line.due_at),
            starts,
            line.status,
        )
    console.print(table)


def register(items: typer.Typer) -> None:
    """Add this part's commands to ``homeward items``."""
    items.command("add")(items_add)
    items.command("reschedule")(items_reschedule)
    items.command("cancel")(items_cancel)
    items.command("adhoc")(items_adhoc)

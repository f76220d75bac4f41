"""``homeward referral``: record and show a case's National Referral Mechanism (NRM) referral;
a thin adapter over ``homeward.commands.referral`` (the engine keeps every rule)."""

from __future__ import annotations

import typer
from rich.table import Table

from homeward.commands import referral
from homeward.commands.runner import run
from homeward.edges.cli.common import (
    console,
    credential,
    expect_version_option,
    local,
    request_id_option,
    state,
)
from homeward.edges.cli.items import parse_day

referral_app = typer.Typer(
    help="A case's NRM referral: ANITP record number, date, referring body.",
    no_args_is_help=True,
)


@referral_app.command("record")
def referral_record(
    case_ref: str,
    record_no: str = typer.Option(
        ..., "--record-no", help="ANITP's record number: letters, digits, - and /, up to 32"
    ),
    on: str = typer.Option(..., "--on", help="the day the person was referred, YYYY-MM-DD"),
    by: str = typer.Option(
        ...,
        "--by",
        help="referring body: police, prosecutor, ngo, iom, dgaspc, labour_inspectorate, "
        "consulate, self, other",
    ),
    expect_version: int = expect_version_option(),
    request_id: str = request_id_option(),
) -> None:
    """Record (or correct) the NRM referral; records its checklist item done as you."""
    command = referral.RecordReferral(
        case_ref, record_no, parse_day(on, "--on"), by, expect_version
    )
    done = run(command, credential(), key=request_id, clock=state.clock)
    what = "corrected" if done.corrected else "recorded"
    console.print(
        f"NRM referral of case {done.case_ref} {what}: referred on {done.referred_on} by "
        f"{done.referring_body}; item {done.item_code} done"
    )


@referral_app.command("show")
def referral_show(case_ref: str) -> None:
    """Show the NRM referral; the record number only to the owner's staff (audited)."""
    shown = run(referral.ShowReferral(case_ref), credential(), clock=state.clock)
    if not shown.recorded:
        console.print(
            f"case {shown.case_ref}: no NRM referral recorded yet (item {shown.item_code}: "
            f"{shown.item_status or 'none'}); record it with `homeward referral record "
            f"{shown.case_ref} --record-no NO --on YYYY-MM-DD --by BODY`"
        )
        return
    table = Table(show_header=False, title=f"NRM referral of case {shown.case_ref}")
    table.add_row("record number", shown.record_no or "(hidden: the case owner's staff read it)")
    table.add_row("referred on", str(shown.referred_on))
    table.add_row("referring body", shown.referring_body or "")
    table.add_row("recorded", f"{local(shown.recorded_at)} by {shown.recorded_by or ''}")
    table.add_row("item", f"{shown.item_code}: {shown.item_status or 'none'}")
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``homeward referral`` to the ``homeward`` app."""
    app.add_typer(referral_app, name="referral")

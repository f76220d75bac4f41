"""``homeward case request-closure / approve-closure / reject-closure``: a closure request
decided from the command line, the same record the Prefect form answers (for when Prefect is
not running, or its waiting run is gone)."""

from __future__ import annotations

import typer

from homeward.base.errors import InvalidInput
from homeward.commands import closures
from homeward.commands.runner import run
from homeward.edges.cli.common import (
    console,
    credential,
    request_id_option,
    state,
    where_now,
)
from statemachines.steps import ClosureReason, ClosureRejection


def _code(enum: type[ClosureReason] | type[ClosureRejection], value: str, option: str) -> str:
    if value not in set(enum):
        raise InvalidInput(f"{option}: {value!r} is not a code; use one of {', '.join(enum)}")
    return value


def case_request_closure(
    case_ref: str,
    reason: str = typer.Option(..., help="proposed closure reason code"),
    request_id: str | None = request_id_option(),
) -> None:
    """Ask a supervisor to approve closing a case (recorded in its history)."""
    code = ClosureReason(_code(ClosureReason, reason, "--reason"))
    command = closures.RequestClosure(case_ref, code)
    asked = run(command, credential(), key=request_id, clock=state.clock)
    console.print(f"closure of case {asked.case_ref} requested; a supervisor decides it")


def case_approve_closure(
    case_ref: str,
    reason: str = typer.Option(None, help="closure reason code (default: the requested one)"),
) -> None:
    """Approve the pending closure request (a supervisor who did not ask for it): it closes."""
    code = ClosureReason(_code(ClosureReason, reason, "--reason")) if reason else None
    closed = run(closures.ApproveClosure(case_ref, code), credential(), clock=state.clock)
    console.print(f"case {closed.case_ref} is now {where_now(closed.state)}")


def case_reject_closure(
    case_ref: str,
    code: str = typer.Option(..., "--code", help="why not: a rejection code"),
    request_id: str | None = request_id_option(),
) -> None:
    """Do not approve the pending closure request; the case stays where it is."""
    rejection = ClosureRejection(_code(ClosureRejection, code, "--code"))
    command = closures.RejectClosure(case_ref, rejection)
    rejected = run(command, credential(), key=request_id, clock=state.clock)
    console.print(f"closure of case {rejected.case_ref} not approved ({rejection})")


def register(case_app: typer.Typer) -> None:
    """Add these commands to ``homeward case``."""
    case_app.command("request-closure")(case_request_closure)
    case_app.command("approve-closure")(case_approve_closure)
    case_app.command("reject-closure")(case_reject_closure)

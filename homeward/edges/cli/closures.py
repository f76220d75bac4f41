"""``homeward case request-closure / approve-closure / reject-closure``: a closure request
decided from the command line, the same record the Prefect form answers (for when Prefect is
not running, or its waiting run is gone)."""

from __future__ import annotations

import typer

from homeward.base.errors import InvalidInput
from homeward.edges.cli.common import actor, console, now, writing
from statemachines.approvals import approve_closure, closable, reject_closure
from statemachines.closure_requests import request_closure
from statemachines.steps import ClosureReason, ClosureRejection


def _code(enum: type[ClosureReason] | type[ClosureRejection], value: str, option: str) -> str:
    if value not in set(enum):
        raise InvalidInput(f"{option}: {value!r} is not a code; use one of {', '.join(enum)}")
    return value


def case_request_closure(
    case_ref: str,
    reason: str = typer.Option(..., help="proposed closure reason code"),
) -> None:
    """Ask a supervisor to approve closing a case (recorded in its history)."""
    code = ClosureReason(_code(ClosureReason, reason, "--reason"))
    with writing() as session:
        who = actor(session)
        case = closable(session, case_ref=case_ref, actor=who)
        request_closure(session, case=case, actor=who, reason=code, flow_run_id=None, now=now())
        console.print(f"closure of case {case.case_ref} requested; a supervisor decides it")


def case_approve_closure(
    case_ref: str,
    reason: str = typer.Option(None, help="closure reason code (default: the requested one)"),
) -> None:
    """Approve the pending closure request (a supervisor who did not ask for it): it closes."""
    code = ClosureReason(_code(ClosureReason, reason, "--reason")) if reason else None
    with writing() as session:
        who = actor(session)
        case = approve_closure(session, case_ref=case_ref, actor=who, reason=code, now=now())
        console.print(f"case {case.case_ref} is now in stage {case.state}")


def case_reject_closure(
    case_ref: str,
    code: str = typer.Option(..., "--code", help="why not: a rejection code"),
) -> None:
    """Do not approve the pending closure request; the case stays where it is."""
    rejection = ClosureRejection(_code(ClosureRejection, code, "--code"))
    with writing() as session:
        who = actor(session)
        case = reject_closure(
            session,
            case_ref=case_ref,
            actor=who,
            approver_email=who.email,
            rejection=rejection,
            now=now(),
        )
        console.print(f"closure of case {case.case_ref} not approved ({rejection})")


def register(case_app: typer.Typer) -> None:
    """Add these commands to ``homeward case``."""
    case_app.command("request-closure")(case_request_closure)
    case_app.command("approve-closure")(case_approve_closure)
    case_app.command("reject-closure")(case_reject_closure)

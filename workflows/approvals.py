"""A supervisor's approval inside a running flow: ``advance-case`` with ``close`` records a
closure request, pauses, and the Prefect UI shows the ``ClosureDecision`` form.

The request is a record in Homeward's database (``statemachines.closure_requests``), so it
outlives this run: a run started later for the same pending request takes it over, and a
supervisor may decide it from the CLI instead. The form holds a yes/no, the approver's staff
email and reason codes from fixed lists: no free text, so nothing typed there can carry a
person's data. An answer that cannot be recorded (a rejection without its code, someone not a
supervisor, the requester approving their own request) pauses again, saying what was wrong.
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import apause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from pydantic import EmailStr, Field

from homeward.base.db import read_session, write_session
from homeward.base.errors import Conflict, InvalidInput, NotFound, Refused
from homeward.base.settings import get_settings
from homeward.records.directory import acting, validate
from statemachines.approvals import approver_for, closable, expire_closure_request, reject_closure
from statemachines.cases import get_case
from statemachines.closure_requests import (
    ClosureRequest,
    latest_request,
    pending_request,
    renew_request,
    request_closure,
)
from statemachines.steps import ClosureReason, ClosureRejection, Step
from workflows.closure_runs import run_is_live
from workflows.moves import after_transition, fire_step
from workflows.runtime import CaseView, engine_errors, in_engine, label_run, now

SLIPS = (InvalidInput, Refused, NotFound)  # an answer the supervisor can correct in the form


class ClosureDecision(RunInput):
    """Close this case? Decided by a supervisor of the case's owner organisation."""

    approve: bool = Field(description="Approve closing this case")
    approver_email: EmailStr = Field(
        description="Your staff email (a supervisor of the case's owner organisation)"
    )
    reason: ClosureReason = Field(description="Why the case closes (fixed list)")
    rejection: ClosureRejection | None = Field(
        default=None, description="If you do not approve: why not (fixed list)"
    )


class CloseRequest(Step):
    """What ``advance-case`` takes for ``close``: the proposed reason, nothing else."""

    reason: ClosureReason | None = None


def _request(data: dict[str, Any]) -> CloseRequest:
    if "approved_by" in data:
        raise InvalidInput(
            "data.approved_by: a closure started here is approved in the paused run's form; "
            "leave approved_by out"
        )
    return validate(CloseRequest, **data)


def form_problem(decision: ClosureDecision) -> str | None:
    """What makes the form's answer contradict itself, or None."""
    if not decision.approve and decision.rejection is None:
        return "rejection: say why the closure is not approved; choose one of " + ", ".join(
            ClosureRejection
        )
    if decision.approve and decision.rejection is not None:
        return "rejection: leave it empty when you approve, or switch approve off"
    return None


def _check(case_ref: str, acting_email: str) -> CaseView:
    with read_session() as session:
        actor = acting(session=session, email=acting_email)
        return CaseView.of(session, closable(session, case_ref=case_ref, actor=actor))


def _pending(case_ref: str, acting_email: str) -> ClosureRequest | None:
    with read_session() as session:
        actor = acting(session=session, email=acting_email)
        return pending_request(session, closable(session, case_ref=case_ref, actor=actor))


def _record(case_ref: str, acting_email: str, reason: str | None, run_id: str | None) -> int:
    """Record this run's request (new, or taken over from a run that is gone); its event id."""
    with write_session() as session:
        actor = acting(session=session, email=acting_email)
        case = closable(session, case_ref=case_ref, actor=actor)
        if (found := pending_request(session, case)) is not None and run_id is not None:
            renew_request(session, case=case, flow_run_id=run_id, now=now(), actor=actor)
            return found.event_id
        made = request_closure(
            session, case=case, actor=actor, reason=reason, flow_run_id=run_id, now=now()
        )
        return made.event_id


async def open_request(view: CaseView, acting_email: str, reason: str | None) -> int:
    """The pending request this run waits for; refused while another live run waits for it."""
    run_id = flow_run.get_id()
    found = await in_engine(lambda: _pending(view.case_ref, acting_email))
    if found and found.flow_run_id != run_id and await run_is_live(found.flow_run_id):
        raise Conflict(
            f"a closure of case {view.case_ref} is already requested and waits in flow run "
            f"{found.flow_run_id}; answer it there or with "
            f"`homeward case approve-closure {view.case_ref}`"
        )
    return await in_engine(lambda: _record(view.case_ref, acting_email, reason, run_id))


async def ask_supervisor(
    view: CaseView, reason: str | None, problem: str | None = None
) -> ClosureDecision | None:
    """Pause the run until a supervisor answers the form; None if the approval timeout passed."""
    settings = get_settings()
    again = f" Your last answer was not recorded: {problem}. Answer again." if problem else ""
    form = ClosureDecision.with_initial_data(
        description=f"Close case {view.case_ref} (stage {view.state})?{again}",
        **({"reason": reason} if reason else {}),
    )
    get_run_logger().info("case %s: closure awaits a supervisor's decision", view.case_ref)
    try:
        return await apause_flow_run(
            wait_for_input=form,
            timeout=settings.approval_timeout_seconds,
            poll_interval=settings.approval_poll_seconds,
        )
    except FlowPauseTimeout:
        return None


def _settled(case_ref: str, acting_email: str, request_id: int) -> str | None:
    """The request's status if it was decided elsewhere (the CLI) meanwhile, else None."""
    with read_session() as session:
        actor = acting(session=session, email=acting_email)
        latest = latest_request(session, get_case(session, case_ref=case_ref, actor=actor))
    if latest is None or latest.event_id != request_id:
        return "superseded"
    return None if latest.status == "pending" else latest.status


def _approver_ok(case_ref: str, acting_email: str, email: str) -> None:
    with read_session() as session:
        actor = acting(session=session, email=acting_email)
        case = closable(session, case_ref=case_ref, actor=actor)
        approver_for(session, case, email, acting=actor)


def _reject(case_ref: str, acting_email: str, decision: ClosureDecision) -> CaseView:
    assert decision.rejection is not None  # noqa: S101 (form_problem checked it)
    rejection = decision.rejection
    with write_session() as session:
        actor = acting(session=session, email=acting_email)
        case = reject_closure(
            session,
            case_ref=case_ref,
            actor=actor,
            approver_email=str(decision.approver_email),
            rejection=rejection,
            now=now(),
        )
        return CaseView.of(session, case)


async def decide(
    case_ref: str, acting_email: str, decision: ClosureDecision, key: str | None
) -> dict[str, Any]:
    """Record the supervisor's answer: the case closes, or the refusal is in its history."""
    if not decision.approve:
        rejected = await in_engine(lambda: _reject(case_ref, acting_email, decision))
        get_run_logger().info("case %s: closure not approved", rejected.case_ref)
        return rejected.summary(decision="rejected", rejection=str(decision.rejection))
    email = str(decision.approver_email)
    await in_engine(lambda: _approver_ok(case_ref, acting_email, email))
    step = {"reason": decision.reason, "approved_by": email}
    closed, stages = await in_engine(lambda: fire_step(case_ref, "close", acting_email, step, key))
    await after_transition(closed, "close", stages)
    return closed.summary(decision="approved", reason=str(decision.reason))


def _expire(case_ref: str, acting_email: str) -> CaseView:
    waited = get_settings().approval_timeout_seconds
    with write_session() as session:
        actor = acting(session=session, email=acting_email)
        case = expire_closure_request(
            session, case_ref=case_ref, actor=actor, waited_seconds=waited, now=now()
        )
        return CaseView.of(session, case)


async def _expired(case_ref: str, acting_email: str) -> Refused:
    expired = await in_engine(lambda: _expire(case_ref, acting_email))
    return Refused(
        f"closure of case {expired.case_ref} was not decided within "
        f"{get_settings().approval_timeout_seconds} s; the case stays in {expired.state}: "
        "ask again with advance-case close"
    )


async def close_with_approval(
    case_ref: str, acting_email: str, data: dict[str, Any], key: str | None = None
) -> dict[str, Any]:
    """Check the case may close, record the request, wait for a supervisor's valid answer."""
    with engine_errors():
        asked = _request(data)
    view = await in_engine(lambda: _check(case_ref, acting_email))
    await label_run(view, "close")
    request_id = await open_request(view, acting_email, asked.reason)
    problem: str | None = None
    while True:
        decision = await ask_supervisor(view, asked.reason, problem)
        settled = await in_engine(lambda: _settled(case_ref, acting_email, request_id))
        if settled:  # decided from the CLI meanwhile: nothing left to record here
            return view.summary(decision=settled)
        if decision is None:
            raise await _expired(case_ref, acting_email)
        problem = form_problem(decision)
        if problem is None:
            try:
                return await decide(case_ref, acting_email, decision, key)
            except SLIPS as exc:
                await in_engine(lambda: _check(case_ref, acting_email))  # the case can't close
                problem = str(exc)
        get_run_logger().info("case %s: answer not recorded (%s); asking again", case_ref, problem)

"""A supervisor's approval inside a running flow: ``advance-case`` with ``close`` pauses and
the Prefect UI shows the ``ClosureDecision`` form; the run resumes with the answer.

The form holds a yes/no, the approver's staff email and reason codes from fixed lists: no free
text, so nothing typed there can carry a person's data. The engine records the decision: an
approval is the ``close`` transition naming the approver, a refusal a ``closure_rejected``
event. The case is checked before pausing, so nobody is asked to approve an impossible step.
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import apause_flow_run
from prefect.input import RunInput
from pydantic import EmailStr, Field

from homeward.db import read_session, write_session
from homeward.directory import acting, validate
from homeward.errors import InvalidInput, Refused
from homeward.settings import get_settings
from statemachines.approvals import closable, expire_closure_request, reject_closure
from statemachines.steps import ClosureReason, ClosureRejection, Step
from workflows.moves import after_transition, fire_step
from workflows.runtime import CaseView, engine_errors, in_engine, label_run, now


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


def _check(case_ref: str, acting_email: str) -> CaseView:
    with read_session() as session:
        actor = acting(session=session, email=acting_email)
        return CaseView.of(session, closable(session, case_ref=case_ref, actor=actor))


def _reject(case_ref: str, acting_email: str, decision: ClosureDecision) -> CaseView:
    if decision.rejection is None:
        raise InvalidInput(
            "rejection: say why the closure is not approved; choose one of "
            + ", ".join(ClosureRejection)
        )
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


async def ask_supervisor(view: CaseView, reason: ClosureReason | None) -> ClosureDecision | None:
    """Pause the run until a supervisor answers the form; None if the approval timeout passed."""
    settings = get_settings()
    form = ClosureDecision.with_initial_data(
        description=f"Close case {view.case_ref} (stage {view.state})?",
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


def _expire(case_ref: str, acting_email: str) -> CaseView:
    waited = get_settings().approval_timeout_seconds
    with write_session() as session:
        actor = acting(session=session, email=acting_email)
        case = expire_closure_request(
            session, case_ref=case_ref, actor=actor, waited_seconds=waited, now=now()
        )
        return CaseView.of(session, case)


async def close_with_approval(
    case_ref: str, acting_email: str, data: dict[str, Any], key: str | None = None
) -> dict[str, Any]:
    """Check the case may close, wait for the supervisor, then close it or record the refusal."""
    with engine_errors():
        request = _request(data)
    view = await in_engine(lambda: _check(case_ref, acting_email))
    await label_run(view, "close")
    decision = await ask_supervisor(view, request.reason)
    if decision is None:
        expired = await in_engine(lambda: _expire(case_ref, acting_email))
        raise Refused(
            f"closure of case {expired.case_ref} was not decided within "
            f"{get_settings().approval_timeout_seconds} s; the case stays in {expired.state}: "
            "ask again with advance-case close"
        )
    if not decision.approve:
        rejected = await in_engine(lambda: _reject(case_ref, acting_email, decision))
        get_run_logger().info("case %s: closure not approved", rejected.case_ref)
        return rejected.summary(decision="rejected", rejection=str(decision.rejection))
    step = {"reason": decision.reason, "approved_by": str(decision.approver_email)}
    closed, stages = await in_engine(lambda: fire_step(case_ref, "close", acting_email, step, key))
    await after_transition(closed, "close", stages)
    return closed.summary(decision="approved", reason=str(decision.reason))

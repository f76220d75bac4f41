"""The forms that change a case's status (``statemachines.return_case.STATUS_TRANSITIONS``):
suspend, resume, lose and regain contact, withdraw consent, close (which waits for a
supervisor's approval in the paused run's form), reopen. One deployment per kind of step, each
asking exactly what its step needs: reasons from fixed lists, dates as dates.

Like ``workflows.stage_forms``, several small flows in one module over the same path. A run is
named ``case-<case_ref>/<trigger>``; ``wait-for-closure`` is started by ``homeward up`` only,
for a pending closure request whose waiting run its last stop cancelled.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any

from prefect import flow
from prefect.client.schemas.objects import State

from statemachines.steps import ClosureReason, ReopenReason, SuspendReason
from workflows.advance_case import advance, wait_for_closure
from workflows.forms import FORM, Assertion, CaseRef, RequestId, checked, step_data, takes_codes
from workflows.refusals import refusals_end_runs
from workflows.runtime import case_run_name

SUSPEND, STATUS, WITHDRAW, CLOSE, REOPEN, WAIT = (
    "suspend-case",
    "change-status",
    "withdraw-consent",
    "close-case",
    "reopen-case",
    "wait-for-closure",
)


@refusals_end_runs
@takes_codes
@flow(name=SUSPEND, flow_run_name=case_run_name("suspend"), **FORM)
async def suspend_case(
    case_ref: CaseRef,
    reason: SuspendReason,
    assertion: Assertion = "",
    request_id: RequestId | None = None,
) -> dict[str, Any] | State[Any]:
    """Suspend an active case (it keeps its stage; resuming returns to it).

    Args:
        case_ref: the case's reference, as its page in the staff workspace shows it.
        reason: why.
        assertion: who acts, proven: paste what `homeward assertion --flow suspend-case`
            prints (it works for this one run).
        request_id: leave it empty (a retry of this run then records nothing twice).
    """
    await checked()
    return await advance(
        SUSPEND, case_ref, "suspend", assertion, step_data(reason=reason), request_id
    )


class StatusMove(StrEnum):
    """The status steps that take no data."""

    RESUME = "resume"
    LOSE_CONTACT = "lose_contact"
    REGAIN_CONTACT = "regain_contact"


@refusals_end_runs
@takes_codes
@flow(name=STATUS, flow_run_name=case_run_name("status"), **FORM)
async def change_status(
    case_ref: CaseRef,
    trigger: StatusMove,
    assertion: Assertion = "",
    request_id: RequestId | None = None,
) -> dict[str, Any] | State[Any]:
    """Resume a suspended case (after a new risk assessment), or record contact lost or
    regained.

    Args:
        case_ref: the case's reference, as its page in the staff workspace shows it.
        trigger: the step.
        assertion: who acts, proven: paste what `homeward assertion --flow change-status`
            prints (it works for this one run).
        request_id: leave it empty (a retry of this run then records nothing twice).
    """
    await checked()
    return await advance(STATUS, case_ref, str(trigger), assertion, {}, request_id)


@refusals_end_runs
@takes_codes
@flow(name=WITHDRAW, flow_run_name=case_run_name("withdraw_consent"), **FORM)
async def withdraw_consent(
    case_ref: CaseRef,
    withdrawn_on: date | None = None,
    assertion: Assertion = "",
    request_id: RequestId | None = None,
) -> dict[str, Any] | State[Any]:
    """Record that the person withdrew consent: work and sharing stop, partners are told.

    Args:
        case_ref: the case's reference, as its page in the staff workspace shows it.
        withdrawn_on: the day (empty: today).
        assertion: who acts, proven: paste what `homeward assertion --flow withdraw-consent`
            prints (it works for this one run).
        request_id: leave it empty (a retry of this run then records nothing twice).
    """
    await checked()
    data = step_data(withdrawn_on=withdrawn_on)
    return await advance(WITHDRAW, case_ref, "withdraw_consent", assertion, data, request_id)


@refusals_end_runs
@takes_codes
@flow(name=CLOSE, flow_run_name=case_run_name("close"), **FORM)
async def close_case(
    case_ref: CaseRef,
    reason: ClosureReason,
    assertion: Assertion = "",
    request_id: RequestId | None = None,
) -> dict[str, Any] | State[Any]:
    """Ask to close a case: the run waits, paused, for a supervisor's answer in its form.

    Args:
        case_ref: the case's reference, as its page in the staff workspace shows it.
        reason: why the case closes.
        assertion: who asks, proven: paste what `homeward assertion --flow close-case`
            prints (it works for this one run).
        request_id: leave it empty (a retry of this run then asks nothing twice).
    """
    await checked()
    data = step_data(reason=reason)
    return await advance(CLOSE, case_ref, "close", assertion, data, request_id)


@refusals_end_runs
@takes_codes
@flow(name=REOPEN, flow_run_name=case_run_name("reopen"), **FORM)
async def reopen_case(
    case_ref: CaseRef,
    reason: ReopenReason,
    assertion: Assertion = "",
    request_id: RequestId | None = None,
) -> dict[str, Any] | State[Any]:
    """Reopen a closed case (suspended, with a new risk assessment to make).

    Args:
        case_ref: the case's reference, as its page in the staff workspace shows it.
        reason: why.
        assertion: who acts, proven: paste what `homeward assertion --flow reopen-case`
            prints (it works for this one run).
        request_id: leave it empty (a retry of this run then records nothing twice).
    """
    await checked()
    return await advance(
        REOPEN, case_ref, "reopen", assertion, step_data(reason=reason), request_id
    )


@refusals_end_runs
@takes_codes
@flow(name=WAIT, flow_run_name=case_run_name("close"), **FORM)
async def wait_for_closure_approval(
    case_ref: CaseRef, closure_request: int
) -> dict[str, Any] | State[Any]:
    """Started by `homeward up` only: wait again for a supervisor's answer to a pending
    closure request whose waiting run is gone (asked with ``close-case``).

    Args:
        case_ref: the case's reference.
        closure_request: the request's number.
    """
    await checked()
    return await wait_for_closure(case_ref, closure_request, None)

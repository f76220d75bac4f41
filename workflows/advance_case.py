"""Flow ``advance-case``: fire a trigger on a case with its step data, for Python callers.

The Prefect UI does not serve it: people use one typed form per kind of step instead
(``workflows.stage_forms``, ``workflows.status_forms``), which all fire through ``advance``.

The run acts for the person its ``assertion`` proves (``homeward assertion --flow
advance-case``), checked before anything changes. ``close`` waits for a supervisor inside the
run (``workflows.approvals``). Step data is validated by the engine, whose errors name the
field, never its value; it is never logged.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.client.schemas.objects import State
from prefect.runtime import flow_run

from homeward.base.caseref import looks_like_ref
from homeward.base.errors import HomewardError, InvalidInput
from homeward.records.idempotency import flow_key
from statemachines.return_case import ALL_TRIGGERS
from workflows.approvals import close_with_approval, closure_ending, wait_again
from workflows.forms import scrub
from workflows.moves import after_transition, fire_step
from workflows.refusals import refusals_end_runs
from workflows.runtime import SCHEDULER, case_run_name, engine_errors, prove_run, run_credential

FLOW = "advance-case"


@refusals_end_runs
@flow(name=FLOW, flow_run_name=case_run_name("advance"), persist_result=False)
async def advance_case(
    case_ref: str,
    trigger: str,
    assertion: str = "",
    data: dict[str, Any] | None = None,
    request_id: str | None = None,
    closure_request: int | None = None,
) -> dict[str, Any] | State[Any]:
    """Move a case to its next stage (or suspend, resume, withdraw, close, reopen it).

    Args:
        case_ref: the case, e.g. ``RT-7KQ2-M9``.
        trigger: what happens, e.g. ``record_consent``, ``arrange_travel``, ``close``.
        assertion: who acts, proven: paste the output of
            ``homeward assertion --flow advance-case`` (it works for this one run).
        data: the trigger's step data, e.g. ``{"method": "signed", "language": "ro"}``; for
            ``close`` only ``reason``: the approval is asked for in the paused run's form.
        request_id: an idempotency key (8-100 of letters, digits and ``. _ : -``); by default
            the flow run's id, so a retry of this run does not fire the trigger twice.
        closure_request: set by ``homeward up`` only, for a run it starts to wait again for a
            pending closure request whose run is gone; leave it empty.

    Returns:
        The case_ref, its stage before and after, and the owner organisation kind. A closure
        not approved ends the run in a Completed state named ``Closure rejected`` (the code in
        its message), a step the engine refuses in one named ``Refused``
        (``workflows.refusals``): neither is a failure.
    """
    trigger = trigger.strip()
    try:
        if closure_request is None:
            return await advance(FLOW, case_ref, trigger, assertion, data, request_id)
        if trigger != "close" or assertion:
            raise InvalidInput(
                "closure_request: only `homeward up` sets it, for close without an assertion"
            )
        return await wait_for_closure(case_ref, closure_request, request_id)
    except HomewardError:
        # scrubbed here, inside the run, before ``refusals_end_runs`` (over the flow) ends it
        await scrub(*_free(case_ref, trigger))  # what a caller typed stays out of Prefect
        raise


def _free(case_ref: str, trigger: str) -> list[str]:
    """The parameters of a refused run that may hold free text: its data, and a case_ref or
    trigger that is not one."""
    odd = {"case_ref": not looks_like_ref(case_ref), "trigger": trigger not in ALL_TRIGGERS}
    return ["data", *(name for name, bad in odd.items() if bad)]


async def advance(
    flow_name: str,
    case_ref: str,
    trigger: str,
    assertion: str,
    data: dict[str, Any] | None,
    request_id: str | None,
) -> dict[str, Any] | State[Any]:
    """Fire ``trigger`` as the person the run's assertion (issued for ``flow_name``) proves:
    what every case form's flow does (``workflows.stage_forms``, ``workflows.status_forms``)."""
    with engine_errors():
        key = flow_key(flow_run.get_id(), "advance", request_id)
    credential = run_credential(assertion, flow_name)
    await prove_run(credential)  # a bad assertion is refused before anything changes
    if trigger == "close":
        return closure_ending(await close_with_approval(case_ref, credential, data or {}, key))
    view, stages = await fire_step(credential, case_ref, trigger, data, key)
    await after_transition(view, trigger, stages)
    return view.summary()


async def wait_for_closure(
    case_ref: str, closure_request: int, request_id: str | None
) -> dict[str, Any] | State[Any]:
    """Wait again, as the scheduler, for a pending closure request whose run is gone; a
    rejected closure ends the run ``Closure rejected`` (``workflows.approvals.closure_ending``)."""
    with engine_errors():
        key = flow_key(flow_run.get_id(), "advance", request_id)
    return closure_ending(await wait_again(case_ref, closure_request, SCHEDULER, key))

"""Flow ``advance-case``: fire a trigger on a case with its step data.

``close`` waits for a supervisor inside the run (``workflows.approvals``). Step data is
validated by the engine, whose errors name the field, never its value; it is never logged.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from homeward.records.idempotency import flow_key
from workflows.approvals import close_with_approval
from workflows.moves import after_transition, fire_step
from workflows.runtime import case_run_name, engine_errors, in_engine


@flow(name="advance-case", flow_run_name=case_run_name("advance"), persist_result=False)
async def advance_case(
    case_ref: str,
    trigger: str,
    acting_email: str,
    data: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Move a case to its next stage (or suspend, resume, withdraw, close, reopen it).

    Args:
        case_ref: the case, e.g. ``RT-7KQ2-M9``.
        trigger: what happens, e.g. ``record_consent``, ``arrange_travel``, ``close``.
        acting_email: the coordinator or supervisor acting (their staff email).
        data: the trigger's step data, e.g. ``{"method": "signed", "language": "ro"}``; for
            ``close`` only ``reason``: the approval is asked for in the paused run's form.
        request_id: an idempotency key (8-100 of letters, digits and ``. _ : -``); by default
            the flow run's id, so a retry of this run does not fire the trigger twice.

    Returns:
        The case_ref, its stage before and after, and the owner organisation kind.
    """
    trigger = trigger.strip()
    with engine_errors():
        key = flow_key(flow_run.get_id(), "advance", request_id)
    if trigger == "close":
        return await close_with_approval(case_ref, acting_email, data or {}, key)
    view, stages = await in_engine(lambda: fire_step(case_ref, trigger, acting_email, data, key))
    await after_transition(view, trigger, stages)
    return view.summary()

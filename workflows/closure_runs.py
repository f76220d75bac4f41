"""Which Prefect run waits for a closure request, and a new one when it is gone.

The request itself is a record in Homeward's database (``statemachines.closure_requests``);
a paused ``close-case`` run is only where the Prefect UI shows its form. When ``homeward up``
stops, Prefect cancels the paused run; at the next start ``renew_waiting_runs`` starts a new
``wait-for-closure`` run for every pending request whose run is gone and records that in the
case's history. It acts as the scheduler, never as the requester (who was proven when the
request was recorded): the new run's parameters carry the case_ref and the request's id, and
the run checks that the request was renewed to it before it waits.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.objects import StateType
from prefect.exceptions import ObjectNotFound

from homeward.commands.closure_runs import PendingClosures, RenewClosure
from workflows.runtime import SCHEDULER, command

LIVE = {StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.CANCELLING}


async def run_is_live(flow_run_id: str | None) -> bool:
    """True while the run can still take an answer (a paused run until its timeout)."""
    if flow_run_id is None:
        return False
    async with get_client() as client:
        try:
            run = await client.read_flow_run(UUID(flow_run_id))
        except (ObjectNotFound, ValueError):
            return False
    state = run.state
    if state is None:
        return False
    if state.type == StateType.PAUSED:
        timeout = state.state_details.pause_timeout
        return timeout is None or timeout > datetime.now(UTC)
    return state.type in LIVE


async def renew_waiting_runs(deployment_id: UUID) -> list[str]:
    """Start ``wait-for-closure`` (``deployment_id``) for each pending request whose run is
    gone; their case_refs.

    Run before the runner starts, so each new run finds its request renewed to it.
    """
    renewed = []
    for waiting in await command(PendingClosures(), SCHEDULER):
        if await run_is_live(waiting.flow_run_id):
            continue
        parameters = {"case_ref": waiting.case_ref, "closure_request": waiting.request_id}
        async with get_client() as client:
            run = await client.create_flow_run_from_deployment(
                deployment_id, parameters=parameters, tags=["homeward", "closure-renewed"]
            )
        renew = RenewClosure(waiting.case_ref, waiting.request_id, str(run.id))
        await command(renew, SCHEDULER)
        renewed.append(waiting.case_ref)
    return renewed

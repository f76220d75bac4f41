"""Which Prefect run waits for a closure request, and a new one when it is gone.

The request itself is a record in Homeward's database (``statemachines.closure_requests``);
a paused ``advance-case`` run is only where the Prefect UI shows its form. When ``homeward up``
stops, Prefect cancels the paused run; at the next start ``renew_waiting_runs`` starts a new
``advance-case close`` for every pending request whose run is gone and records that in the
case's history. Parameters carry the case_ref, the requester's staff email and a reason code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.objects import StateType
from prefect.exceptions import ObjectNotFound

from homeward.base.db import read_session, system_scope, write_session
from homeward.base.models import StaffMember
from statemachines.cases import allowed_triggers
from statemachines.closure_requests import all_pending, renew_request
from workflows.runtime import in_engine, now

LIVE = {StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.CANCELLING}


@dataclass(frozen=True)
class Orphan:
    """A pending request to wait for again: its case, requester (staff email) and reason."""

    case_ref: str
    requester: str
    reason: str | None
    flow_run_id: str | None


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


def _pending_requests() -> list[Orphan]:
    """Pending requests on cases that may still close, with their requester's email."""
    found = []
    with read_session() as session, system_scope(session):
        for case, request in all_pending(session):
            requester = session.get(StaffMember, request.requested_by_id)
            if requester is None or "close" not in allowed_triggers(case):
                continue  # the case left the stages it may close from: nothing to wait for
            ref, reason, run_id = case.case_ref, request.reason, request.flow_run_id
            found.append(Orphan(ref, requester.email, reason, run_id))
    return found


def _renewed(case_ref: str, flow_run_id: str) -> None:
    with write_session() as session, system_scope(session):  # the system acts, for no org
        for case, _request in all_pending(session):
            if case.case_ref == case_ref:
                renew_request(session, case=case, flow_run_id=flow_run_id, now=now(), actor=None)


async def renew_waiting_runs(deployment_id: UUID) -> list[str]:
    """Start ``advance-case close`` for each pending request whose run is gone; their case_refs.

    Run before the runner starts, so each new run finds its request renewed to it.
    """
    renewed = []
    for orphan in await in_engine(_pending_requests):
        if await run_is_live(orphan.flow_run_id):
            continue
        parameters = {
            "case_ref": orphan.case_ref,
            "trigger": "close",
            "acting_email": orphan.requester,
            "data": {"reason": orphan.reason} if orphan.reason else {},
        }
        async with get_client() as client:
            run = await client.create_flow_run_from_deployment(
                deployment_id, parameters=parameters, tags=["homeward", "closure-renewed"]
            )
        await in_engine(lambda: _renewed(orphan.case_ref, str(run.id)))  # noqa: B023
        renewed.append(orphan.case_ref)
    return renewed

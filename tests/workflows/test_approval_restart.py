"""A pending closure request outlives ``homeward up``: the first serving stops the way Ctrl-C
stops it (Prefect cancels the paused run), the next one finds the request in Homeward's
database, starts a new waiting run and records that; the supervisor then answers it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import UUID

import pytest
from prefect import get_client
from prefect.client.schemas.objects import StateType
from prefect.deployments import run_deployment
from prefect.flow_runs import resume_flow_run
from prefect.settings import PREFECT_API_URL
from sqlmodel import col, select

from homeward.base.clock import SimulatedClock
from homeward.base.models import CaseEvent
from homeward.edges.cli import up
from tests import factories
from tests.factories import COORD, SUPERVISOR
from tests.signin import assertion_for
from tests.workflows.helpers import chosen, next_pause, run_named
from workflows.deployments import build_deployments

pytestmark = pytest.mark.usefixtures("homeward")
REASON = "support_period_ended"


class Serving:
    """One ``homeward up`` serving (``up._serve``) on the test's Prefect server."""

    def __init__(self, home: Path) -> None:
        served = ("close-case", "wait-for-closure")
        deployments = [d for d in build_deployments() if d.name in served]
        self.stop = asyncio.Event()
        api = str(PREFECT_API_URL.value())
        self.task = asyncio.create_task(
            up._serve(api, home, deployments, self.stop, None, None, "-")
        )

    async def stopped(self) -> None:
        self.stop.set()
        await self.task


async def _deployment_ready(wait: float = 60) -> None:
    async with get_client() as client:
        for _ in range(int(wait * 5)):
            try:
                await client.read_deployment_by_name("wait-for-closure/wait-for-closure")
                return
            except Exception:  # noqa: BLE001 (not registered yet)
                await asyncio.sleep(0.2)
    raise AssertionError("wait-for-closure was not registered")


async def _state(run_id: UUID) -> StateType | None:
    async with get_client() as client:
        run = await client.read_flow_run(run_id)
    return run.state.type if run.state else None


async def _restart_and_approve(ref: str, home: Path) -> tuple[StateType | None, str]:
    name, seen = f"case-{ref}/close", set[str]()
    first = Serving(home)
    await _deployment_ready()
    asks = assertion_for(COORD, "close-case")
    params = {"case_ref": ref, "reason": f"The support period ended ({REASON})", "assertion": asks}
    await run_deployment("close-case/close-case", parameters=params, timeout=0)
    paused, _ = await next_pause(name, seen, wait=180)
    await first.stopped()
    gone = await _state(paused.id)

    second = Serving(home)
    waiting, _ = await next_pause(name, seen, wait=180)
    assert waiting.id != paused.id
    decides = assertion_for(SUPERVISOR, "approve-closure")
    answer = {"approve": True, "assertion": decides, "reason": REASON}
    await resume_flow_run(waiting.id, run_input=chosen(answer))
    done = await run_named(name, state="Completed", wait=120)
    await second.stopped()
    return gone, str(done.id)


def _closure_history(ref: str) -> list[CaseEvent]:
    case = factories.load_case(ref)
    with factories.admin_read() as s:
        query = select(CaseEvent).where(
            CaseEvent.case_id == case.id,
            col(CaseEvent.trigger).in_(["closure_requested", "closure_request_renewed", "close"]),
        )
        return list(s.exec(query.order_by(col(CaseEvent.id))))


def test_a_pending_closure_survives_a_restart_of_homeward_up(
    clock: SimulatedClock, tmp_path: Path
) -> None:
    ref = factories.open_case(clock)
    factories.drive_to(ref, "reintegration", clock)
    factories.complete_stage(ref, clock)

    gone, done_id = asyncio.run(_restart_and_approve(ref, tmp_path))

    assert gone in {StateType.CANCELLED, StateType.CRASHED}
    case = factories.load_case(ref)
    assert case.phase == "closed" and case.closure_reason == "support_period_ended"
    asked, renewed, closed = _closure_history(ref)
    assert (asked.trigger, renewed.trigger, closed.trigger) == (
        "closure_requested",
        "closure_request_renewed",
        "close",
    )
    assert renewed.data["flow_run_id"] == done_id
    assert renewed.data["replaces"] == asked.data["flow_run_id"]
    # the renewal is the scheduler's, never the requester's; the decision the supervisor's
    assert (renewed.actor_id, renewed.proof) == (None, "service scheduler")
    assert asked.proof is not None and asked.proof.startswith(f"run {asked.data['flow_run_id']} ")
    assert closed.proof is not None and closed.proof.startswith(f"run {done_id} for session ")
    assert closed.actor_id is not None and closed.actor_id != asked.actor_id

"""A run scheduled again after crashing (deploy/automations.yaml) runs again until it has
crashed ``MAX_CRASHES`` times; then it ends Failed with one line, doing nothing. Real Prefect
server (the test harness): the run's history is given its crashes through the client."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prefect import get_client
from prefect.client.schemas.objects import StateType
from prefect.flow_engine import run_flow_async
from prefect.states import Crashed, Scheduled

from tests.workflows.helpers import log_of
from workflows.advance_case import advance_case
from workflows.crash_loops import BOUND, MAX_CRASHES, too_many_crashes
from workflows.deployments import DEPLOYMENTS

pytestmark = pytest.mark.usefixtures("homeward")
# a run that, when it runs, is refused at once (its assertion proves nobody): it ends Refused
PARAMS = {"case_ref": "RT-AAAA-AA", "trigger": "suspend", "assertion": "not.an-assertion"}


async def _run_after_crashes(crashes: int) -> tuple[Any, list[tuple[int, str]]]:
    """A run that crashed ``crashes`` times, each time scheduled again as the automation does,
    then started: its final state and log."""
    async with get_client() as client:
        made = await client.create_flow_run(advance_case, parameters=PARAMS)
        for _ in range(crashes):
            await client.set_flow_run_state(made.id, Crashed(message="worker died"), force=True)
            await client.set_flow_run_state(
                made.id, Scheduled(name="AwaitingRetry", message="scheduled again"), force=True
            )
        ready = await client.read_flow_run(made.id)
    state = await run_flow_async(
        advance_case, flow_run=ready, parameters=PARAMS, return_type="state"
    )
    return state, await log_of(made.id)


def test_a_run_that_crashed_too_often_ends_failed_without_running() -> None:
    state, logs = asyncio.run(_run_after_crashes(MAX_CRASHES))
    assert state.type == StateType.FAILED, state
    assert state.message == too_many_crashes(MAX_CRASHES) and "\n" not in state.message
    assert not any("assertion" in message for _, message in logs), logs  # it never ran


def test_a_run_that_crashed_fewer_times_runs_again() -> None:
    state, _ = asyncio.run(_run_after_crashes(MAX_CRASHES - 1))
    assert (state.type, state.name) == (StateType.COMPLETED, "Refused"), state


def test_every_deployed_flow_ends_its_crash_loops() -> None:
    unbounded = [p.name for p in DEPLOYMENTS if not getattr(p.flow.fn, BOUND, False)]
    assert unbounded == []

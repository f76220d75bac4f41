"""A run that crashes every time ends Failed, once, instead of looping.

``deploy/automations.yaml`` schedules a crashed Homeward run again, the same flow run, for
another worker (``homeward-crashed-run-rescheduled``): its request keys make the re-run repeat
nothing. A run that crashes whatever worker takes it (it runs its machine out of memory, say)
would be scheduled again forever, alerting each time. So every Homeward flow, before anything
else, reads its run's state history: once the run has crashed ``MAX_CRASHES`` times, it ends
Failed with one line and does nothing; nothing schedules a Failed run again. An automation
cannot bound this itself: its trigger counts events, not one run's earlier crashes, and a second
automation racing the first on the same Crashed event would end either way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, cast
from uuid import UUID

from prefect import Flow, get_client, get_run_logger
from prefect.client.schemas.objects import State, StateType
from prefect.runtime import flow_run
from prefect.states import Failed

from workflows.signatures import with_signature_of

P = ParamSpec("P")
T = TypeVar("T")

MAX_CRASHES = 3  # a run that crashed this often is not run again
BOUND = "__homeward_ends_crash_loops__"  # marks a flow's function as bounded (tests check all)


def too_many_crashes(crashes: int) -> str:
    """The one line a run that crashed ``crashes`` times ends Failed with."""
    return (
        f"crashed {crashes} times (at most {MAX_CRASHES}): not run again; read its logs, fix the "
        "cause, then start a new run"
    )


async def crash_loop_end() -> State[Any] | None:
    """The Failed state this run ends in, when it has crashed ``MAX_CRASHES`` times already;
    None otherwise (or outside a flow run)."""
    run_id = flow_run.get_id()
    if run_id is None:
        return None
    async with get_client() as client:
        states = await client.read_flow_run_states(UUID(str(run_id)))
    crashes = sum(1 for state in states if state.type == StateType.CRASHED)
    if crashes < MAX_CRASHES:
        return None
    line = too_many_crashes(crashes)
    get_run_logger().error("%s", line)
    return Failed(message=line)


def ends_crash_loops(made: Flow[P, Coroutine[Any, Any, T]]) -> Flow[P, Coroutine[Any, Any, T]]:
    """Put over ``@flow`` (over ``@refusals_end_runs``, which does it itself): a run that has
    crashed ``MAX_CRASHES`` times ends Failed before the flow does anything."""
    made.fn = bounded(made.fn)
    return made


def bounded(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """``fn``, first checking the run's crashes (``crash_loop_end``)."""
    if getattr(fn, BOUND, False):
        return fn

    @functools.wraps(fn)
    async def checked(*args: P.args, **kwargs: P.kwargs) -> T:
        if (end := await crash_loop_end()) is not None:
            return cast(T, end)  # Prefect makes a returned state the run's final state
        return await fn(*args, **kwargs)

    with_signature_of(checked, fn)
    setattr(checked, BOUND, True)
    return checked

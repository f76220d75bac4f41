"""Reading back what the flows left in Prefect: runs, events, artifacts, the whole database."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Coroutine
from datetime import date
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterName,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import Artifact, FlowRun
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
from prefect.events.schemas.events import ReceivedEvent
from prefect.flow_runs import resume_flow_run

from homeward.base.choices import choice
from homeward.base.clock import local_date
from homeward.base.db import write_session
from homeward.reporting.programmes import ProgrammeIn, add_programme, enrol
from statemachines.step_fields import label_of
from tests.factories import acting
from workflows.runtime import now as flows_now

T = TypeVar("T")

# The waits below are guards against what never comes, not speed checks: each returns as soon
# as the server holds what is asked. Logs and events reach the server in batches, through a
# test server sharing two cores with the other suite: 15-30 s were within reach of a loaded CI.


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a flow (an async function) to completion and time it."""
    started = time.perf_counter()
    try:
        return asyncio.run(coro)
    finally:
        TIMINGS.append(time.perf_counter() - started)


TIMINGS: list[float] = []


def reason(result: Any) -> str:
    """The one line a flow called in-process was refused with (asserting it was refused: a
    refused run returns ``{"outcome": "refused", "reason": ...}``, see ``workflows.refusals``)."""
    assert isinstance(result, dict) and result.get("outcome") == "refused", result
    line = str(result["reason"])
    assert line and "\n" not in line
    return line


async def log_of(run_id: UUID, *, wait: float = 120) -> list[tuple[int, str]]:
    """A run's log (level, message) once its last line ("Finished in state ...") arrived."""
    deadline = time.monotonic() + wait
    wanted = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]))
    async with get_client() as client:
        while True:
            logs = await client.read_logs(log_filter=wanted)
            lines = [(log.level, log.message) for log in logs]
            if any(m.startswith("Finished in state") for _, m in lines):
                return lines
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} logged no end: {lines}")
            await asyncio.sleep(0.3)


async def runs_named(name: str) -> list[FlowRun]:
    """Flow runs with exactly this name."""
    async with get_client() as client:
        found = FlowRunFilter(name=FlowRunFilterName(any_=[name]))
        return await client.read_flow_runs(flow_run_filter=found)


async def run_named(name: str, *, state: str | None = None, wait: float = 120) -> FlowRun:
    """The one run with this name (in ``state``, when given), waiting for it to appear."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        found = [r for r in await runs_named(name) if state is None or r.state_name == state]
        if found:
            return found[0]
        await asyncio.sleep(0.2)
    raise AssertionError(f"no flow run {name!r} in state {state}; {await _what_ran(name)}")


async def _what_ran(name: str) -> str:
    """The runs named ``name``, each with its state, its message and the end of its log."""
    said = []
    async with get_client() as client:
        for found in await runs_named(name):
            state = found.state
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[found.id]))
            )
            tail = " / ".join(log.message.splitlines()[0] for log in logs[-6:] if log.message)
            message = state.message if state else None
            said.append(f"{found.id} {found.state_name} ({message}): {tail}")
    return "; ".join(said) or "none at all"


async def closure_answered(
    flow: Coroutine[Any, Any, T], case_ref: str, answer: dict[str, Any]
) -> T:
    """Start a closing ``advance-case``, wait until it is paused, resume it with ``answer``."""
    running = asyncio.create_task(flow)
    paused = await run_named(f"case-{case_ref}/close", state="Paused")
    await resume_flow_run(paused.id, run_input=chosen(answer))
    return await running


async def events_of(case_ref: str, *, wait: float = 120) -> list[ReceivedEvent]:
    """The ``homeward.case.transitioned`` events about a case, once the server stored them."""
    wanted = EventFilter(
        event=EventNameFilter(name=["homeward.case.transitioned"]),
        resource=EventResourceFilter(id=[f"homeward.case.{case_ref}"]),
    )
    deadline = time.monotonic() + wait
    async with get_client() as client:
        while True:
            page = await client.read_events(filter=wanted, limit=50)
            if page.events or time.monotonic() > deadline:
                return sorted(page.events, key=lambda e: e.occurred)
            await asyncio.sleep(0.3)


async def artifacts(*keys: str) -> dict[str, Artifact]:
    """The latest artifact under each key (missing keys are left out)."""
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=list(keys)))
        )
    latest: dict[str, Artifact] = {}
    for artifact in sorted(found, key=lambda a: a.created or 0):
        if artifact.key:
            latest[artifact.key] = artifact
    return latest


def dump(path: Path) -> str:
    """Every row of every table of Prefect's database, as text."""
    lines = []
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                lines.append(f"{table}: " + " | ".join(_text(v) for v in row))
    return "\n".join(lines)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace") + " " + value.hex()
    return str(value)


def add_enrolled_programme(manager: str, case_refs: list[str]) -> str:
    """A programme of the manager's organisation with targets, the cases enrolled today (the
    flows' local day: they act at the wall clock); its code."""
    moment = flows_now()
    today = local_date(moment)
    programme_in = ProgrammeIn(
        code="tango-2026",
        name="TaNGO",
        donor="Norway Grants",
        starts_on=date(today.year - 1, 1, 1),
        ends_on=date(today.year + 1, 12, 31),
        targets={"identified": 100, "returned": 25},
    )
    with write_session() as session:
        actor = acting(session=session, email=manager)
        programme = add_programme(session, programme_in=programme_in, actor=actor, now=moment)
        enrol(
            session,
            programme=programme,
            case_refs=case_refs,
            actor=actor,
            on=today,
            now=moment,
        )
    return programme_in.code


async def next_pause(name: str, seen: set[str], *, wait: float = 180) -> tuple[FlowRun, str]:
    """A run ``name`` at a pause not in ``seen`` (run id/pause key, added); its form's text."""
    from prefect.input.actions import read_flow_run_input

    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        for found in await runs_named(name):
            details = found.state.state_details if found.state else None
            pause = f"{found.id}/{details.pause_key if details else None}"
            if found.state_name != "Paused" or details is None or pause in seen:
                continue
            keys = details.run_input_keyset or {}
            description = await read_flow_run_input(keys["description"], flow_run_id=found.id)
            if description is None:  # paused, its form not stored yet: answering now is refused
                continue
            seen.add(pause)
            return found, str(description)
        await asyncio.sleep(0.2)
    raise AssertionError(f"no new pause of {name!r}")


async def closure_answered_twice(
    flow: Coroutine[Any, Any, T], case_ref: str, first: dict[str, Any], second: dict[str, Any]
) -> tuple[T, str]:
    """Answer a closing run's form with ``first``, then its next form with ``second``; the
    flow's result and the second form's description."""
    running = asyncio.create_task(flow)
    name, seen = f"case-{case_ref}/close", set[str]()
    paused, _ = await next_pause(name, seen)
    await resume_flow_run(paused.id, run_input=chosen(first))
    again, description = await next_pause(name, seen)
    await resume_flow_run(again.id, run_input=chosen(second))
    return await running, description


def chosen(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer as the paused run's form gives it: each reason as the label it offers."""
    return {
        k: choice(label_of(v), v) if k in ("reason", "rejection") and isinstance(v, str) else v
        for k, v in answer.items()
    }

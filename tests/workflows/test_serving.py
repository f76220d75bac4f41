"""``homeward up``'s runner (``workflows.serving``): it asks for due runs when one is created
and every second, and starts each served run in a process of its own, forked from the warm fork
server, with the runner's environment as it is when the run starts (not as it was when the fork
server started)."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from prefect import flow, get_client
from sqlmodel import SQLModel

from workflows.deployments import DEPLOYMENTS, build_deployments
from workflows.serving import POLL_SECONDS, HomewardRunner
from workflows.warm import YOUNG

PROBE = "HOMEWARD_SERVING_PROBE"


@flow(name="serving-probe", persist_result=False)
async def probe(out: str) -> None:
    """Write where it ran and what it was given to ``out`` (nothing personal: a test value)."""
    facts = {"pid": os.getpid(), "parent": os.getppid(), "probe": os.environ.get(PROBE)}
    facts["mappers_to_configure"] = SQLModel._sa_registry._new_mappers  # the ORM's first use
    facts["frozen"] = gc.get_freeze_count()  # what the fork server froze (workflows.warm)
    facts["young"] = gc.get_threshold()[0]  # how often the young generation is collected
    Path(out).write_text(json.dumps(facts), encoding="utf-8")


async def _serve_and_run(
    folder: Path, values: list[str | None], wait: float = 120, **runner_options: Any
) -> list[dict[str, Any]]:
    runner = HomewardRunner(name="serving-test", pause_on_shutdown=False, **runner_options)
    deployment_id = await runner.aadd_flow(probe, name="serving-probe")
    serving = asyncio.create_task(runner.start())
    seen = []
    try:
        async with get_client() as client:
            while not runner.started:  # its first poll is made: the runs below come after it
                await asyncio.sleep(0.05)
            await asyncio.sleep(1)
            for i, value in enumerate(values):
                if value is None:
                    os.environ.pop(PROBE, None)
                else:
                    os.environ[PROBE] = value
                out = folder / f"run-{i}.json"
                made = await client.create_flow_run_from_deployment(
                    deployment_id, parameters={"out": str(out)}
                )
                created, deadline = time.monotonic(), time.monotonic() + wait
                while True:
                    state = (await client.read_flow_run(made.id)).state
                    if state is not None and state.is_final():
                        break
                    assert time.monotonic() < deadline, "the run did not end"
                    await asyncio.sleep(0.1)
                assert state.is_completed(), state
                facts = json.loads(out.read_text(encoding="utf-8"))
                seen.append(facts | {"seconds": time.monotonic() - created})
    finally:
        os.environ.pop(PROBE, None)
        await runner.astop()
        await serving
    return seen


@pytest.mark.usefixtures("prefect_db")
def test_served_runs_start_forked_warm_with_the_runner_s_environment_of_the_moment(
    tmp_path: Path,
) -> None:
    assert HomewardRunner().query_seconds == POLL_SECONDS <= 1

    seen = asyncio.run(_serve_and_run(tmp_path, ["first", "second", None]))

    assert [s["probe"] for s in seen] == ["first", "second", None]
    assert len({s["pid"] for s in seen}) == 3  # a process of its own for each run
    assert {s["parent"] for s in seen} != {os.getpid()}  # forked by the fork server
    assert len({s["parent"] for s in seen}) == 1  # the same one, started once
    assert not any(s["mappers_to_configure"] for s in seen)  # done once, in the fork server
    assert all(s["frozen"] > 100_000 for s in seen)  # no full collection walks the modules
    assert {s["young"] for s in seen} == {YOUNG}  # not a hundred young collections a sweep


@pytest.mark.usefixtures("prefect_db")
def test_a_run_is_picked_up_when_it_is_created_not_at_the_next_poll(tmp_path: Path) -> None:
    """The runner hears of a run created (its ``Scheduled`` event) and polls at once: with the
    timed poll ten minutes apart, each run still starts and ends within seconds."""
    seen = asyncio.run(_serve_and_run(tmp_path, ["one", "two"], wait=300, query_seconds=600))

    assert [s["probe"] for s in seen] == ["one", "two"]
    # Half the timed poll: picked up on its event, whatever the load (a bound that tells the
    # two ways apart, not a speed check; a run's fork, run and state reports are all in it).
    assert max(s["seconds"] for s in seen) < 300, seen


async def _registered() -> dict[str, Any]:
    runner = HomewardRunner(name="serving-registry", pause_on_shutdown=False)
    on_demand = [d for d in build_deployments(directory={}) if not d.schedules]
    ids = {d.name: await runner.aadd_deployment(d) for d in on_demand}
    return {name: runner._deployment_registry.get_flow(i) for name, i in ids.items()}


@pytest.mark.usefixtures("prefect_db")
def test_homeward_s_deployments_run_their_flow_objects_not_a_fresh_python() -> None:
    """``homeward up`` adds deployments, not flows: without this, Prefect would start each run
    as ``python -m prefect.engine``, importing everything again from the entrypoint."""
    registered = asyncio.run(_registered())

    on_demand = {p.name: p.flow for p in DEPLOYMENTS if p.cron is None}
    assert registered == on_demand

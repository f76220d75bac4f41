"""The runner ``homeward up`` serves the deployments with: quick to pick a run up, warm to start it.

Prefect's ``Runner`` asks the server for due runs every ``PREFECT_RUNNER_POLL_FREQUENCY`` (10 s)
and starts each run of a deployment it was given without its flow in a new Python
(``python -m prefect.engine``), which imports Prefect, Homeward and the flow's module from its
entrypoint before the flow begins: 10-40 s on two busy cores. A person who starts a run from the
Prefect UI or the staff workspace would wait for both. So this runner

- asks as soon as the server says a flow run was scheduled (its ``Scheduled`` event, on the
  server's events stream: a run a person creates starts without waiting for a poll), and
  every ``POLL_SECONDS`` besides (one small query for all its deployments), which alone starts
  every run when the stream is down;
- knows the flow of each of Homeward's deployments, and starts each run in a process *forked*
  from a warm one: a ``multiprocessing`` fork server, started with the runner, that has already
  imported the flows and done what every run's process would do first (``workflows.warm``),
  so a run's process begins at once, with the runner's settings as they are. Each run
  still has a process of its own, as with Prefect's: the runner watches, cancels and kills it
  the same way, and a run that crashes its process takes nothing else with it. The fork server
  is one single-threaded process that only forks; it ends with ``homeward up``.

What runs and when is unchanged: the same flows, deployments, schedules and states.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.context
import os
import sys
from typing import Any
from uuid import UUID

import anyio
import anyio.abc
import cloudpickle  # type: ignore[import-untyped]
from prefect.client.schemas.objects import FlowRun
from prefect.context import SettingsContext, get_settings_context, serialize_context
from prefect.deployments.runner import RunnerDeployment
from prefect.engine import handle_engine_signals
from prefect.flow_engine import (
    _CONTROL_CHANNEL_ENV_KEYS,
    _run_serialized_call_with_control_bootstrap,
    _runtime_subprocess_env,
    run_flow,
)
from prefect.flows import Flow
from prefect.runner import Runner
from prefect.runner._process_manager import ProcessHandle
from prefect.runner._starter_direct import DirectSubprocessStarter
from prefect.settings import Profile, Settings, get_current_settings
from prefect.utilities.processutils import sanitize_subprocess_env

from workflows.timing import LOG as TIMING
from workflows.timing import mark

POLL_SECONDS = 1.0
WARM_MODULES = ["__main__", "workflows.warm"]  # what every run's process starts with
SCHEDULED = "prefect.flow-run.Scheduled"  # the event of a run created (or scheduled) to start
RESUBSCRIBE_SECONDS = 5.0

_FORKSERVER = multiprocessing.get_context("forkserver")


class HomewardRunner(Runner):
    """Prefect's runner, polling every ``POLL_SECONDS`` and starting runs warm (the module)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("query_seconds", POLL_SECONDS)
        super().__init__(**kwargs)

    async def aadd_deployment(self, deployment: RunnerDeployment) -> UUID:
        """Register ``deployment``; one of Homeward's (``workflows.deployments.DEPLOYMENTS``)
        runs its flow object in a forked process, not ``python -m prefect.engine`` loading it
        from its entrypoint (what Prefect does for a deployment added without its flow)."""
        from workflows.deployments import DEPLOYMENTS

        deployment_id = await super().aadd_deployment(deployment)
        flows = {planned.name: planned.flow for planned in DEPLOYMENTS}
        if (flow := flows.get(deployment.name)) is not None and flow.name == deployment.flow_name:
            self._deployment_registry.register_flow(deployment_id, flow)
        return deployment_id

    async def __aenter__(self) -> HomewardRunner:
        await asyncio.to_thread(warm_up)  # before the first run is due: its imports run now
        await super().__aenter__()
        poller = self._scheduled_run_poller
        prefect_starter = poller._resolve_starter

        def resolve(flow_run: FlowRun) -> Any:
            starter = prefect_starter(flow_run)
            return WarmStarter.of(starter) if type(starter) is DirectSubprocessStarter else starter

        poller._resolve_starter = resolve
        return self

    async def start(self, run_once: bool = False, webserver: bool | None = None) -> None:
        """Prefect's ``start``, and a run is picked up as soon as it is created (below)."""
        if run_once:
            return await super().start(run_once=run_once, webserver=webserver)
        watcher = asyncio.create_task(self._pick_up_when_scheduled())
        try:
            await super().start(run_once=run_once, webserver=webserver)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _pick_up_when_scheduled(self) -> None:
        """Poll at once whenever the server says a flow run was scheduled (a person's run is
        created Scheduled), not only every ``POLL_SECONDS``: the run starts without waiting
        for the next poll. The events' stream only wakes the same poll Prefect's runner makes
        (which skips runs it is already starting); without the stream (it failed, or the
        server has none) the timed poll still starts every run."""
        from prefect.events.clients import get_events_subscriber
        from prefect.events.filters import EventFilter, EventNameFilter

        while not self.started:  # the poller and its task group exist once started
            await asyncio.sleep(0.05)
        wake = asyncio.Event()
        polling = asyncio.create_task(self._poll_when_woken(wake))
        only = EventFilter(event=EventNameFilter(name=[SCHEDULED]))
        try:
            while not self.stopping:
                try:
                    async with get_events_subscriber(filter=only) as events:
                        async for _event in events:
                            wake.set()
                except Exception:  # noqa: BLE001 (the timed poll goes on; try again later)
                    self._logger.debug("No flow-run events; polling only", exc_info=True)
                await asyncio.sleep(RESUBSCRIBE_SECONDS)
        finally:
            polling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await polling

    async def _poll_when_woken(self, wake: asyncio.Event) -> None:
        """One poll per wake-up; wake-ups during a poll make one more after it."""
        poller = self._scheduled_run_poller
        while not self.stopping:
            await wake.wait()
            wake.clear()
            try:
                await poller._get_and_submit_flow_runs()
            except Exception:  # noqa: BLE001 (as a failed timed poll: the next one tries)
                self._logger.debug("Poll on a scheduled run's event failed", exc_info=True)


def warm_up() -> None:
    """Start the fork server, which imports ``WARM_MODULES`` once (idempotent)."""
    _FORKSERVER.set_forkserver_preload(WARM_MODULES)
    from multiprocessing import forkserver

    forkserver.ensure_running()


class WarmStarter(DirectSubprocessStarter):
    """Prefect's starter for a served flow, with the run's process forked warm."""

    @classmethod
    def of(cls, prefect: DirectSubprocessStarter) -> WarmStarter:
        warm = cls.__new__(cls)
        warm.__dict__.update(prefect.__dict__)
        return warm

    async def start(
        self,
        flow_run: FlowRun,
        task_status: anyio.abc.TaskStatus[ProcessHandle] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        mark("runner-starts", flow_run.id)
        env: dict[str, str | None] = {"PREFECT__DEPLOYMENT_NAME": self._deployment_name}
        if self._heartbeat_seconds is not None:
            env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] = str(int(self._heartbeat_seconds))
        registered = False
        if self._control_channel is not None:
            try:
                port, token = self._control_channel.register(flow_run.id)
                env |= {"PREFECT__CONTROL_PORT": str(port), "PREFECT__CONTROL_TOKEN": token}
                registered = True
            except RuntimeError:  # no control channel: cancelling kills the process, as Prefect
                pass
        handed_off = False
        try:
            process = fork_flow_run(self._flow, flow_run, env)
            await anyio.to_thread.run_sync(process.start)  # waits for the fork server's answer
            mark("forked", flow_run.id)
            task_status.started(ProcessHandle(process))  # type: ignore[arg-type]
            handed_off = True
            await anyio.to_thread.run_sync(process.join)
            mark("exited", flow_run.id)
        except BaseException:
            if registered and not handed_off and self._control_channel is not None:
                self._control_channel.unregister(flow_run.id)
            raise


def fork_flow_run(
    flow: Flow[..., Any], flow_run: FlowRun, env: dict[str, str | None]
) -> multiprocessing.process.BaseProcess:
    """The run's process, not started yet: ``prefect.flow_engine.run_flow_in_subprocess``'s,
    forked by the warm fork server instead of spawned, with the same payload, environment and
    control-channel start."""
    merged = (
        get_current_settings().to_environment_variables(exclude_unset=True)
        | dict(os.environ)
        | {"PREFECT__ENABLE_CANCELLATION_AND_CRASHED_HOOKS": "false"}
        | env
    )
    sanitized = sanitize_subprocess_env(merged)
    runner_settings = get_settings_context()
    startup = {k: v for k, v in sanitized.items() if k in _CONTROL_CHANNEL_ENV_KEYS}
    call = {
        "env": _runtime_subprocess_env(sanitized),
        "remove_env": {key for key, value in merged.items() if value is None},
        "settings": runner_settings.settings,  # unpickled as they are: not read again
        "profile": runner_settings.profile,
        "flow": flow,
        "flow_run": flow_run,
        "parameters": None,
        "wait_for": None,
        "context": serialize_context() | {"settings_context": {}},  # the settings above
    }
    payload = cloudpickle.dumps((_run_with_env, (), call))  # as cloudpickle_wrapped_call does
    return _FORKSERVER.Process(
        target=_run_serialized_call_with_control_bootstrap, args=(payload, startup)
    )


def _run_with_env(
    *args: Any,
    env: dict[str, str] | None = None,
    remove_env: set[str] | None = None,
    settings: Settings | None = None,
    profile: Profile | None = None,
    **kwargs: Any,
) -> None:
    """In the run's process: the runner's environment and settings, then the flow run (what
    Prefect's ``run_flow_in_subprocess`` does in its spawned process). The environment and
    settings are the runner's as they are now, not as they were when the fork server started:
    nothing stale stays. The settings come as the runner holds them (validating them again
    from the environment, as Prefect's subprocess does twice, costs 0.1-0.3 s a run)."""
    run_id = getattr(kwargs.get("flow_run"), "id", None)
    mark("child-starts", run_id)
    imported = set(sys.modules) if TIMING.isEnabledFor(logging.DEBUG) else None
    given = env or {}
    for key in (set(os.environ) - set(given) - _CONTROL_CHANNEL_ENV_KEYS) | (remove_env or set()):
        os.environ.pop(key, None)
    os.environ.update(given)
    current = get_settings_context()
    settings = settings if settings is not None else Settings()
    with SettingsContext(profile=profile or current.profile, settings=settings):
        with handle_engine_signals(getattr(kwargs.get("flow_run"), "id", None)):
            outcome = run_flow(*args, **kwargs)
            if asyncio.iscoroutine(outcome):
                asyncio.run(outcome)
    mark("child-ends", run_id)
    if imported is not None:  # what the run imported that the fork server had not
        late = sorted({name.split(".")[0] for name in set(sys.modules) - imported})
        TIMING.debug("%s imported after fork: %s", run_id, ",".join(late) or "nothing")

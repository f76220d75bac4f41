"""``homeward up``: a local Prefect server with its UI, and Homeward's flows served on their
schedules, until Ctrl-C.

An edge module (like the demo): it imports ``workflows`` lazily, inside the command, so the rest
of the CLI works without Prefect's flows being importable.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import typer

from homeward.base.db import get_engine
from homeward.base.errors import InvalidInput, Unavailable
from homeward.base.migrate import current_revision, ensure_schema, head_revision, upgrade
from homeward.base.settings import get_settings
from homeward.crypt.keys import load_keyring
from homeward.edges.cli.common import console
from homeward.edges.prefect_auth import announcement, is_loopback, load_or_create
from homeward.edges.prefect_gate import REGISTRATION_HEADER
from homeward.edges.prefect_server import LocalServer, is_healthy
from homeward.edges.scheduler_watch import watch
from homeward.edges.web.serve import (
    DEFAULT_WEB_PORT,
    Served,
    check_web_host,
    check_web_port,
    settle,
)

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment
    from prefect.runner import Runner


def up(
    host: str = typer.Option("127.0.0.1", help="address the local Prefect server listens on"),
    port: int = typer.Option(4200, min=1, max=65535, help="port of the server and its UI"),
    api_url: str | None = typer.Option(
        None, "--api-url", help="use the Prefect server at this API URL instead of starting one"
    ),
    auth: bool = typer.Option(
        False,
        "--auth",
        help="require the server's basic auth string on a loopback address too "
        "(always required on any other address)",
    ),
    web_host: str = typer.Option(
        "127.0.0.1", "--web-host", help="address the staff web workspace listens on"
    ),
    web_port: int = typer.Option(
        DEFAULT_WEB_PORT, "--web-port", min=1, max=65535, help="port of the staff web workspace"
    ),
) -> None:
    """Start Prefect (server and UI) and serve Homeward's flows on their schedules until Ctrl-C."""
    if api_url is not None and auth:
        raise InvalidInput(
            "--auth: only for the server homeward up starts; for --api-url set "
            "PREFECT_API_AUTH_STRING to that server's user:password"
        )
    check_web_host(web_host, "--web-host")
    prepare_database()
    settings = get_settings()
    home = Path(settings.prefect_home).expanduser()
    server = None
    if api_url is None:
        auth_string = _auth_string(home) if auth or not is_loopback(host) else None
        server = LocalServer(host, port, home, settings.prefect_retention_days, auth_string)
    elif not api_url.startswith(("http://", "https://")):
        raise InvalidInput("--api-url: give the server's API address, e.g. http://host:4200/api")
    from workflows.deployments import build_deployments

    deployments = build_deployments()  # before the server starts: a broken flow fails fast
    asyncio.run(_up(server, api_url or "", home, deployments, (web_host, web_port)))


def _auth_string(home: Path) -> str:
    """The server's auth string, made on the first start that needs one; say that it is on."""
    api_auth = load_or_create(home)
    _say(announcement(api_auth))
    return api_auth.secret


def prepare_database() -> None:
    """Keys must be there; the embedded SQLite database is upgraded, any other one must be."""
    load_keyring()
    engine = get_engine()
    if engine.dialect.name != "sqlite":
        ensure_schema()  # schema changes on a shared server are the operator's decision
    elif current_revision(engine) != head_revision():
        console.print(f"database upgraded to schema {upgrade(engine)}")


async def _up(
    server: LocalServer | None,
    api_url: str,
    home: Path,
    deployments: list[RunnerDeployment],
    web: tuple[str, int],
) -> None:
    from homeward.edges.web.app import create_app

    stop = asyncio.Event()
    _stop_on_signals(stop.set)
    workspace: Served | None = None
    try:
        if server is not None:
            api_url = server.api_url
            server.start()
            _say(f"Prefect server starting on {server.ui_url} (log: {server.log_path})")
            if not await _unless_stopped(stop, server.wait_healthy()):
                return
        elif not await is_healthy(api_url):
            raise Unavailable(f"--api-url: no Prefect server answers at {api_url}")
        check_web_port(*web, "--web-port")
        app = create_app()
        app.state.prefect_api_url = api_url  # "start a return" starts its run here
        app.state.prefect_auth = server.auth_string if server is not None else None
        settle()  # the scheduler and the workspace serve from here for long
        workspace = Served(app, *web).__enter__()
        log_path = server.log_path if server is not None else None
        auth_string = server.auth_string if server is not None else None
        key = server.registration_key if server is not None else None
        await _serve(api_url, home, deployments, stop, log_path, auth_string, workspace.url, key)
    finally:
        if workspace is not None:
            workspace.__exit__(None, None, None)
        if server is not None and server.process is not None:
            server.stop()
            _say("Prefect server stopped")


async def _serve(
    api_url: str,
    home: Path,
    deployments: list[RunnerDeployment],
    stop: asyncio.Event,
    log_path: Path | None,
    auth_string: str | None,
    web_url: str,
    registration_key: str | None = None,
) -> None:
    """Register every deployment with its schedules, then run what comes due until ``stop``,
    watching that the server's scheduler creates their runs (its log, if local, and its API).
    Everything here, flow runs included, sends ``auth_string`` if our server requires it. The
    health watch emails the managers what a manager must know (``homeward health``)."""
    from prefect.settings import (
        PREFECT_API_AUTH_STRING,
        PREFECT_API_URL,
        PREFECT_HOME,
        temporary_settings,
    )

    from workflows.serving import HomewardRunner

    updates = {PREFECT_API_URL: api_url, PREFECT_HOME: str(home)}
    if auth_string is not None:  # our server's: the flow runs' processes inherit it too
        updates[PREFECT_API_AUTH_STRING] = auth_string
    with temporary_settings(updates=updates):
        auth = PREFECT_API_AUTH_STRING.value()  # ours, or the environment's for --api-url
        runner = HomewardRunner(name="homeward-up", pause_on_shutdown=True)  # quick and warm
        ids = await register(runner, deployments, registration_key)
        await _renew_closure_requests(ids.get("wait-for-closure"))
        serving = asyncio.create_task(runner.start())
        await asyncio.sleep(0)  # start() first installs Prefect's SIGTERM handler: replace it
        _stop_on_signals(stop.set)
        _say(_ready_message(api_url, [d.name for d in deployments], web_url))
        scheduled = [d.name for d in deployments if d.schedules]
        watching = asyncio.create_task(watch(api_url, log_path, scheduled, _say, auth=auth))
        health = asyncio.create_task(_watch_health())
        sign_in = asyncio.create_task(_send_sign_in_mail())
        try:
            await _until_stopped(runner, serving, stop)
        finally:
            watching.cancel()
            health.cancel()
            sign_in.cancel()


# What a served deployment runs with, which Prefect's registration leaves as the server holds
# it: its client sends no pull steps when they are None (as a served deployment's are) and no
# job variables without a work pool, and its upsert keeps the work queue (so the work pool) when
# it is given none. Sent again after each registration, so no value set some other way (before
# the gate refused deleting a deployment, a deployment deleted and created again) outlives it.
SERVED: dict[str, Any] = {
    "pull_steps": [],
    "job_variables": {},
    "work_pool_name": None,
    "work_queue_name": None,
}


async def register(
    runner: Runner, deployments: list[RunnerDeployment], registration_key: str | None
) -> dict[str, UUID]:
    """Register ``deployments`` with ``runner`` (created, or updated to this version's forms and
    schedules, run as ``SERVED`` says): on our own server with its ``registration_key``, which
    its gate requires for a change to an existing deployment's form, code or schedules
    (``homeward.edges.prefect_gate``). Only these requests carry it, never a flow run's."""
    from prefect import get_client
    from prefect.settings import get_current_settings, temporary_settings

    if registration_key is None:  # another server (--api-url): registered as Prefect does
        return {d.name: await runner.aadd_deployment(d) for d in deployments}
    headers = {**get_current_settings().client.custom_headers}
    headers[REGISTRATION_HEADER] = registration_key
    with temporary_settings(updates={"client.custom_headers": headers}):
        ids = {d.name: await runner.aadd_deployment(d) for d in deployments}
        async with get_client() as client:
            for deployment in deployments:
                if deployment.work_pool_name is None:  # served here, by the runner
                    answer = await client.request(
                        "PATCH",
                        "/deployments/{id}",
                        path_params={"id": ids[deployment.name]},
                        json=SERVED,
                    )
                    answer.raise_for_status()
    return ids


async def _watch_health() -> None:
    """Managers are emailed when a scheduled flow did not run on time or failed, or mail is
    stuck (``workflows.health``); on our own timer, so a stalled scheduler is caught too."""
    from workflows.health import HealthWatch

    await HealthWatch(_say, get_settings().health_check_seconds).run()


async def _send_sign_in_mail() -> None:
    """Sign-in codes the database queued (PostgreSQL, any process's request, ``homeward web``
    and ``homeward login`` under the app's login included) go out at once, sent under this
    process's system login (``notifications.sign_in_mail``); nothing to do on SQLite."""
    from notifications.sign_in_mail import send_sign_in_mail

    await send_sign_in_mail()


async def _renew_closure_requests(wait_for_closure: UUID | None) -> None:
    """Pending closure requests whose waiting run the last stop cancelled wait again."""
    if wait_for_closure is None:
        return
    from workflows.closure_runs import renew_waiting_runs

    for case_ref in await renew_waiting_runs(wait_for_closure):
        _say(f"case {case_ref}: the pending closure request waits again for a supervisor")


async def _until_stopped(runner: Runner, serving: asyncio.Task[None], stop: asyncio.Event) -> None:
    if await _unless_stopped(stop, serving, cancel=False):
        return  # the runner ended by itself: its exception, if any, was raised
    _say("stopping: no new runs are started; schedules are paused until the next `homeward up`")
    if runner.started:
        await runner.astop()
        await serving
    else:  # stopped before the runner got going (a Ctrl-C right after the start): nothing runs
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving


async def _unless_stopped(
    stop: asyncio.Event, work: Awaitable[Any], *, cancel: bool = True
) -> bool:
    """Await ``work`` unless ``stop`` is set first; True if ``work`` finished."""
    work_task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({work_task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if work_task.done():
        work_task.result()  # raise what it raised
        return True
    if cancel:
        work_task.cancel()
    return False


def _stop_on_signals(handler: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, handler)


def _ready_message(api_url: str, names: list[str], web_url: str) -> str:
    ui_url = api_url.rstrip("/").removesuffix("/api")
    return (
        f"Homeward is up: Prefect UI at {ui_url} (API {api_url}); staff workspace at {web_url}; "
        f"serving {len(names)} deployments: {', '.join(sorted(names))}. Ctrl-C stops."
    )


def _say(message: str) -> None:
    console.print(message, markup=False, highlight=False, soft_wrap=True)
    console.file.flush()

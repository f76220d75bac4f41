"""``homeward health``: one line saying whether the scheduled flows ran on time and their last
runs did not fail (Prefect's API), and whether mail flows (the outbox). Exit 1 when something
needs looking at, so a monitor can run it.

``--alert`` also emails the managers through the outbox, as ``homeward up`` does every
``HOMEWARD_HEALTH_CHECK_SECONDS``; ``--watch`` keeps doing so until Ctrl-C, for a deployment
that runs its flows on workers instead of ``homeward up`` (deploy/compose.yaml). An edge
module: it imports ``workflows`` inside the command, as ``homeward up`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

import typer

from homeward.base.errors import InvalidInput
from homeward.base.settings import get_settings
from homeward.edges.cli.common import console, state

UP_API_URL = "http://127.0.0.1:4200/api"  # where `homeward up` serves it by default


def health(
    api_url: str | None = typer.Option(
        None,
        "--api-url",
        help=f"the Prefect API to ask (default: PREFECT_API_URL, else {UP_API_URL})",
    ),
    alert: bool = typer.Option(
        False, "--alert", help="also email the managers about what is wrong (once a day each)"
    ),
    watch: bool = typer.Option(
        False, "--watch", help="check and alert every HOMEWARD_HEALTH_CHECK_SECONDS until Ctrl-C"
    ),
) -> None:
    """Say whether the schedules ran on time, their last runs succeeded and mail flows."""
    from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    url = api_url or PREFECT_API_URL.value() or UP_API_URL
    if not url.startswith(("http://", "https://")):
        raise InvalidInput("--api-url: give the server's API address, e.g. http://host:4200/api")
    updates = {PREFECT_API_URL: url, PREFECT_CLIENT_MAX_RETRIES: 0}
    with temporary_settings(updates=updates):
        if watch:
            _watch()
            return
        found = asyncio.run(_check(alert))
    _say(found[0])
    if found[1]:
        raise typer.Exit(1)


async def _check(alert: bool) -> tuple[str, bool]:
    from workflows.health import check_and_alert, health_facts

    if alert:
        checked = await check_and_alert(state.clock)
        told = f"; managers emailed: {len(checked.queued)}" if checked.queued else ""
        facts = checked.facts
        return facts.summary() + told, bool(facts.problems) or not facts.prefect
    facts = await health_facts(state.clock)
    return facts.summary(), bool(facts.problems) or not facts.prefect


def _watch() -> None:
    from workflows.health import HealthWatch

    watcher = HealthWatch(_say, get_settings().health_check_seconds, state.clock)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_watching(watcher.run()))


async def _watching(health: Coroutine[Any, Any, None]) -> None:
    """The health watch, and meanwhile the sign-in codes the database queues sent at once
    under this login (PostgreSQL's system login: ``notifications.sign_in_mail``)."""
    from notifications.sign_in_mail import send_sign_in_mail

    sign_in = asyncio.create_task(send_sign_in_mail())
    try:
        await health
    finally:
        sign_in.cancel()


def _say(line: str) -> None:
    console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.file.flush()

"""``homeward deploy``: Homeward's flows as deployments on a work pool of a Prefect server on
other machines, with the typed forms ``homeward up`` serves (``workflows.deployments``).

An edge module (like ``up``): it imports ``workflows`` lazily, inside the command.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import typer

from homeward.base.errors import InvalidInput, Unavailable
from homeward.edges.cli.common import console
from homeward.edges.prefect_auth import is_loopback

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

POOL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


def deploy(
    pool: str = typer.Option("homeward", "--pool", help="the work pool whose workers run them"),
    installed_at: str = typer.Option(
        "/opt/homeward",
        "--installed-at",
        help="where Homeward is installed on the workers' machines (the runs start there)",
    ),
    allow_plain_http: bool = typer.Option(
        False,
        "--allow-plain-http",
        help="register over plain http with a server on another machine (a network you trust "
        "end to end; otherwise use https)",
    ),
) -> None:
    """Register every flow as a deployment on a work pool (PREFECT_API_URL's server), with the
    forms, schedules and schema checks `homeward up` serves them with."""
    from prefect.settings import PREFECT_API_URL

    if not POOL_NAME.fullmatch(pool):
        raise InvalidInput("--pool: give the work pool's name, e.g. homeward")
    if not installed_at.startswith("/"):
        raise InvalidInput("--installed-at: give an absolute path, e.g. /opt/homeward")
    api_url = str(PREFECT_API_URL.value() or "")
    if not api_url.startswith(("http://", "https://")):
        raise InvalidInput(
            "PREFECT_API_URL: set it to the Prefect server's API, e.g. "
            "https://prefect.example.org/api"
        )
    check_transport(api_url, allow_plain_http=allow_plain_http)
    from workflows.deployments import build_deployments, on_work_pool, read_directory

    directory = read_directory()
    deployments = on_work_pool(build_deployments(directory=directory), pool, installed_at)
    asyncio.run(_register(deployments, pool, api_url))
    orgs = sum(len(list(found)) for found in (directory or {}).values())
    listed = (
        f"forms list {orgs} organisations"
        if directory is not None
        else "the database could not be read: organisation fields take slugs by their shape"
    )
    console.print(
        f"{len(deployments)} deployments registered on work pool {pool} ({listed}); start "
        f"workers with `prefect worker start --pool {pool} --type process`",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def check_transport(api_url: str, *, allow_plain_http: bool) -> None:
    """Refuse plain http to another machine: the forms (organisation names), the flows'
    schema checks and the server's credentials would cross the network readable and
    changeable by anyone on the path."""
    parts = urlsplit(api_url)
    if parts.scheme != "http" or allow_plain_http or is_loopback(parts.hostname or ""):
        return
    secure = parts._replace(scheme="https").geturl()
    raise InvalidInput(
        f"PREFECT_API_URL: {api_url} is plain http to another machine; use https "
        f"(e.g. {secure}), or pass --allow-plain-http on a network you trust end to end"
    )


async def _register(deployments: list[RunnerDeployment], pool: str, api_url: str) -> None:
    """The pool (a process pool, made if missing), then every deployment, created or updated."""
    import httpx
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    try:
        async with get_client() as client:
            try:
                await client.read_work_pool(pool)
            except ObjectNotFound:
                await client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        for deployment in deployments:
            applied = deployment.apply()  # a coroutine here (Prefect's async dispatch)
            assert inspect.isawaitable(applied)  # noqa: S101
            await applied
    except (httpx.HTTPError, OSError) as exc:
        raise Unavailable(f"PREFECT_API_URL: no Prefect server answers at {api_url}") from exc

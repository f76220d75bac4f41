"""Issue 18: on several machines the Prefect UI shows the same typed forms as on one. ``homeward
deploy`` registers every deployment on a work pool, against a real Prefect server, with exactly
the parameter schema ``homeward up`` registers; ``prefect deploy`` (a flow's bare signature)
would not, which is why deploy/ has no prefect.yaml."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prefect import get_client
from prefect.client.schemas.objects import Deployment
from prefect.flows import load_flow_from_entrypoint
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.utilities.callables import parameter_schema

from homeward.edges.cli.deploy import check_transport
from tests.cli.runner import run_cli
from workflows.deployments import DEPLOYMENTS, ROOT, build_deployments

POOL = "homeward-deploy-test"  # not a pool any other test's runs go to


async def _registered() -> dict[str, Deployment]:
    async with get_client() as client:
        return {
            planned.name: await client.read_deployment_by_name(
                f"{planned.flow.name}/{planned.name}"
            )
            for planned in DEPLOYMENTS
        }


async def _as_homeward_up_registers() -> dict[str, Any]:
    """Register the deployments as ``homeward up``'s runner does (``apply``, no pool); what
    the server then holds as each one's form."""
    for deployment in build_deployments():
        await deployment.apply()
    return {name: d.parameter_openapi_schema for name, d in (await _registered()).items()}


async def _forget() -> None:
    """Leave the session's server as other tests expect it: no deployment on the test pool."""
    async with get_client() as client:
        for deployment in (await _registered()).values():
            await client.delete_deployment(deployment.id)
        await client.delete_work_pool(POOL)


def test_homeward_deploy_registers_the_forms_homeward_up_registers(
    homeward: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    served = asyncio.run(_as_homeward_up_registers())
    assert "ADPARE (adpare)" in str(served["start-return"])  # the directory's dropdowns
    try:
        done = run_cli(capsys, monkeypatch, "deploy", "--pool", POOL)
        assert done.code == 0, done.err
        assert f"{len(DEPLOYMENTS)} deployments registered on work pool {POOL}" in done.out
        deployed = asyncio.run(_registered())
    finally:
        asyncio.run(_forget())

    assert {name: d.parameter_openapi_schema for name, d in deployed.items()} == served
    for planned in DEPLOYMENTS:
        found = deployed[planned.name]
        assert found.work_pool_name == POOL and found.enforce_parameter_schema
        assert found.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": "/opt/homeward"}}
        ]
        assert [s.schedule.cron for s in found.schedules] == [planned.cron] * bool(planned.cron)
        # the entrypoint a worker loads, from the installation's root, is the flow itself
        path, function = str(found.entrypoint).split(":")
        assert load_flow_from_entrypoint(str(ROOT / path) + ":" + function).name == found.name
    # what `prefect deploy` would have registered: the bare signature, no form
    bare = parameter_schema(load_flow_from_entrypoint(str(ROOT / "workflows/start_return.py")
                                                      + ":start_return")).model_dump()  # fmt: skip
    assert bare != served["start-return"]


def test_homeward_deploy_without_a_prefect_server_says_so_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with temporary_settings(restore_defaults={PREFECT_API_URL}):  # no server set at all
        done = run_cli(capsys, monkeypatch, "deploy", "--pool", POOL)
    assert done.code != 0 and "Traceback" not in done.err
    assert done.err.strip().splitlines() == [
        "error: PREFECT_API_URL: set it to the Prefect server's API, e.g. "
        "https://prefect.example.org/api"
    ]
    done = run_cli(capsys, monkeypatch, "deploy", "--pool", "a pool")
    assert done.code != 0 and "--pool: give the work pool's name" in done.err


def test_homeward_deploy_refuses_plain_http_to_another_machine_unless_told(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The forms and the server's credentials would cross the network in clear: https, or an
    explicit ``--allow-plain-http``; a server on this machine may be reached over http."""
    remote = "http://prefect.example.org:4200/api"
    with temporary_settings(updates={PREFECT_API_URL: remote}):
        done = run_cli(capsys, monkeypatch, "deploy", "--pool", POOL)
        assert done.code != 0 and "Traceback" not in done.err
        assert done.err.strip().splitlines() == [
            f"error: PREFECT_API_URL: {remote} is plain http to another machine; use https "
            "(e.g. https://prefect.example.org:4200/api), or pass --allow-plain-http on a "
            "network you trust end to end"
        ]
    check_transport(remote, allow_plain_http=True)  # told: the server is tried next
    for url in ("http://127.0.0.1:4200/api", "http://localhost:4200/api", "http://[::1]/api"):
        check_transport(url, allow_plain_http=False)  # this machine's own server
    check_transport("https://prefect.example.org/api", allow_plain_http=False)

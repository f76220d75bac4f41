"""The canary typed into every field of every form (issue 18, point 3), both ways a value
reaches a run: through the deployment's form on the Prefect server (refused by the schema: no
run is created), and through a Python call of the flow (refused by the run's own check, the
value scrubbed from the run's parameters)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from prefect import Flow, get_client
from prefect.exceptions import PrefectHTTPStatusError

from homeward.base.choices import offered
from tests.factories import COORD
from tests.signin import assertion_for
from tests.workflows.helpers import reason, run
from workflows.advance_case import advance_case
from workflows.deployments import DEPLOYMENTS, build_deployments

TYPED = "Zyxcanary Qwopperton"


def base_parameters(ref: str) -> dict[str, Any]:
    """Values that fit every form's fields by name (each form takes the ones it has)."""
    return {
        "case_ref": ref,
        "item_id": 999_999,
        "closure_request": 999_999,
        "method": "signed",
        "language": "ro",
        "document_kind": "passport",
        "document_expires_on": "2031-01-31",
        "departure_on": "2030-06-01",
        "arrival_on": "2030-06-02",
        "reason": "safety_incident",
        "trigger": "resume",
        "result": "done",
        "action": "accept",
    }


def _forms() -> list[Flow[..., Any]]:
    return [p.flow for p in DEPLOYMENTS if p.cron is None]


def _fields(flow: Flow[..., Any]) -> list[str]:
    return list(inspect.signature(flow.fn).parameters)


def _call(flow: Flow[..., Any], ref: str, field: str) -> dict[str, Any]:
    base = base_parameters(ref)
    wanted = inspect.signature(flow.fn).parameters
    given = {name: base[name] for name, p in wanted.items() if name in base}
    given = {k: v for k, v in given.items() if k in wanted}
    given["assertion"] = assertion_for(COORD, flow.name) if "assertion" in wanted else None
    given = {k: v for k, v in given.items() if v is not None}
    return {**given, field: TYPED}


def typed_into_every_python_call(ref: str) -> int:
    """Each form flow called with the canary in each of its fields: each refused in one line,
    naming the field; how many runs that made."""
    count = 0
    for flow in _forms():
        for field in _fields(flow):
            said = reason(run(flow(**_call(flow, ref, field))))  # ends Refused, one line
            assert TYPED not in said
            count += 1
    trigger = assertion_for(COORD, "advance-case")
    for given in ({"trigger": TYPED}, {"trigger": "suspend", "data": {"note": TYPED}}):
        call: Callable[..., Coroutine[Any, Any, Any]] = advance_case
        said = reason(run(call(case_ref=ref, assertion=trigger, **{"data": None, **given})))
        assert TYPED not in said
        trigger = assertion_for(COORD, "advance-case")
    return count


def typed_into_every_form(ref: str) -> int:
    """Each served deployment's form (the scheduled flows' too), on the Prefect server, filled
    with the canary in each of its fields: the server creates no run; how many tries. (The
    canary as a run's name is refused by ``homeward up``'s gate: ``tests/cli/test_up.py``.)"""
    return asyncio.run(_typed_into_every_form(ref))


async def _typed_into_every_form(ref: str) -> int:
    tries = 0
    async with get_client() as client:
        for deployment in build_deployments():
            deployment.schedules = []  # its form only: no runs scheduled on this server
            deployment_id = await deployment.apply()
            fields = list(deployment._parameter_openapi_schema.properties)
            base = {k: v for k, v in base_parameters(ref).items() if k in fields}
            base = offered(deployment._parameter_openapi_schema.model_dump(), base)  # labels
            for field in fields:
                with pytest.raises(PrefectHTTPStatusError):
                    await client.create_flow_run_from_deployment(
                        deployment_id, parameters={**base, field: TYPED}
                    )
                tries += 1
    return tries

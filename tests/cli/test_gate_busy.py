"""The gate tries a run's creation again itself while Prefect's SQLite is busy (503), sooner than
Prefect's client would (2 s, then 4...), and passes on any other answer at once, unchanged.

Prefect's application is stood in for by a small ASGI app that answers 503 a given number of
times: a busy SQLite cannot be provoked on demand."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from homeward.edges.prefect_gate import BUSY_RETRY_SECONDS, FixedRunNames

CREATE = "/api/deployments/5f1c0e52-0000-4000-8000-000000000000/create_flow_run"


class BusyPrefect:
    """Answers 503 ``busy`` times, then 201 with the body it was sent."""

    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.bodies: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["root_path"] == ""  # each try as it came, whatever the last one wrote
        scope["root_path"] += "/api"  # as Starlette's routing does to the scope it is given
        message = await receive()
        self.bodies.append(json.loads(message["body"]))
        status, body = (503, b'{"exception_message": "Service Unavailable"}')
        if len(self.bodies) > self.busy:
            status, body = 201, json.dumps({"id": "run", "got": self.bodies[-1]}).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def post(app: Any, path: str, data: dict[str, Any]) -> tuple[httpx.Response, float]:
    async def go() -> tuple[httpx.Response, float]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gate") as client:
            began = time.perf_counter()
            answer = await client.post(path, json=data)
            return answer, time.perf_counter() - began

    return asyncio.run(go())


def test_a_busy_answer_is_tried_again_at_once_with_the_same_gated_body():
    prefect = BusyPrefect(busy=2)
    answer, took = post(FixedRunNames(prefect), CREATE, {"name": "Ana Pop", "parameters": {}})
    assert answer.status_code == 201
    assert len(prefect.bodies) == 3
    assert all("name" not in body for body in prefect.bodies)  # each try gated alike
    assert took < 2.0  # Prefect's client would have waited 2 s, then 4, for the same


def test_a_database_busy_too_long_is_answered_503_after_the_gates_tries():
    prefect = BusyPrefect(busy=100)
    answer, took = post(FixedRunNames(prefect), CREATE, {"parameters": {}})
    assert answer.status_code == 503  # Prefect's client goes on with its own retries
    assert len(prefect.bodies) == len(BUSY_RETRY_SECONDS) + 1
    assert took >= sum(BUSY_RETRY_SECONDS)


@pytest.mark.parametrize("path", ["/api/flows/filter", "/api/deployments/filter"])
def test_other_requests_pass_once(path):
    prefect = BusyPrefect(busy=1)
    answer, _ = post(FixedRunNames(prefect), path, {})
    assert answer.status_code == 503
    assert len(prefect.bodies) == 1

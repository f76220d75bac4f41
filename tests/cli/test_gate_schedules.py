"""The gate keeps a deployment's schedules and the deployment itself as ``homeward up``
registered them: a schedule's parameters reach the scheduler's runs without the deployment's
schema check, and a deployment deleted could be created again with another form and code.
Unkeyed, a schedule may only be paused or resumed (or its timing changed); none is added or
deleted, none gets parameters, no deployment is deleted. With the registration key, all pass
unchanged.

Prefect's application is stood in for by a small ASGI app that answers each request with 200
and what it was sent (and a deployment for ``/deployments/filter``); the real server's answers
are in ``tests/cli/test_up.py``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from homeward.edges.prefect_gate import REGISTRATION_HEADER, FixedRunNames

KEY = "the-key-0001"
ID = "5f1c0e52-0000-4000-8000-000000000000"
SCHEDULE_ID = "6a2d1f63-0000-4000-8000-000000000000"
CRON = {"cron": "0 * * * *", "timezone": "Europe/Bucharest", "day_or": True}
HELD = {"id": SCHEDULE_ID, "schedule": CRON, "active": True, "parameters": {}, "slug": None}
RUN_ID = "7b3e2074-0000-4000-8000-000000000000"
STORED = {"case_ref": "RT-AAAA-AA", "language": "Ana Pop (ro)"}
REGISTERS = "`homeward up` registers Homeward's deployments"


class Prefect:
    """Answers 200 with the request's body; ``/deployments/filter`` with one deployment."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        body = json.loads(message.get("body") or b"null")
        if scope["path"].endswith("/deployments/filter"):
            answer: Any = [{"id": ID, "name": "sweep-due-items", "schedules": [HELD]}]
        elif scope["method"] == "GET" and "/flow_runs/" in scope["path"]:
            answer = {"id": RUN_ID, "parameters": STORED}
        else:
            self.seen.append((scope["method"], scope["path"], body))
            answer = body
        data = json.dumps(answer).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": data})


def sent(method: str, path: str, data: Any, key: str | None = None) -> tuple[int, Any, Prefect]:
    prefect = Prefect()

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=FixedRunNames(prefect, KEY))
        headers = {REGISTRATION_HEADER: key} if key else {}
        async with httpx.AsyncClient(transport=transport, base_url="http://gate") as client:
            return await client.request(method, path, json=data, headers=headers)

    answer = asyncio.run(go())
    return answer.status_code, answer.json() if answer.content else None, prefect


UPSERT = {"flow_id": "f", "name": "sweep-due-items"}
DELETED = f"deployments (nor their flows) are not deleted here; {REGISTERS}"
REFUSED = [
    ("DELETE", f"/api/deployments/{ID}", None, DELETED),
    ("POST", "/api/deployments/bulk_delete", {}, DELETED),
    ("DELETE", f"/api/flows/{ID}", None, DELETED),  # its deployments cascade with it
    ("POST", "/api/flows/bulk_delete", {}, DELETED),
    (
        "POST",
        f"/api/deployments/{ID}/schedules",
        [{"schedule": CRON}],
        f"schedules are not added here; {REGISTERS} with theirs",
    ),
    (
        "DELETE",
        f"/api/deployments/{ID}/schedules/{SCHEDULE_ID}",
        None,
        f"schedules are not deleted here (pause one instead); {REGISTERS} with theirs",
    ),
    (
        "DELETE",
        f"/deployments/{ID}/schedules/",
        None,
        f"schedules are not deleted here (pause one instead); {REGISTERS} with theirs",
    ),
    (
        "PATCH",
        f"/api/deployments/{ID}/schedules/{SCHEDULE_ID}",
        {"active": True, "schedule": CRON, "parameters": {"send": False}},
        f"a schedule's parameters are not changed here; {REGISTERS}",
    ),
    (
        "PATCH",
        f"/deployments/{ID}/schedules/{SCHEDULE_ID}",
        {"active": True, "replaces": "x"},
        f"a schedule's replaces are not changed here; {REGISTERS}",
    ),
    (
        "POST",
        "/api/deployments/",
        {**UPSERT, "name": "new-one", "schedules": [{"schedule": CRON, "parameters": {"a": 1}}]},
        f"a deployment's schedules carry no parameters here; {REGISTERS}",
    ),
    (
        "POST",
        "/api/deployments/",
        {**UPSERT, "schedules": [{"schedule": {**CRON, "cron": "0 0 1 1 *"}}]},
        f"an existing deployment's schedules are not changed here; {REGISTERS}",
    ),
    (
        "POST",
        "/api/deployments/",
        UPSERT,  # Prefect's upsert would delete the deployment's schedules
        f"an existing deployment's schedules are not changed here; {REGISTERS}",
    ),
]


@pytest.mark.parametrize(("method", "path", "data", "detail"), REFUSED)
def test_unkeyed_schedule_and_deletion_requests_are_refused(method, path, data, detail):
    status, answer, prefect = sent(method, path, data)
    assert (status, answer) == (403, {"detail": detail})
    assert prefect.seen == []


@pytest.mark.parametrize(("method", "path", "data", "_"), REFUSED)
def test_the_registration_key_passes_them_unchanged(method, path, data, _):
    status, _answer, prefect = sent(method, path, data, key=KEY)
    assert status == 200
    assert prefect.seen == [(method, path, data)]


@pytest.mark.parametrize(
    "data",
    [
        {"active": False},
        # the UI's switch: the schedule as it is, with ``active``
        {"slug": None, "schedule": CRON, "parameters": {}, "active": False},
        {"schedule": {**CRON, "cron": "5 * * * *"}, "max_scheduled_runs": 3},
    ],
)
def test_a_schedule_is_paused_resumed_or_retimed_without_the_key(data):
    path = f"/api/deployments/{ID}/schedules/{SCHEDULE_ID}"
    status, _, prefect = sent("PATCH", path, data)
    assert status == 200
    assert prefect.seen == [("PATCH", path, data)]


def test_an_upsert_keeping_the_schedules_passes():
    same = {**UPSERT, "schedules": [{"schedule": CRON, "active": True, "parameters": {}}]}
    status, _, prefect = sent("POST", "/api/deployments/", same)
    assert status == 200
    assert prefect.seen == [("POST", "/api/deployments/", same)]


def test_a_deployment_s_edit_keeps_its_schedules():
    path = f"/api/deployments/{ID}"
    edit = {"description": "edited", "schedules": [{"schedule": CRON, "parameters": {"a": 1}}]}
    status, _, prefect = sent("PATCH", path, edit)
    assert status == 200
    assert prefect.seen == [("PATCH", path, {"description": "edited"})]


@pytest.mark.parametrize(
    ("given", "status"),
    [
        ({"case_ref": "RT-AAAA-AA", "language": "(refused)"}, 200),  # the flow's scrub
        ({"case_ref": "(refused)", "language": "(refused)"}, 200),
        ({"case_ref": "RT-BBBB-BB", "language": "(refused)"}, 403),  # another value
        ({"case_ref": "RT-AAAA-AA"}, 403),  # one left out: the deployment's default
        ({**STORED, "trigger": "(refused)"}, 403),  # one added
    ],
)
def test_a_run_s_parameters_change_only_when_its_flow_scrubs_them(given, status):
    """A run's parameters are never changed (they would skip the schema check), except by its
    flow's own check replacing the values it refused."""
    path = f"/api/flow_runs/{RUN_ID}"
    answer_status, _, prefect = sent("PATCH", path, {"parameters": given})
    assert answer_status == status
    assert prefect.seen == ([("PATCH", path, {"parameters": given})] if status == 200 else [])

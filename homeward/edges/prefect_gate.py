"""Prefect's server as ``homeward up`` starts it: Prefect's own application behind one gate.

A run started from a deployment's form in the Prefect UI may be given a name typed freely (its
"Run name" field). Prefect stores it and writes it into the run's first events before the flow
renames the run after its case (``case-<case_ref>/<step>``), and events are kept for the
retention period: a person's name typed there would stay. The gate drops the name from every
request that creates a run from a deployment, so the server gives the run a generated one (two
random words) until the flow names it. The same form has an "Enforce Parameter Schema" switch:
turned off, the server would create a run whatever its parameters; the gate drops that choice
too, as it does from a deployment's update (the UI's edit page), so the deployment's own (on,
``workflows.deployments``) holds and a value outside the form's lists never creates a run from
it. Two other ways through the API would give a deployment's run parameters its schema never
checked: creating a run with ``POST /flow_runs/`` naming the deployment, and changing a run's
parameters with ``PATCH /flow_runs/{id}``; Homeward uses neither (Prefect's own clients send no
``parameters`` when they update a run; a flow's scrub, below, is the one exception), so the
gate refuses both (403) and points at the
deployment's ``create_flow_run``, as it refuses ``create_flow_run/bulk``. No request keeps
``job_variables`` (a process worker's command and environment), and a deployment's update keeps
no schema, default parameters or code (entrypoint, path, pull steps, work pool) of its
editor's. Prefect's upsert (``POST /deployments/``, what
``prefect deploy`` sends) would replace all of these, and what code the deployment runs (its
entrypoint, path, pull steps, work pool): the gate refuses it (403) when it would change any of
them on an existing deployment.

A deployment's schedules give the runs the scheduler creates their own parameters, which the
server never checks against the deployment's schema (and those runs never pass the gate): no
schedule is added here (``POST /deployments/{id}/schedules``) nor deleted
(``DELETE /deployments/{id}/schedules/{schedule_id}``: a sweep's runs would stop), an update of one
(``PATCH /deployments/{id}/schedules/{schedule_id}``) may pause or resume it (``active``, as the
UI's switch sends it, with the schedule's own timing and empty parameters) or change its timing,
never give it parameters; a deployment's update keeps its schedules, and an upsert is refused
when its schedules carry parameters, or, on an existing deployment, differ from the
deployment's (Prefect's upsert replaces them all). No deployment is deleted here
(``DELETE /deployments/{id}``, ``POST /deployments/bulk_delete``): deleted, it could be created
again (an upsert of a new one) with another form and code, and Prefect's client leaves a served
deployment's pull steps and work pool out of the next registration (``homeward up`` sets them
again after it). The one update of a run's parameters that passes is a flow's own check
replacing the values it refused with ``SCRUBBED``.

A 503 from Prefect (its answer to an error a client may retry: on SQLite, "database is locked"
when writers meet, e.g. the event persister, the runner's heartbeats and a run's own state
changes) leaves the gate with a short ``Retry-After`` (``ShortRetryAfter``): Prefect's client
waits what it says instead of its own first backoff of about 2 s, which set a person's run's p95.

``homeward up``'s own registration passes unchanged: it sends the key ``homeward up`` gave this
server when it started it (``REGISTRATION_HEADER``), which nobody else holds. The flow checks
its parameters again all the same (``workflows.forms.checked``; the scheduled flows with
``workflows.forms.checks_first``). Everything else reaches Prefect unchanged.

Run as ``python -m homeward.edges.prefect_gate --host H --port P`` (``LocalServer.start``),
with the settings ``prefect server start`` would read from the same environment.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

CREATE_FROM_DEPLOYMENT = re.compile(r"^(/api)?/deployments/[^/]+/create_flow_run/?$")
CREATE_IN_BULK = re.compile(r"^(/api)?/deployments/[^/]+/create_flow_run/bulk/?$")
DEPLOYMENT = re.compile(r"^(/api)?/deployments/[^/]+/?$")  # its update (PATCH)
DEPLOYMENTS = re.compile(r"^(/api)?/deployments/?$")  # a deployment's creation or upsert (POST)
FLOW_RUNS = re.compile(r"^(/api)?/flow_runs/?$")  # a run's creation (POST)
FLOW_RUN = re.compile(r"^(/api)?/flow_runs/[^/]+/?$")  # a run's update (PATCH)
SCHEDULES = re.compile(r"^(/api)?/deployments/[^/]+/schedules/?$")  # their creation (POST)
SCHEDULE = re.compile(r"^(/api)?/deployments/[^/]+/schedules/[^/]+/?$")  # (PATCH, DELETE)
BULK_DELETE = re.compile(r"^(/api)?/deployments/bulk_delete/?$")  # (POST)
# A flow's deletion takes its deployments with it (Prefect's ``deployment.flow_id`` cascades),
# and their schedules: the sweeps would stop as by a deployment's deletion (review)
FLOW = re.compile(r"^(/api)?/flows/[^/]+/?$")  # (DELETE)
FLOWS_BULK_DELETE = re.compile(r"^(/api)?/flows/bulk_delete/?$")  # (POST)
CREATE_INSTEAD = "create it with POST /deployments/{id}/create_flow_run, which checks its schema"
# ``homeward up``'s own registration of its deployments carries the key it gave the server
# (in the server's environment, ``REGISTRATION_KEY``), and only that registration.
REGISTRATION_HEADER = "x-homeward-registration"
REGISTRATION_KEY = "HOMEWARD_GATE_REGISTRATION_KEY"
# What an upsert through the gate never changes on an existing deployment: its form, its
# default parameters, and what its runs run, where.
KEPT_BY_AN_UPSERT = (
    "parameter_openapi_schema",
    "enforce_parameter_schema",
    "parameters",
    "job_variables",
    "pull_steps",
    "entrypoint",
    "path",
    "work_pool_name",
    "work_queue_name",
)
# What an unkeyed update of a schedule may carry (the UI's switch sends the schedule's own
# slug, cron and parameters with ``active``): parameters only when empty, as Homeward's are.
SCHEDULE_FIELDS = frozenset({"active", "schedule", "slug", "max_scheduled_runs", "parameters"})
REGISTERS = "`homeward up` registers Homeward's deployments"
# What a flow's own check (``workflows.forms``) puts in place of a parameter's value it refused.
SCRUBBED = "(refused)"


# A 503's ``Retry-After`` (seconds) for the first retries of the same request: 0.2, 0.4, 0.8.
# Prefect's client (``prefect.client.base``) waits what the header says (and up to 20 % more),
# else ``2 ** try`` seconds with jitter (2, 4, 8, 16, 32: five retries). On ``homeward up``
# (SQLite) a 503 is a "database is locked" that the next try after the other writer's commit
# passes; its 2 s wait set the p95 of a person's run (start-return, submit to Completed: 1.5 to
# 3.5 s under load, p50 1.1 to 1.5 s). Measured (bench/prefect_bench.py --latency-only --runs
# 20, three pairs back to back, load 6-8): the 503s all met the run's creation (Prefect's
# create_flow_run reads, then writes, in one deferred transaction: a commit in between fails it
# at once, whatever the busy timeout; the commit was the previous run's logs, POST /logs as its
# process ends, in the three 503s traced), 4 to 10 a bench of 40 runs; the creation's p95
# went from 2.1-2.5 s to 0.1-0.5 s, start-return's submit to Completed p95 from 2.6-6.7 s to
# 1.7-2.3 s. The request's later retries get none: the client's own 16 and 32 s, so it still
# gives up only after about 50 s (62 s before), not after 1.5 s.
RETRY_AFTER_FIRST = 0.2
RETRY_AFTER_SHORT = 3
RETRY_AFTER_KEPT = 120.0  # seconds: how long a request's 503s are remembered (beyond its retries)
RETRY_AFTER_REMEMBERED = 1024  # requests remembered at most (a burst of 503s stays bounded)


class ShortRetryAfter:
    """ASGI middleware: a 503 without a ``Retry-After`` gets a short one, doubling for each
    retry of the same request (its method, path, query and body), for ``RETRY_AFTER_SHORT``
    of them. The response is otherwise Prefect's own; nothing is retried here."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.refused: dict[bytes, tuple[int, float]] = {}  # a request's digest: 503s, last at

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = _request_digest(scope)  # the body hashed as it streams in, never kept

        async def received() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body.update(message.get("body", b""))
            return message

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = self._answered(body.digest(), message)
            await send(message)

        await self.app(scope, received, sending)

    def _answered(self, key: bytes, start: Message) -> Message:
        """The response's start, with a ``Retry-After`` if it is a 503 without one; a request
        (``key``: its digest) answered otherwise is forgotten (a later 503 of it is a first one
        again). At most ``RETRY_AFTER_REMEMBERED`` requests are remembered, the oldest dropped."""
        now = time.monotonic()
        for old in [k for k, (_, at) in self.refused.items() if now - at > RETRY_AFTER_KEPT]:
            del self.refused[old]
        if start["status"] != 503:
            if self.refused:
                self.refused.pop(key, None)
            return start
        headers = list(start.get("headers", []))
        if any(k.lower() == b"retry-after" for k, _ in headers):
            return start
        while len(self.refused) >= RETRY_AFTER_REMEMBERED and key not in self.refused:
            del self.refused[next(iter(self.refused))]  # the oldest first (insertion order)
        earlier = self.refused.get(key, (0, now))[0]
        self.refused[key] = (earlier + 1, now)
        if earlier >= RETRY_AFTER_SHORT:
            return start  # the client's own backoff
        wait = RETRY_AFTER_FIRST * 2**earlier
        headers.append((b"retry-after", f"{wait:g}".encode("ascii")))
        return {**start, "headers": headers}


def _request_digest(scope: Scope) -> Any:
    """What tells a request's retries from other requests: its method, path and query, then
    its body as it is received (``update``), as one SHA-256."""
    digest = hashlib.sha256()
    for part in (scope["method"], scope.get("path", ""), scope.get("query_string", b"")):
        digest.update((part if isinstance(part, bytes) else str(part).encode()) + b"\0")
    return digest


def gated(app: App, registration_key: str | None) -> App:
    """Prefect's application ``app`` behind the gate, as ``main`` serves it."""
    return ShortRetryAfter(FixedRunNames(app, registration_key))


class FixedRunNames:
    """ASGI middleware: a run created from a deployment keeps no name its creator gave it, and
    its parameters are checked against the deployment's schema whatever the creator asked."""

    def __init__(self, app: App, registration_key: str | None = None) -> None:
        self.app = app
        self.registration_key = registration_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _changes_a_deployment(scope) and self._registers(scope):
            await self.app(scope, receive, send)  # ``homeward up`` registering its own
            return
        if _deletes(scope):
            await _refuse(send, f"deployments (nor their flows) are not deleted here; {REGISTERS}")
            return
        if _adds_schedules(scope):
            await _refuse(send, f"schedules are not added here; {REGISTERS} with theirs")
            return
        if _deletes_schedules(scope):
            await _refuse(
                send, f"schedules are not deleted here (pause one instead); {REGISTERS} with theirs"
            )
            return
        if _updates_a_schedule(scope):
            body = await _body(receive)
            await self._unless(schedule_refusal(body), scope, body, receive, send)
            return
        if _upserts(scope):
            body = await _body(receive)
            await self._unless(await self._upsert_refusal(scope, body), scope, body, receive, send)
            return
        if _in_bulk(scope):
            await _refuse(send, f"runs are not created in bulk here: {CREATE_INSTEAD}, one a run")
            return
        if _may_bypass_the_schema(scope):
            body = await _body(receive)
            refusal = bypassing(scope["method"], body)
            if refusal is not None and await self._scrubs(scope, body):
                refusal = None
            await self._unless(refusal, scope, body, receive, send)
            return
        if not _creates_a_run(scope):
            await self.app(scope, receive, send)
            return
        body = without_name(await _body(receive), scope["method"] == "PATCH")
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode("ascii")))
        await self.app({**scope, "headers": headers}, _replay(body, receive), send)

    async def _unless(
        self, refusal: str | None, scope: Scope, body: bytes, receive: Receive, send: Send
    ) -> None:
        """Refuse with ``refusal``, or pass the request (its ``body`` read already) to Prefect."""
        if refusal is not None:
            await _refuse(send, refusal)
            return
        await self.app(scope, _replay(body, receive), send)

    def _registers(self, scope: Scope) -> bool:
        """Whether the request carries the registration key ``homeward up`` gave this server."""
        if not self.registration_key:
            return False
        wanted = REGISTRATION_HEADER.encode("ascii")
        given = [v for k, v in scope["headers"] if k.lower() == wanted]
        key = self.registration_key.encode("utf-8")
        return len(given) == 1 and hmac.compare_digest(given[0], key)

    async def _upsert_refusal(self, scope: Scope, body: bytes) -> str | None:
        """Why the gate refuses this upsert (it would change what ``KEPT_BY_AN_UPSERT`` names
        on an existing deployment), or None."""
        data = _json_object(body)
        if data is None or not isinstance(data.get("name"), str):
            return None  # Prefect answers it as it would
        if _with_parameters(data.get("schedules")):
            return f"a deployment's schedules carry no parameters here; {REGISTERS}"
        found = await self._existing(scope, data.get("flow_id"), data["name"])
        if found is None or isinstance(found, str):
            return found  # a new deployment, or why the one it would replace is unknown
        changed = [name for name in KEPT_BY_AN_UPSERT if _changes(data, found, name)]
        if _schedules_change(data.get("schedules"), found.get("schedules")):
            changed.append("schedules")
        if not changed:
            return None
        return f"an existing deployment's {', '.join(changed)} are not changed here; {REGISTERS}"

    async def _scrubs(self, scope: Scope, body: bytes) -> bool:
        """Whether this update of a run's parameters only replaces some of their values with
        ``SCRUBBED`` (a flow's own check, ``workflows.forms``, scrubbing what it refused)."""
        data = _json_object(body)
        given = data.get("parameters") if data is not None else None
        if scope["method"] != "PATCH" or not isinstance(given, dict):
            return False
        run_id = str(scope["path"]).rstrip("/").rsplit("/", 1)[-1]
        answer = await self._read(scope, "GET", f"/flow_runs/{run_id}")
        stored = answer.json().get("parameters") if answer.status_code == 200 else None
        return (
            isinstance(stored, dict)
            and given.keys() == stored.keys()
            and all(value in (stored[key], SCRUBBED) for key, value in given.items())
        )

    async def _read(
        self, scope: Scope, method: str, path: str, query: Any = None
    ) -> httpx.Response:
        """Prefect's own answer to ``method path`` (JSON ``query``) from the same caller."""
        prefix = "/api" if str(scope.get("path", "")).startswith("/api/") else ""
        auth = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope["headers"]
            if k.lower() == b"authorization"
        }
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gate") as client:
            return await client.request(method, f"{prefix}{path}", json=query, headers=auth)

    async def _existing(self, scope: Scope, flow_id: Any, name: str) -> dict[str, Any] | None | str:
        """The deployment the upsert would replace (Prefect's own answer to the same caller), None
        if there is none, or why it could not be read."""
        query = {
            "flows": {"id": {"any_": [str(flow_id)]}},
            "deployments": {"name": {"any_": [name]}},
        }
        answer = await self._read(scope, "POST", "/deployments/filter", query)
        if answer.status_code != 200:
            return (
                f"the deployment this would replace could not be read (HTTP {answer.status_code})"
            )
        found = answer.json()
        return dict(found[0]) if isinstance(found, list) and found else None


def _changes(data: dict[str, Any], found: dict[str, Any], name: str) -> bool:
    """Whether the upsert ``data`` sets ``name`` to another value than ``found`` holds. Prefect
    keeps a field the upsert leaves out, but its default parameters become ``{}``; it ignores
    ``job_variables`` given as null."""
    if name == "parameters":
        return (data.get(name) or {}) != (found.get(name) or {})
    if name not in data or (name == "job_variables" and data[name] is None):
        return False
    return bool(data[name] != found.get(name))


def _with_parameters(schedules: Any) -> bool:
    """Whether any of an upsert's ``schedules`` sets parameters for its runs."""
    return isinstance(schedules, list) and any(
        isinstance(one, dict) and one.get("parameters") for one in schedules
    )


def _schedules_change(sent: Any, held: Any) -> bool:
    """Whether an upsert's ``sent`` schedules differ from those the deployment ``held``: Prefect's
    upsert deletes them all and creates the sent ones (none when it sends none)."""
    sent, left = sent or [], list(held or [])
    if not isinstance(sent, list) or len(sent) != len(left):
        return True
    for one in sent:
        same = next((h for h in left if isinstance(one, dict) and _same_schedule(one, h)), None)
        if same is None:
            return True
        left.remove(same)
    return False


def _same_schedule(sent: dict[str, Any], held: dict[str, Any]) -> bool:
    """Whether an upsert's schedule ``sent`` is the deployment's ``held`` one again: its timing
    (the fields it sends), its switch, its parameters and its slug (when it sends one)."""
    timing, held_timing = sent.get("schedule"), held.get("schedule") or {}
    return (
        isinstance(timing, dict)
        and all(held_timing.get(key) == value for key, value in timing.items())
        and sent.get("active", True) == held.get("active")
        and (sent.get("parameters") or {}) == (held.get("parameters") or {})
        and sent.get("slug", held.get("slug")) == held.get("slug")
    )


def schedule_refusal(body: bytes) -> str | None:
    """Why the gate refuses this update of a deployment's schedule, or None: it may pause or
    resume the schedule (``active``) and change its timing, but never give its runs parameters
    (the scheduler creates them without the deployment's schema check) or anything else."""
    data = _json_object(body)
    if data is None:
        return None  # Prefect answers it as it would
    if data.get("parameters"):
        return f"a schedule's parameters are not changed here; {REGISTERS}"
    other = sorted(key for key in data if key not in SCHEDULE_FIELDS)
    if other:
        return f"a schedule's {', '.join(other)} are not changed here; {REGISTERS}"
    return None


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _changes_a_deployment(scope: Scope) -> bool:
    """A deployment's upsert (``POST /deployments/``), update (``PATCH /deployments/{id}``) or
    deletion, or the creation, update or deletion of its schedules: what only ``homeward up``'s own
    registration passes unchanged."""
    return (
        _upserts(scope)
        or _deletes(scope)
        or _adds_schedules(scope)
        or _deletes_schedules(scope)
        or (_updates_a_schedule(scope) or _is(scope, "PATCH", DEPLOYMENT))
    )


def _is(scope: Scope, method: str, path: re.Pattern[str]) -> bool:
    return (
        scope["type"] == "http"
        and scope["method"] == method
        and bool(path.match(str(scope.get("path", ""))))
    )


def _upserts(scope: Scope) -> bool:
    """``POST /deployments/``: Prefect's create-or-replace of a deployment by flow and name."""
    return _is(scope, "POST", DEPLOYMENTS)


def _deletes(scope: Scope) -> bool:
    """``DELETE /deployments/{id}`` or ``POST /deployments/bulk_delete``: a deployment deleted
    could be created again (an upsert of a new one) with another form and code, which Prefect's
    client would keep at the next registration where it sends none (pull steps, work pool).
    ``DELETE /flows/{id}`` and ``POST /flows/bulk_delete`` delete a flow's deployments too."""
    return (
        _is(scope, "DELETE", DEPLOYMENT)
        or _is(scope, "POST", BULK_DELETE)
        or _is(scope, "DELETE", FLOW)
        or _is(scope, "POST", FLOWS_BULK_DELETE)
    )


def _adds_schedules(scope: Scope) -> bool:
    """``POST /deployments/{id}/schedules``."""
    return _is(scope, "POST", SCHEDULES)


def _deletes_schedules(scope: Scope) -> bool:
    """``DELETE /deployments/{id}/schedules/{schedule_id}`` (or all of them): the scheduler's
    runs of a sweep (reminders, escalations, the outbox) would stop without a word, until the
    next ``homeward up``; the UI's switch pauses one, which the gate lets through."""
    return _is(scope, "DELETE", SCHEDULE) or _is(scope, "DELETE", SCHEDULES)


def _updates_a_schedule(scope: Scope) -> bool:
    """``PATCH /deployments/{id}/schedules/{schedule_id}`` (the UI's pause/resume switch)."""
    return _is(scope, "PATCH", SCHEDULE)


def _creates_a_run(scope: Scope) -> bool:
    """A request that creates a run of a deployment, or changes a deployment (the UI's edit
    page has the same switch: a deployment's own schema check is never turned off here)."""
    if scope["type"] != "http":
        return False
    path = str(scope.get("path", ""))
    if scope["method"] == "POST":
        return bool(CREATE_FROM_DEPLOYMENT.match(path))
    return scope["method"] == "PATCH" and bool(DEPLOYMENT.match(path))


def _in_bulk(scope: Scope) -> bool:
    """``POST /deployments/{id}/create_flow_run/bulk``: a list of runs, each with its own
    name, parameters, schema switch and job variables. Homeward never uses it."""
    return scope["type"] == "http" and bool(CREATE_IN_BULK.match(str(scope.get("path", ""))))


def _may_bypass_the_schema(scope: Scope) -> bool:
    """A run's creation (``POST /flow_runs/``) or update (``PATCH /flow_runs/{id}``)."""
    if scope["type"] != "http":
        return False
    path = str(scope.get("path", ""))
    if scope["method"] == "POST":
        return bool(FLOW_RUNS.match(path))
    return scope["method"] == "PATCH" and bool(FLOW_RUN.match(path))


def bypassing(method: str, body: bytes) -> str | None:
    """Why the gate refuses this run's creation or update, or None: a run created naming a
    deployment, or a run's parameters changed, would skip the deployment's schema check."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return None  # Prefect answers it as it would
    if not isinstance(data, dict):
        return None
    if method == "POST" and data.get("deployment_id") is not None:
        return f"a run of a deployment is not created here: {CREATE_INSTEAD}"
    if method == "PATCH" and "parameters" in data:
        return f"a run's parameters are not changed here: {CREATE_INSTEAD} instead"
    return None


async def _refuse(send: Send, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode("utf-8")
    headers = [(b"content-type", b"application/json")]
    headers.append((b"content-length", str(len(body)).encode("ascii")))
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # the client's disconnect, when it comes
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


# Job variables reach the worker's job: on a process pool its ``command`` and ``env``, which
# would run anything beside the keyring and the system login. Homeward sets none.
DROPPED = ("name", "enforce_parameter_schema", "job_variables")
# A deployment's update (its edit page) keeps the form Homeward registered: its schema and its
# default parameters are Homeward's (``workflows.deployments``), never the editor's, and so is
# what its runs run, where (as an upsert's, ``KEPT_BY_AN_UPSERT``).
# Nor its schedules: their parameters reach the scheduler's runs unchecked.
DROPPED_FROM_A_DEPLOYMENT = (*DROPPED, *KEPT_BY_AN_UPSERT, "schedules")


def without_name(body: bytes, deployment: bool = False) -> bytes:
    """The request's JSON without its ``name``, its ``enforce_parameter_schema`` and its
    ``job_variables`` (and, for a ``deployment``'s update, its schema, default parameters and
    code: ``KEPT_BY_AN_UPSERT``, and its schedules); anything else as it came."""
    dropped = DROPPED_FROM_A_DEPLOYMENT if deployment else DROPPED
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return body  # Prefect answers it as it would
    if not isinstance(data, dict) or not any(key in data for key in dropped):
        return body
    for key in dropped:
        data.pop(key, None)
    return json.dumps(data).encode("utf-8")


def main(argv: list[str] | None = None) -> None:
    """Serve Prefect's API and UI, gated, on ``--host`` and ``--port`` until stopped."""
    import uvicorn
    from prefect.server.api.server import create_app

    parser = argparse.ArgumentParser(prog="homeward.edges.prefect_gate")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    level = os.environ.get("PREFECT_SERVER_LOGGING_LEVEL", "WARNING").lower()
    registration_key = os.environ.pop(REGISTRATION_KEY, None)  # Prefect's code never sees it
    app = gated(create_app(final=True), registration_key)
    uvicorn.run(app, host=args.host, port=args.port, log_level=level, timeout_keep_alive=5)


if __name__ == "__main__":
    main()

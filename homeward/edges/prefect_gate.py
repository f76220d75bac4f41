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
``parameters`` when they update a run), so the gate refuses both (403) and points at the
deployment's ``create_flow_run``, as it refuses ``create_flow_run/bulk``. No request keeps
``job_variables`` (a process worker's command and environment), and a deployment's update keeps
no schema or default parameters of its editor's. The flow checks its parameters again all the
same (``workflows.forms.checked``). Everything else reaches Prefect unchanged.

Run as ``python -m homeward.edges.prefect_gate --host H --port P`` (``LocalServer.start``),
with the settings ``prefect server start`` would read from the same environment.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

CREATE_FROM_DEPLOYMENT = re.compile(r"^(/api)?/deployments/[^/]+/create_flow_run/?$")
CREATE_IN_BULK = re.compile(r"^(/api)?/deployments/[^/]+/create_flow_run/bulk/?$")
DEPLOYMENT = re.compile(r"^(/api)?/deployments/[^/]+/?$")  # its update (PATCH)
FLOW_RUNS = re.compile(r"^(/api)?/flow_runs/?$")  # a run's creation (POST)
FLOW_RUN = re.compile(r"^(/api)?/flow_runs/[^/]+/?$")  # a run's update (PATCH)
CREATE_INSTEAD = "create it with POST /deployments/{id}/create_flow_run, which checks its schema"


class FixedRunNames:
    """ASGI middleware: a run created from a deployment keeps no name its creator gave it, and
    its parameters are checked against the deployment's schema whatever the creator asked."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _in_bulk(scope):
            await _refuse(send, f"runs are not created in bulk here: {CREATE_INSTEAD}, one a run")
            return
        if _may_bypass_the_schema(scope):
            body = await _body(receive)
            refusal = bypassing(scope["method"], body)
            if refusal is not None:
                await _refuse(send, refusal)
                return
            await self.app(scope, _replay(body, receive), send)
            return
        if not _creates_a_run(scope):
            await self.app(scope, receive, send)
            return
        body = without_name(await _body(receive), scope["method"] == "PATCH")
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode("ascii")))
        await self.app({**scope, "headers": headers}, _replay(body, receive), send)


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
# default parameters are Homeward's (``workflows.deployments``), never the editor's.
DROPPED_FROM_A_DEPLOYMENT = (*DROPPED, "parameter_openapi_schema", "parameters")


def without_name(body: bytes, deployment: bool = False) -> bytes:
    """The request's JSON without its ``name``, its ``enforce_parameter_schema`` and its
    ``job_variables`` (and, for a ``deployment``'s update, its schema and default parameters);
    anything else as it came."""
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
    app = FixedRunNames(create_app(final=True))
    uvicorn.run(app, host=args.host, port=args.port, log_level=level, timeout_keep_alive=5)


if __name__ == "__main__":
    main()

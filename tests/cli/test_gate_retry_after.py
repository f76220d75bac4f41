"""A 503 leaves the gate with a short ``Retry-After`` (``ShortRetryAfter``), and Prefect's own
client retries after it instead of after its own first backoff of about 2 s: on ``homeward up``
(SQLite) a 503 is a "database is locked" between writers, and that 2 s wait set the p95 of a
person's run. The same request's later 503s get a doubled wait, then none (the client's own
16 and 32 s), so the client still gives up only after about 50 s.

Prefect's application is stood in for by a small ASGI app that answers requests with the
statuses it is given, a 503 as Prefect's handler answers a retryable error (its JSON body, no
``Retry-After``), then 200. The client is Prefect's own (``PrefectHttpxAsyncClient``), unchanged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy
from prefect.client.base import PrefectHttpxAsyncClient
from prefect.server.api.server import create_app
from starlette.routing import Mount

from homeward.edges import prefect_gate
from homeward.edges.prefect_gate import RETRY_AFTER_FIRST, gated

STATE = ("POST", "/api/flow_runs/r1/set_state", {"state": {"type": "RUNNING"}})


class Prefect:
    """Answers each request with the next status of ``script`` (200 once it is used up); a 503
    as Prefect answers a retryable error, with ``retry_after`` as its own header if given."""

    def __init__(self, *script: int, retry_after: str | None = None) -> None:
        self.script = list(script)
        self.retry_after = retry_after
        self.tries: list[float] = []

    async def __call__(self, _scope: Any, receive: Any, send: Any) -> None:
        await receive()
        self.tries.append(time.monotonic())
        status = self.script.pop(0) if self.script else 200
        answer: dict[str, Any] = {"ok": True}
        headers = [(b"content-type", b"application/json")]
        if status == 503:
            answer = {"exception_message": "Service Unavailable"}
            if self.retry_after is not None:
                headers.append((b"retry-after", self.retry_after.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": json.dumps(answer).encode()})


def answers(prefect: Prefect, requests: list[tuple[str, str, Any]]) -> list[httpx.Response]:
    """The gate's answers to ``requests`` (method, path, JSON), one after the other, through
    plain httpx (which does not retry)."""

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=gated(prefect, None))
        async with httpx.AsyncClient(transport=transport, base_url="http://gate") as client:
            return [await client.request(m, path, json=data) for m, path, data in requests]

    return asyncio.run(go())


def test_a_503_gets_a_short_retry_after_doubling_for_the_same_requests_first_retries() -> None:
    got = answers(Prefect(503, 503, 503, 503, 503), [STATE] * 5)
    assert [a.status_code for a in got] == [503] * 5
    waits = [a.headers.get("retry-after") for a in got]
    assert waits == ["0.2", "0.4", "0.8", None, None]  # then the client's own 16 and 32 s
    assert got[0].json() == {"exception_message": "Service Unavailable"}  # Prefect's own answer


def test_each_request_s_first_503_gets_the_first_wait_and_an_answer_forgets_it() -> None:
    other_body = ("POST", "/api/flow_runs/r1/set_state", {"state": {"type": "COMPLETED"}})
    other_path = ("GET", "/api/flow_runs/r2", None)
    requests = [STATE, other_body, other_path, STATE, STATE, STATE]
    got = answers(Prefect(503, 503, 503, 503, 200, 503), requests)
    assert [a.status_code for a in got] == [503, 503, 503, 503, 200, 503]
    waits = [a.headers.get("retry-after") for a in got]
    # the state change's second 503 is a retry; answered, its next 503 is a first one again
    assert waits == ["0.2", "0.2", "0.2", "0.4", None, "0.2"]


def test_prefect_s_own_retry_after_and_other_answers_pass_unchanged() -> None:
    got = answers(Prefect(503, retry_after="7"), [("GET", "/api/health", None)])
    assert got[0].status_code == 503 and got[0].headers["retry-after"] == "7"
    got = answers(Prefect(), [("GET", "/api/health", None)])
    assert got[0].status_code == 200 and "retry-after" not in got[0].headers


class PlannedWaits(logging.Handler):
    """The waits Prefect's client plans before each retry, as its own debug line says them
    ("Another attempt will be made in 0.23s"): what it chose, whatever the machine's load."""

    PLANNED = re.compile(r"Another attempt will be made in ([0-9.]+)s")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seconds: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        found = self.PLANNED.search(record.getMessage())
        if found:
            self.seconds.append(float(found.group(1)))


@contextmanager
def planned_waits() -> Iterator[PlannedWaits]:
    client_log = logging.getLogger("prefect.client")
    handler, level = PlannedWaits(), client_log.level
    client_log.addHandler(handler)
    client_log.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        client_log.removeHandler(handler)
        client_log.setLevel(level)


def test_prefect_s_client_retries_a_503_after_the_short_wait_not_its_own_2_s() -> None:
    """Judged on the waits the client planned (its log), not on wall time: on a loaded machine
    a 0.2 s sleep can last over a second, and a timed bound then failed for the wrong reason.
    The measured gaps are still checked from below (the client does sleep what it planned)."""
    prefect = Prefect(503, 503)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=gated(prefect, None))
        async with PrefectHttpxAsyncClient(transport=transport, base_url="http://gate") as client:
            return await client.post("/api/flow_runs/r1/set_state", json={"state": {}})

    with planned_waits() as planned:
        answer = asyncio.run(go())
    assert answer.status_code == 200
    assert len(prefect.tries) == 3
    # Retry-After 0.2 then 0.4 s, the client adding up to 20 % (its jitter); without the header
    # it plans 2 then 4 s (each within 20 %)
    first, second = planned.seconds
    assert RETRY_AFTER_FIRST <= first <= RETRY_AFTER_FIRST * 1.2
    assert 2 * RETRY_AFTER_FIRST <= second <= 2 * RETRY_AFTER_FIRST * 1.2
    waits = [b - a for a, b in zip(prefect.tries, prefect.tries[1:], strict=False)]
    assert waits[0] >= first and waits[1] >= second


def test_prefect_s_answer_to_a_locked_sqlite_database_leaves_the_gate_with_the_short_wait(
    tmp_path: Path,
) -> None:
    """Prefect's own application and its handler of a retryable error (which answers 503, then
    raises the error again), on a route added for the test that writes to an SQLite database
    another connection holds locked (no busy wait: SQLite's "database is locked" at once)."""
    database = tmp_path / "locked.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{database}", connect_args={"timeout": 0})
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    app = create_app(final=False, ignore_cache=True)
    api = next(r.app for r in app.routes if isinstance(r, Mount) and r.path == "/api")

    def write() -> None:
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO t VALUES (1)")

    api.add_api_route("/test-write", write, methods=["POST"])
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the other writer, holding the lock
    try:

        async def go() -> list[httpx.Response]:
            transport = httpx.ASGITransport(app=gated(app, None), raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://gate") as client:
                return [await client.post("/api/test-write", json={}) for _ in range(2)]

        got = asyncio.run(go())
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        engine.dispose()
    assert [a.status_code for a in got] == [503, 503]
    assert got[0].json() == {"exception_message": "Service Unavailable"}
    assert [a.headers.get("retry-after") for a in got] == ["0.2", "0.4"]


def test_the_requests_remembered_are_bounded_and_their_bodies_never_kept(monkeypatch) -> None:
    """A burst of distinct 503'd requests keeps at most ``RETRY_AFTER_REMEMBERED`` digests (the
    oldest dropped: its next 503 is a first one again); only digests are kept, never a body."""
    monkeypatch.setattr(prefect_gate, "RETRY_AFTER_REMEMBERED", 3)
    app = gated(Prefect(*[503] * 6), None)

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gate") as client:
            sent = [("POST", f"/api/logs/{n}", [{"message": "x" * 1000}]) for n in range(5)]
            sent.append(sent[0])  # dropped as the oldest: a first 503 again
            return [await client.request(m, path, json=data) for m, path, data in sent]

    got = asyncio.run(go())
    assert [a.headers.get("retry-after") for a in got] == ["0.2"] * 6
    assert len(app.refused) == 3
    assert all(isinstance(key, bytes) and len(key) == 32 for key in app.refused)

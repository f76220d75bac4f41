"""Raw requests to a Prefect API as Prefect's own client sends them."""

import asyncio
import time
from typing import Any

import httpx

RETRIED_FOR = 120.0  # seconds a 503 is sent again: a guard, not a wait (each ends at the answer)
RETRY_EVERY = 0.5  # seconds between tries


def sent(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    """A raw request as Prefect's client sends it: again while the server answers 503 (its
    SQLite database locked by another writer, on a loaded machine), for up to 120 s as a guard
    (ten tries 0.5 s apart gave a loaded CI's writer about 5 s; Prefect's client waits ~50).
    Every raw request of these tests goes through here: a refusal (403) is never retried, and
    a single raw PATCH that met a locked database failed a loaded CI with a 503."""
    deadline = time.monotonic() + RETRIED_FOR
    while True:
        answer = httpx.request(method, url, json=body, headers=headers, timeout=30)
        if answer.status_code != 503 or time.monotonic() > deadline:
            return answer
        time.sleep(RETRY_EVERY)


class RetriedOn503(httpx.AsyncBaseTransport):
    """An async transport that sends a request again while the server answers 503, as Prefect's
    own client does (on PostgreSQL: a connection the server could not get in time, on a loaded
    machine), for up to ``wait`` seconds; any other answer is returned as it came."""

    def __init__(self, wait: float = RETRIED_FOR) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.wait = wait

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        deadline = time.monotonic() + self.wait
        while True:
            answer = await self.inner.handle_async_request(request)
            if answer.status_code != 503 or time.monotonic() > deadline:
                return answer
            await answer.aclose()
            await asyncio.sleep(RETRY_EVERY)

    async def aclose(self) -> None:
        await self.inner.aclose()


def prefect_client(base_url: str, timeout: float = 30) -> httpx.AsyncClient:
    """An async client of a Prefect API whose requests are sent again on a 503."""
    return httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=RetriedOn503())

"""Watching Prefect's scheduler while ``homeward up`` serves: say loudly, and keep saying, when no
scheduled run is being created, and say when it recovers.

Two signs, each read by a pure function: error lines of the scheduler in the local server's log
(a failed pass is logged by docket, which runs Prefect 3.8's services), and, through the API, a
served deployment with an active schedule but no SCHEDULED run ahead some minutes after start.
With ``--api-url`` there is no local log: only the API is asked. Homeward's schedules are hourly
and daily, well inside the 100 days Prefect schedules ahead, so each always has a run ahead
when the scheduler works.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from homeward.edges.prefect_auth import basic_auth_headers

ADVICE = (
    "check the installed packages against constraints.txt "
    "(pip install -c constraints.txt -e '.[dev]' installs the tested set)"
)
RECOVERED = "Prefect's scheduler has recovered: scheduled runs are being created again"

# A log line of the local server: "18:45:21.519 | ERROR   | docket.dependencies - message".
LOG_LINE = re.compile(
    r"^\d\d:\d\d:\d\d\.\d+ \| (?P<level>[A-Z]+) *\| (?P<logger>[\w.]+) - (?P<msg>.*)"
)
# "sqlalchemy.exc.InvalidRequestError: Can't evaluate ...": a traceback's closing line.
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(: |$)")
FAILING_LEVELS = frozenset({"ERROR", "CRITICAL"})
# (logger, message) of a failed scheduler pass in Prefect 3.8's server log.
SCHEDULER_FAILURES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("docket.dependencies", re.compile(r"\] schedule_(recent_)?deployments\(")),
    ("docket.worker", re.compile(r"\] schedule_(recent_)?deployments\(")),
    ("prefect.server.services.scheduler", re.compile(r"^Error scheduling deployment")),
)


@dataclass(frozen=True)
class WatchTimes:
    """How often to look, and how long a sign lasts (seconds)."""

    check: float = 15.0  # between two looks
    repeat: float = 300.0  # between two warnings while it lasts
    log_window: float = 150.0  # a logged failure counts this long: over two 60 s scheduler passes
    api_grace: float = 180.0  # after start, before a missing run ahead counts


def scheduler_failures(lines: Iterable[str]) -> list[str]:
    """One line per failed scheduler pass: the exception its traceback ends with, or its message.

    Args:
        lines: lines of the server's log, in order.
    """
    failures: list[str] = []
    inside = False  # within the record of a failed pass (its traceback follows it)
    for line in lines:
        record = LOG_LINE.match(line)
        if record:
            inside = _is_scheduler_failure(record)
            if inside:
                failures.append(record["msg"].strip())
        elif inside and EXCEPTION_LINE.match(line):
            failures[-1] = line.strip()  # the last one is the exception the pass ended with
    return failures


def _is_scheduler_failure(record: re.Match[str]) -> bool:
    if record["level"] not in FAILING_LEVELS:
        return False
    return any(
        record["logger"] == name and rx.search(record["msg"]) for name, rx in SCHEDULER_FAILURES
    )


@dataclass
class LogTail:
    """The lines appended to a log file since the last read (complete lines only)."""

    path: Path
    offset: int = 0
    partial: bytes = b""

    def read_new(self) -> list[str]:
        """Lines written since the previous call; starts over if the file was replaced."""
        try:
            size = self.path.stat().st_size
            if size < self.offset:
                self.offset, self.partial = 0, b""
            with self.path.open("rb") as log:
                log.seek(self.offset)
                data = self.partial + log.read()
        except OSError:
            return []
        self.offset += len(data) - len(self.partial)
        *complete, self.partial = data.split(b"\n")
        return [line.decode("utf-8", errors="replace").rstrip("\r") for line in complete]


class Served(NamedTuple):
    """A deployment as the API shows it: whether it is on a schedule, and its runs ahead."""

    name: str
    on_schedule: bool  # not paused, with at least one active schedule
    runs_ahead: int  # SCHEDULED flow runs expected to start after now


def stalled(served: Iterable[Served]) -> list[str]:
    """Names of the deployments on a schedule that have no run ahead, sorted."""
    return sorted(d.name for d in served if d.on_schedule and d.runs_ahead == 0)


async def read_served(
    api_url: str, names: list[str], now: datetime, auth: str | None = None
) -> list[Served]:
    """Ask the Prefect API about the deployments called ``names`` (one request each for runs),
    with the basic ``auth`` string (``user:password``) if the server requires one."""
    api = api_url.rstrip("/")
    headers = basic_auth_headers(auth)
    async with httpx.AsyncClient(timeout=10.0, headers=headers) as client:
        found = await _post(client, f"{api}/deployments/filter", {"deployments": _named(names)})
        return [await _served(client, api, d, now) for d in found]


async def _served(client: httpx.AsyncClient, api: str, deployment: Any, now: datetime) -> Served:
    on_schedule = not deployment.get("paused") and any(
        s.get("active") for s in deployment.get("schedules") or []
    )
    ahead = {
        "flow_runs": {
            "state": {"type": {"any_": ["SCHEDULED"]}},
            "expected_start_time": {"after_": now.isoformat()},
        },
        "deployments": {"id": {"any_": [deployment["id"]]}},
    }
    count = await _post(client, f"{api}/flow_runs/count", ahead) if on_schedule else 0
    return Served(deployment["name"], on_schedule, int(count))


def _named(names: list[str]) -> dict[str, Any]:
    return {"name": {"any_": names}}


async def _post(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> Any:
    response = await client.post(url, json=body)
    response.raise_for_status()
    return response.json()


def warning(reason: str, where: str) -> str:
    """The line ``homeward up`` prints while the scheduler fails."""
    return (
        f"WARNING: Prefect's scheduler is failing ({reason}): no scheduled runs are being "
        f"created, so the scheduled flows do not run; {ADVICE}; see {where}"
    )


@dataclass
class Alarm:
    """What to say now, given whether something is wrong: a warning at once and every
    ``repeat`` seconds while it lasts, one line when it ends, nothing otherwise."""

    repeat: float
    last_said: float | None = None

    def update(self, reason: str | None, now: float, where: str) -> str | None:
        """The line to print now, if any; ``reason`` is None when all is well."""
        if reason is None:
            if self.last_said is None:
                return None
            self.last_said = None
            return RECOVERED
        if self.last_said is not None and now - self.last_said < self.repeat:
            return None
        self.last_said = now
        return warning(reason, where)


@dataclass
class Signs:
    """The two signs, remembered between looks; ``reason`` says what is wrong now, if anything."""

    times: WatchTimes
    started: float
    failed_at: float | None = None
    failure: str = ""
    missing: list[str] = field(default_factory=list)

    def saw_log(self, lines: list[str], now: float) -> None:
        """Take in the log lines written since the last look."""
        failures = scheduler_failures(lines)
        if failures:
            self.failed_at, self.failure = now, failures[-1]

    def saw_api(self, served: list[Served], now: float) -> None:
        """Take in what the API says; ignored during the grace period after start."""
        self.missing = stalled(served) if now - self.started >= self.times.api_grace else []

    def reason(self, now: float) -> str | None:
        """What is wrong now, in a few words, or None."""
        reasons = []
        if self.failed_at is not None and now - self.failed_at < self.times.log_window:
            reasons.append(f"its log reports: {self.failure[:200]}")
        if self.missing:
            reasons.append(f"no scheduled run ahead for {', '.join(self.missing)}")
        return "; ".join(reasons) or None


async def watch(
    api_url: str,
    log_path: Path | None,
    names: list[str],
    say: Callable[[str], None],
    times: WatchTimes = WatchTimes(),  # noqa: B008 (frozen, shared safely)
    auth: str | None = None,
) -> None:
    """Look at the log (if local) and the API (with the basic ``auth`` string, if any) every
    ``times.check`` seconds until cancelled."""
    loop = asyncio.get_running_loop()
    signs, alarm = Signs(times, loop.time()), Alarm(times.repeat)
    tail = LogTail(log_path) if log_path is not None else None
    where = str(log_path) if log_path is not None else f"the Prefect server's log ({api_url})"
    while True:
        if tail is not None:
            signs.saw_log(tail.read_new(), loop.time())
        served = await _served_or_none(api_url, names, auth)
        if served is not None:
            signs.saw_api(served, loop.time())
        line = alarm.update(signs.reason(loop.time()), loop.time(), where)
        if line is not None:
            say(line)
        await asyncio.sleep(times.check)


async def _served_or_none(api_url: str, names: list[str], auth: str | None) -> list[Served] | None:
    """What the API says, or None if it does not answer now (busy or restarting: look again)."""
    try:
        return await read_served(api_url, names, datetime.now(UTC), auth)
    except (httpx.HTTPError, ValueError):
        return None

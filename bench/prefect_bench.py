"""Benchmark: what Prefect costs Homeward, measured side by side in one run on a real Prefect
server (the test harness: a local server on its own SQLite database).

Not a test: run it by hand and read the table.

    .venv/bin/python bench/prefect_bench.py [--cases 1000] [--runs 20]

It measures
1. flow-run overhead: an empty async flow and an empty sync flow, and ``record-checklist-item``
   against the same engine work done without Prefect (the difference is what the flow adds);
2. ``sweep-due-items`` over ``--cases`` open cases: the day's first run (every open item
   considered, reminders and escalations queued) and a later hourly run (nothing left to do),
   beside the engine's reminder run alone;
3. how much Prefect's database grows per flow run of each kind, and from that per case-month,
   with the counts per case-month printed beside the result (they come from the v1 catalog);
4. what a person waits for (issue 19, point 2), with ``--latency`` (alone: ``--latency-only``):
   ``homeward up`` started as a user starts it (its own Prefect server, the deployments served
   by its runner), then ``--runs`` ``start-return`` runs created one after the other as the
   staff workspace creates them, each timed from submit to Completed (target p95 < 3 s), split
   into the wait for the runner to pick the run up (Scheduled -> Pending), the run's start
   (Pending -> Running) and the run itself (Running -> Completed); beside it the same action
   acknowledged through the commands layer (``StartCase`` through ``commands.runner.run``,
   target p95 < 300 ms). The load average is printed with each figure, and the 503s
   ("database is locked") the server answered meanwhile, by where the database was locked:
   each costs its client a wait (the gate's short ``Retry-After``, ``prefect_gate``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# The project's root, for ``tests.factories`` (run as ``python bench/prefect_bench.py``, only
# bench/ is on the path; the installed packages import without it).
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from prefect import flow  # noqa: E402
from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL  # noqa: E402
from prefect.testing.utilities import prefect_test_harness  # noqa: E402
from sections import load_average, put_section, taken  # noqa: E402
from sqlmodel import col, func, select  # noqa: E402

from homeward.base import settings as homeward_settings  # noqa: E402
from homeward.base.choices import offered  # noqa: E402
from homeward.base.db import get_engine, make_engine, write_session  # noqa: E402
from homeward.base.migrate import upgrade  # noqa: E402
from homeward.base.models import ChecklistItem, ItemStatus, OutboxMessage  # noqa: E402
from homeward.commands.cases import StartCase  # noqa: E402
from homeward.commands.runner import run as run_command  # noqa: E402
from homeward.commands.signin import IssueAssertion  # noqa: E402
from homeward.crypt.keys import init_keyring  # noqa: E402
from homeward.edges.demo import ORGANISATIONS, seed, staff_email  # noqa: E402
from homeward.protection import identity  # noqa: E402
from homeward.protection.vault import PersonIn  # noqa: E402
from homeward.records.directory import get_org, list_orgs  # noqa: E402
from notifications.reminders import queue_reminders  # noqa: E402
from statemachines.cases import CaseIn, get_case, start_case  # noqa: E402
from tasks import checklist  # noqa: E402
from tasks.catalog import load_catalog  # noqa: E402
from tests.factories import acting  # noqa: E402  (the engine, measured below the commands)
from workflows.advance_case import advance_case  # noqa: E402
from workflows.caseload_report import caseload_report  # noqa: E402
from workflows.record_checklist_item import ItemResult, record_checklist_item  # noqa: E402
from workflows.start_return import start_return  # noqa: E402
from workflows.sweep_due_items import sweep_due_items  # noqa: E402

COORDINATOR = staff_email("iom-it", "coordinator")
CASEWORKER = staff_email("iom-it", "caseworker")
LIFETIME_MONTHS = 8  # about 2 months to return, then the 6-month follow-up
HAPPY_PATH_TRANSITIONS = 7


@flow(name="empty-async", persist_result=False)
async def empty_async() -> None:
    """Nothing at all: the floor of an async flow run."""


@flow(name="empty-sync", persist_result=False)
def empty_sync() -> None:
    """Nothing at all, as a sync flow (its heartbeat thread is joined at the end)."""


def prepare(folder: Path) -> None:
    """A fresh Homeward database and keyring in ``folder``, with the demo's organisations."""
    os.environ["HOMEWARD_DATABASE_URL"] = f"sqlite:///{folder / 'homeward.db'}"
    os.environ["HOMEWARD_KEY_FILE"] = str(init_keyring(folder / "keys.json"))
    os.environ["HOMEWARD_MAIL_DIGEST_HOUR"] = "0"  # the day's reminder run happens at any hour
    homeward_settings.get_settings.cache_clear()
    get_engine.cache_clear()
    upgrade(get_engine())
    seed(get_engine())


def open_cases(count: int, rng: random.Random) -> None:
    """``count`` open cases, opened over the last 60 days, so items are due across the range."""
    hosts = sorted({country for *_, country in ORGANISATIONS if country != "RO"})
    now = datetime.now(UTC)
    for _ in range(count):
        with write_session() as session:
            start_case(
                session,
                actor=acting(session=session, email=COORDINATOR),
                case_in=CaseIn(host_country=rng.choice(hosts)),
                person=PersonIn(given_name="Bench", family_name="Person"),
                now=now - timedelta(days=rng.uniform(0, 60)),
            )


def open_items(limit: int) -> list[int]:
    """Open items IOM Italy's caseworker can record done without an outcome code."""
    catalog = load_catalog("v1")
    plain = [s.code for specs in catalog.stages.values() for s in specs if not s.outcomes]
    with write_session() as session:
        org = get_org(session=session, slug="iom-it")
        query = select(ChecklistItem.id).where(
            ChecklistItem.status == ItemStatus.OPEN,
            ChecklistItem.owner_org_id == org.id,
            col(ChecklistItem.code).in_(plain),
        )
        return [i for i in session.exec(query.order_by(col(ChecklistItem.id)).limit(limit)) if i]


def finish_stage(case_ref: str) -> None:
    """Every open item of the case's stage recorded done by its owner, through the engine."""
    catalog = load_catalog("v1")
    with write_session() as session:
        case = get_case(
            session, case_ref=case_ref, actor=acting(session=session, email=COORDINATOR)
        )
        rows = session.exec(
            select(ChecklistItem).where(
                ChecklistItem.case_id == case.id,
                ChecklistItem.stage == case.state,
                ChecklistItem.status == ItemStatus.OPEN,
            )
        ).all()
        slugs = {o.id: o.slug for o in list_orgs(session=session)}
        for item in rows:
            spec = catalog.spec(item.code)
            who = acting(session=session, email=staff_email(slugs[item.owner_org_id], "caseworker"))
            outcome = spec.outcomes[0] if spec.outcomes else None
            checklist.mark_done(
                session, item_id=item.id or 0, actor=who, now=datetime.now(UTC), outcome=outcome
            )


def assertions(email: str, flow_name: str, count: int) -> list[str]:
    """``count`` run assertions for ``flow_name``, issued in one session of ``email``, as
    ``homeward login`` and then ``homeward assertion --flow`` would (outside the timings)."""
    token = signed_in(email)
    return [run_command(IssueAssertion(flow_name), token).token for _ in range(count)]


def prefect_bytes() -> int:
    """Bytes Prefect's SQLite database uses (pages in use, WAL checkpointed)."""
    path = PREFECT_SERVER_DATABASE_CONNECTION_URL.value().split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int((pages - free) * size)


async def timed(step: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await step()
    return time.perf_counter() - start


async def median_of(runs: int, step: Callable[[int], Awaitable[Any]]) -> float:
    times = []
    for i in range(runs):
        start = time.perf_counter()
        await step(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def engine_mark_done(item_id: int) -> None:
    with write_session() as session:
        actor = acting(session=session, email=CASEWORKER)
        checklist.mark_done(session, item_id=item_id, actor=actor, now=datetime.now(UTC))


async def overhead(runs: int) -> dict[str, float]:
    await empty_async()  # warm up: first run registers the flow
    items = open_items(2 * runs + 1)
    engine_only = statistics.median(
        [_clocked(lambda i=i: engine_mark_done(i)) for i in items[:runs]]  # type: ignore[misc]
    )
    signed = assertions(CASEWORKER, "record-checklist-item", runs)
    record = await median_of(
        runs,
        lambda i: record_checklist_item(
            item_id=items[runs + i], result=ItemResult.DONE, assertion=signed[i]
        ),
    )
    return {
        "empty async flow": await median_of(runs, lambda _: empty_async()),
        "empty sync flow": await median_of(
            max(3, runs // 4), lambda _: asyncio.to_thread(empty_sync)
        ),
        "mark item done, engine only": engine_only,
        "record-checklist-item flow": record,
    }


def _clocked(step: Callable[[], Any]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def engine_reminder_run(folder: Path) -> float:
    """The same day's reminder run without Prefect, on a copy of the database (same work)."""
    copy = folder / "engine-only.db"
    source = sqlite3.connect(str(folder / "homeward.db"))
    with sqlite3.connect(str(copy)) as target:
        source.backup(target)
    source.close()
    engine = make_engine(f"sqlite:///{copy}")
    start = time.perf_counter()
    with write_session(engine) as session:
        queue_reminders(session, now=datetime.now(UTC))
    elapsed = time.perf_counter() - start
    engine.dispose()
    return elapsed


async def sweep(cases: int, folder: Path) -> dict[str, float]:
    with write_session() as session:
        query = select(func.count()).select_from(ChecklistItem)
        open_count = session.exec(query.where(ChecklistItem.status == ItemStatus.OPEN)).one()
    engine_only = engine_reminder_run(folder)
    first = await timed(lambda: sweep_due_items(send=False))
    later = await timed(lambda: sweep_due_items(send=False))
    with write_session() as session:
        queued = session.exec(select(func.count()).select_from(OutboxMessage)).one()
    print(f"  ({cases} open cases, {open_count} open items, {queued} emails queued)")
    return {
        "reminder run, engine only": engine_only,
        "sweep-due-items, day's first run": first,
        "sweep-due-items, later hourly run": later,
    }


async def growth(runs: int) -> dict[str, float]:
    """Bytes per run of each flow kind in Prefect's database."""
    per_run: dict[str, float] = {}

    async def measure(name: str, step: Callable[[int], Awaitable[Any]]) -> None:
        before = prefect_bytes()
        for i in range(runs):
            await step(i)
        per_run[name] = (prefect_bytes() - before) / runs

    refs: list[str] = []
    opening = assertions(COORDINATOR, "start-return", runs)

    async def start(i: int) -> None:
        result = await start_return(host_country="IT", assertion=opening[i])
        refs.append(result["case_ref"])

    await measure("start-return", start)
    for ref in refs:
        finish_stage(ref)
    moving = assertions(COORDINATOR, "advance-case", runs)
    await measure(
        "advance-case",
        lambda i: advance_case(
            case_ref=refs[i],
            trigger="record_consent",
            assertion=moving[i],
            data={"method": "signed", "language": "ro"},
        ),
    )
    items, signed = open_items(runs), assertions(CASEWORKER, "record-checklist-item", runs)
    await measure(
        "record-checklist-item",
        lambda i: record_checklist_item(
            item_id=items[i], result=ItemResult.DONE, assertion=signed[i]
        ),
    )
    await measure("sweep-due-items", lambda _: sweep_due_items(send=False))
    await measure("caseload-report", lambda _: caseload_report())
    return per_run


def case_month(per_run: dict[str, float]) -> tuple[float, float]:
    """(bytes per case-month, fixed bytes per month of scheduled runs) from per-run sizes."""
    items = sum(len(specs) for specs in load_catalog("v1").stages.values())
    per_case = (
        per_run["start-return"] / LIFETIME_MONTHS
        + per_run["advance-case"] * HAPPY_PATH_TRANSITIONS / LIFETIME_MONTHS
        + per_run["record-checklist-item"] * items / LIFETIME_MONTHS
    )
    fixed = per_run["sweep-due-items"] * 24 * 30 + per_run["caseload-report"] * 30
    print(
        f"  case-month: 1/{LIFETIME_MONTHS} start-return, {HAPPY_PATH_TRANSITIONS}/"
        f"{LIFETIME_MONTHS} advance-case, {items}/{LIFETIME_MONTHS} record-checklist-item "
        "(every catalog item recorded through a flow); fixed: 720 hourly sweeps + 30 reports"
    )
    return per_case, fixed


# ---------------------------------------------------------------- what a person waits for

ROOT = Path(__file__).resolve().parent.parent
UP_READY_SECONDS = 240.0
RUN_TIMEOUT_SECONDS = 120.0
TARGET_COMPLETED_P95 = 3.0
TARGET_ACK_P95 = 0.3
# a frame of a retryable error's traceback in Prefect's server: the innermost one names where
# the database was locked (e.g. ``models/flow_runs.py``'s ``set_flow_run_state``)
RETRYABLE_IN = re.compile(
    r"prefect/server/(?P<module>(?:api|models|events)/[\w/]+)\.py\", line \d+, in (?P<name>\w+)"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def signed_in(email: str) -> identity.SessionToken:
    """A session of ``email``, as ``homeward login`` makes one."""
    now = datetime.now(UTC)
    with write_session() as session:
        opened = identity.open_challenge(session, email=email, now=now, channel="bench")
        assert opened.code
        signed = identity.redeem(session, email=email, code=opened.code, now=now, label="bench")
    assert signed is not None
    return identity.SessionToken(signed.token)


class Up:
    """``homeward up`` as a user starts it, on the bench's database, until ``stop``."""

    def __init__(self, folder: Path, timing: bool = False) -> None:
        keep = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        self.timing = folder / "timing.log" if timing else None
        self.port, web_port = _free_port(), _free_port()
        self.env = {
            **keep,
            "PYTHONPATH": str(ROOT),
            "HOMEWARD_PREFECT_HOME": str(folder / "prefect"),
            "PREFECT_HOME": str(folder / "prefect-client"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PYTHONUNBUFFERED": "1",
            # each 503 (database locked) the server answers, logged: counted by ``refusals``
            "PREFECT_SERVER_LOG_RETRYABLE_ERRORS": "true",
        }
        if self.timing is not None:  # workflows.timing's marks, into this file
            self.env["HOMEWARD_TIMING_LOG"] = str(self.timing)
        self.log = (folder / "up.log").open("w")
        command = [str(Path(sys.executable).parent / "homeward"), "up", "--port", str(self.port)]
        self.process = subprocess.Popen(  # noqa: S603 (our own command)
            [*command, "--web-port", str(web_port)],
            env=self.env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.path = folder / "up.log"
        self.server_log = folder / "prefect" / "server.log"
        self.api_url = f"http://127.0.0.1:{self.port}/api"

    def wait_ready(self) -> float:
        started, deadline = time.monotonic(), time.monotonic() + UP_READY_SECONDS
        while time.monotonic() < deadline and self.process.poll() is None:
            if "Homeward is up" in self.path.read_text(errors="replace"):
                return time.monotonic() - started
            time.sleep(0.25)
        raise SystemExit(f"homeward up did not start:\n{self.path.read_text()[-3000:]}")

    def refusals(self) -> dict[str, int]:
        """The 503s (a retryable error: SQLite's "database is locked") the server answered so
        far, by the API function that met it (each costs its client a wait before it retries)."""
        counts: dict[str, int] = {}
        text = self.server_log.read_text(encoding="utf-8", errors="replace")
        for trace in text.split("Encountered retryable exception in request")[1:]:
            frames = list(RETRYABLE_IN.finditer(trace))
            name = f"{frames[-1]['module']}.{frames[-1]['name']}" if frames else "?"
            counts[name] = counts.get(name, 0) + 1
        return counts

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


async def _run_states(client: Any, run_id: Any) -> dict[str, float]:
    """When the run entered each state, in seconds since the epoch (first entry of each)."""
    states = await client.read_flow_run_states(run_id)
    seen: dict[str, float] = {}
    for state in sorted(states, key=lambda s: s.timestamp):
        seen.setdefault(str(state.type.value), state.timestamp.timestamp())
    return seen


async def _awaited(client: Any, run_id: Any, label: str) -> Any:
    """The run once final (Completed, never Refused or failed), polled every 50 ms."""
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while True:
        found = await client.read_flow_run(run_id)
        if found.state is not None and found.state.is_final():
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"run {run_id} not final after {RUN_TIMEOUT_SECONDS} s")
        await asyncio.sleep(0.05)
    if not found.state.is_completed() or found.state.name != "Completed":
        raise SystemExit(f"{label}: {found.state.name}: {found.state.message}")
    return found


async def _timed_runs(
    client: Any, flow_name: str, parameters: list[dict[str, Any]], token: Any
) -> tuple[dict[str, list[float]], list[Any]]:
    """One run of deployment ``flow_name`` per ``parameters``, created one after the other as
    the staff workspace creates them (an assertion, then the run from the deployment, with the
    form's labels), each awaited until it is final: their times (the first run warms up and is
    not counted) and the runs."""
    deployment = await client.read_deployment_by_name(f"{flow_name}/{flow_name}")
    form = deployment.parameter_openapi_schema or {}
    kinds = ("submit", "create", "total", "pickup", "start", "run")
    times: dict[str, list[float]] = {k: [] for k in kinds}
    done = []
    for i, given in enumerate(parameters):
        submitted = time.time()
        assertion = run_command(IssueAssertion(flow_name), token).token
        asserted = time.time()
        request = f"b-{flow_name}-{i:06d}"
        chosen = offered(form, {**given, "assertion": assertion, "request_id": request})
        made = await client.create_flow_run_from_deployment(deployment.id, parameters=chosen)
        acknowledged = time.time()
        done.append(await _awaited(client, made.id, f"{flow_name} run {i}"))
        seen = await _run_states(client, made.id)
        if i == 0:
            continue
        times["submit"].append(acknowledged - submitted)
        times["create"].append(acknowledged - asserted)
        times["total"].append(seen["COMPLETED"] - submitted)
        times["pickup"].append(seen["PENDING"] - seen["SCHEDULED"])
        times["start"].append(seen["RUNNING"] - seen["PENDING"])
        times["run"].append(seen["COMPLETED"] - seen["RUNNING"])
    return times, done


async def person_flows(up: Up, runs: int) -> dict[str, list[float]]:
    """``runs`` start-return runs, then ``runs`` record-consent runs on the cases they opened
    (their first stage's items done through the engine in between), as ``_timed_runs``."""
    from prefect.client.orchestration import PrefectClient

    token = signed_in(COORDINATOR)
    async with PrefectClient(up.api_url) as client:
        opening = [{"host_country": "IT"} for _ in range(runs + 1)]
        times, opened = await _timed_runs(client, "start-return", opening, token)
        refs = [run.name.removeprefix("case-").split("/")[0] for run in opened]
        for ref in refs:
            finish_stage(ref)
        consenting = [{"case_ref": ref, "method": "signed", "language": "ro"} for ref in refs]
        consent, _ = await _timed_runs(client, "record-consent", consenting, token)
        if up.timing is not None:
            ids = [str(run.id) for run in opened[1:]]
            print(f"  where a start-return run's time goes ({len(ids)} runs, medians):")
            await where_time_goes(client, up.timing, ids)
    times |= {f"consent_{key}": values for key, values in consent.items()}
    return times


TIMING_MARK = re.compile(
    r"^\d+ (?P<run>[0-9a-f-]{36}) (?P<step>.+?) at (?P<at>[\d.]+)(?: took (?P<ms>[\d.]+) ms)?$"
)
TIMING_IMPORTS = re.compile(r"^\d+ (?P<run>[0-9a-f-]{36}) imported after fork: (?P<names>.*)$")


async def where_time_goes(client: Any, log: Path, run_ids: list[str]) -> None:
    """From ``homeward up``'s timing marks (``workflows.timing``) and the runs' state
    timestamps: each step's median offset from the run's creation, the steps timed inside the
    run, and what the runs imported after the fork."""
    marks: dict[str, dict[str, float]] = {run: {} for run in run_ids}
    took: dict[str, list[float]] = {}
    imports: set[str] = set()
    for line in log.read_text(encoding="utf-8").splitlines():
        if (found := TIMING_IMPORTS.match(line)) and found["run"] in marks:
            imports |= {n for n in found["names"].split(",") if n and n != "nothing"}
        elif (found := TIMING_MARK.match(line)) and found["run"] in marks:
            step = found["step"]
            if found["ms"] is not None:
                took.setdefault(step, []).append(float(found["ms"]))
                step += " (start)"
            marks[found["run"]].setdefault(step, float(found["at"]))
    for run in run_ids:
        states = await _run_states(client, run)
        marks[run] |= {f"state {k}": v for k, v in states.items()}
    offsets: dict[str, list[float]] = {}
    for seen in marks.values():
        created = seen.get("state SCHEDULED")
        if created is None:
            continue
        for step, at in seen.items():
            offsets.setdefault(step, []).append(at - created)
    for step, values in sorted(offsets.items(), key=lambda kv: statistics.median(kv[1])):
        print(f"    {step:<40} at +{statistics.median(values) * 1000:7.0f} ms ({len(values)} runs)")
    for step, values in sorted(took.items()):
        print(f"    {step:<40} took {statistics.median(values):7.1f} ms (median, {len(values)})")
    print(f"    imported after the fork: {', '.join(sorted(imports)) or 'nothing'}")


def acknowledged(runs: int) -> list[float]:
    """The same action through the commands layer: ``StartCase`` by the signed-in coordinator
    with a request key, in one transaction (what an edge acknowledges at once)."""
    token = signed_in(COORDINATOR)
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        run_command(StartCase(CaseIn(host_country="IT")), token, key=f"bench:ack-{i:06d}")
        if i:
            times.append(time.perf_counter() - start)
    return times


LATENCY_ROWS = {
    "ack": ("a person's action acknowledged through the commands layer (StartCase)", 0.3),
    "total": ("a person's flow on homeward up (start-return), submit to Completed", 3.0),
    "submit": ("- run created (assertion, then the run: on the dashboard)", None),
    "create": ("  - of which the run's creation (the Prefect API)", None),
    "pickup": ("- picked up by the runner (Scheduled -> Pending)", None),
    "start": ("- the run's process started (Pending -> Running)", None),
    "run": ("- the run itself (Running -> Completed)", None),
    "consent_total": ("a stage move on homeward up (record-consent), submit to Completed", 3.0),
    "consent_submit": ("- run created (assertion, then the run: on the dashboard)", None),
    "consent_create": ("  - of which the run's creation (the Prefect API)", None),
    "consent_pickup": ("- picked up by the runner (Scheduled -> Pending)", None),
    "consent_start": ("- the run's process started (Pending -> Running)", None),
    "consent_run": ("- the run itself (Running -> Completed)", None),
}


async def latency(runs: int, timing: bool = False) -> dict[str, dict[str, Any]]:
    """What a person waits for, on ``homeward up`` (see the module): by ``LATENCY_ROWS`` key,
    p50 and p95 in ms, the target's (if any) and the load average when it was measured."""
    figures: dict[str, dict[str, Any]] = {}

    def row(key: str, values: list[float]) -> None:
        name, target = LATENCY_ROWS[key]
        got: dict[str, Any] = {"name": name, "runs": len(values), "load": load_average(" / ")}
        got |= {"p50_ms": statistics.median(values) * 1000, "p95_ms": p95(values) * 1000}
        said = f"p50 {got['p50_ms']:7.0f} ms, p95 {got['p95_ms']:7.0f} ms"
        if target is not None:
            got["target_ms"] = target * 1000
            verdict = "meets" if got["p95_ms"] < got["target_ms"] else "MISSES"
            said += f" (target p95 < {target * 1000:.0f} ms: {verdict})"
        figures[key] = got
        print(f"  {name:<70} {said}; load {got['load']}", flush=True)

    with tempfile.TemporaryDirectory(prefix="homeward-bench-up-") as name:
        folder = Path(name)
        prepare(folder)
        print(f"what a person waits for ({runs} runs, load {load_average(' / ')})", flush=True)
        row("ack", acknowledged(runs))
        up = Up(folder, timing)
        try:
            print(
                f"  (homeward up ready after {up.wait_ready():.1f} s, load {load_average(' / ')})"
            )
            times = await person_flows(up, runs)
            refused = up.refusals()
            said = ", ".join(f"{name} {n}" for name, n in sorted(refused.items())) or "none"
            print(f"  503s answered (database locked), each retried by its client: {said}")
        finally:
            up.stop()
    for key in LATENCY_ROWS:
        if key in times:
            row(key, times[key])
    return figures


LATENCY_START, LATENCY_END = "<!-- person-latency:start -->", "<!-- person-latency:end -->"


def write_latency(
    out: Path,
    runs: int,
    figures: dict[str, dict[str, Any]],
    before: dict[str, dict[str, Any]] | None = None,
) -> None:
    """The figures as their own section of ``out`` (``bench/RESULTS.md``), beside ``before``'s
    (an earlier run's ``--json`` line, e.g. of the code before a change) when given."""

    def said(got: dict[str, Any] | None) -> str:
        if got is None:
            return "-"
        return f"p50 {got['p50_ms']:,.0f} ms, p95 {got['p95_ms']:,.0f} ms (load {got['load']})"

    rows = ["| measurement | result | target | |", "|---|---|---|---|"]
    if before is not None:
        rows = ["| measurement | before | after | target | |", "|---|---|---|---|---|"]
    for key, got in figures.items():
        target, ok = "-", ""
        if "target_ms" in got:
            target = f"p95 < {got['target_ms']:,.0f} ms"
            ok = "meets" if got["p95_ms"] < got["target_ms"] else "MISSES"
        cells = [f"{got['name']}, {got['runs']} runs", said(got), target, ok]
        if before is not None:
            cells.insert(1, said(before.get(key)))
        rows.append("| " + " | ".join(cells) + " |")
    command = f"bench/prefect_bench.py --latency-only --runs {runs}"
    how = (
        f"{taken(command)}. SQLite; `homeward up` started as a user starts it (its own Prefect "
        "server); each run created as the staff workspace creates it (an assertion, then the "
        "run from the deployment) and awaited until Completed before the next; the first run "
        "of each flow warms up and is not counted. Load average (1, 5, 15 minutes) with each "
        "figure: the machine is shared."
    )
    if before is not None:
        how += " Before: the same command on the code before the change, same conditions."
    put_section(
        out, LATENCY_START, LATENCY_END, "What a person waits for (issue 19, point 2)", how, rows
    )


async def main(cases: int, runs: int) -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="homeward-bench-") as folder:
        prepare(Path(folder))
        open_cases(cases, rng)
        with prefect_test_harness(server_startup_timeout=120):
            print("flow-run overhead (median wall time)")
            for name, seconds in (await overhead(runs)).items():
                print(f"  {name:<34} {seconds * 1000:8.1f} ms")
            print("sweep")
            for name, seconds in (await sweep(cases, Path(folder))).items():
                print(f"  {name:<34} {seconds * 1000:8.1f} ms")
            print("Prefect database growth per run")
            per_run = await growth(runs)
            for name, size in per_run.items():
                print(f"  {name:<34} {size / 1024:8.1f} KiB")
            per_case, fixed = case_month(per_run)
            print(f"  per case-month                     {per_case / 1024:8.1f} KiB")
            print(f"  scheduled runs per month (fixed)   {fixed / 1024 / 1024:8.1f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000, help="open cases for the sweep")
    parser.add_argument("--runs", type=int, default=20, help="runs per measurement")
    parser.add_argument("--latency", action="store_true", help="also what a person waits for")
    parser.add_argument("--latency-only", action="store_true", help="only what a person waits for")
    parser.add_argument("--json", action="store_true", help="also the figures, as a JSON line")
    parser.add_argument(
        "--timing", action="store_true", help="latency: where a run's time goes (timing marks)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="latency: write its section into this file"
    )
    parser.add_argument(
        "--before", type=Path, default=None, help="latency: an earlier --json line, shown beside"
    )
    args = parser.parse_args()
    if args.latency or args.latency_only:
        figures = asyncio.run(latency(args.runs, args.timing))
        if args.json:
            print(json.dumps(figures))
        if args.out is not None:
            before = None
            if args.before is not None:
                before = json.loads(args.before.read_text().strip().splitlines()[-1])
            write_latency(args.out, args.runs, figures, before)
            print(f"written to {args.out}")
    if not args.latency_only:
        asyncio.run(main(args.cases, args.runs))

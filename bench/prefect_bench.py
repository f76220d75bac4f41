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
   with the counts per case-month printed beside the result (they come from the v1 catalog).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from prefect import flow  # noqa: E402
from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL  # noqa: E402
from prefect.testing.utilities import prefect_test_harness  # noqa: E402
from sqlmodel import col, func, select  # noqa: E402

from homeward.base import settings as homeward_settings  # noqa: E402
from homeward.base.db import get_engine, make_engine, write_session  # noqa: E402
from homeward.base.migrate import upgrade  # noqa: E402
from homeward.base.models import ChecklistItem, ItemStatus, OutboxMessage  # noqa: E402
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
    now = datetime.now(UTC)
    with write_session() as session:
        opened = identity.open_challenge(session, email=email, now=now, channel="bench")
        assert opened is not None
        signed = identity.redeem(session, email=email, code=opened[2], now=now, label="bench")
    assert signed is not None
    token = identity.SessionToken(signed.token)
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
    args = parser.parse_args()
    asyncio.run(main(args.cases, args.runs))

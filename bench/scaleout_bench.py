"""Homeward scaled out (issue 19, point 8): a Prefect server on PostgreSQL and two process
workers as deploy/compose.yaml runs them (``tests/scaleout.py``), a burst of ``start-return``
runs across them, and Prefect's own database sized per flow run, per case-month, and under
compose's retention.

    .venv/bin/python bench/scaleout_bench.py --runs 30 --rounds 3

1. **burst**: ``--runs`` runs submitted at once; submit -> Completed p50/p95 and the whole
   burst's wall time; how many each worker ran; the peak resident memory of the server, and
   of each worker with its run processes (sampled every 0.5 s).
2. **size**: Prefect's database before and after the burst (``pg_database_size`` and rows of
   its big tables): bytes per flow run, and per case-month with the stated mix of runs.
3. **retention**: ``--rounds`` times, a burst, then every run and event dated older than the
   retention compose sets (``PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD=P90D``,
   ``PREFECT_SERVER_EVENTS_RETENTION_PERIOD=P90D``) and the vacuum service left to run (its
   loop shortened to 5 s): the rows it deleted and the size after each round. Flat means the
   database stays the size of 90 days of runs, whatever the months before.

Writes its own section of ``bench/RESULTS.md`` (``<!-- scaleout:start -->``). Needs
PostgreSQL at ``HOMEWARD_TEST_PG_URL`` (default postgresql://postgres@127.0.0.1:5432/postgres),
as a superuser: it makes its own logins there (``homeward_scaleout_app`` and ``_system``, as
``homeward db roles --apply`` does), whether or not the tests ever ran on that server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
from sections import replace_section  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

START, END = "<!-- scaleout:start -->", "<!-- scaleout:end -->"
BIG_TABLES = ("flow_run", "flow_run_state", "log", "events", "event_resources", "artifact")
# Flow runs per case and month (assumed): a case moves through ~8 stages in ~6 months and has
# ~20 checklist items recorded or handed off over that time, so about 5 case runs a month.
CASE_RUNS_PER_MONTH = 5
# Scheduled runs a month, whatever the caseload: sweep hourly, three daily flows.
SCHEDULED_PER_MONTH = 24 * 30 + 3 * 30


# The bench's own logins, made here as `homeward db roles --apply` makes them (the suite's,
# tests/conftest.py's, may never have been made on this machine): this run's (a random tag: two
# benches at once never share them), dropped at its end (tests/logins.py says why).
_TAG = secrets.token_hex(4)
APP_LOGIN, SYSTEM_LOGIN = f"homeward_scaleout_app_{_TAG}", f"homeward_scaleout_system_{_TAG}"


def _homeward_database(
    folder: Path, *, app_login: str = APP_LOGIN, system_login: str = SYSTEM_LOGIN
) -> tuple[str, str]:
    """A migrated Homeward database with its app and system logins (the workers run as the
    system login), the keyring, the staff seeded: (its name, the system login's URL)."""
    from tests import scaleout

    name = scaleout.create_database("homeward_scaleout")
    try:
        return name, _prepare(folder, name, app_login=app_login, system_login=system_login)
    except BaseException:
        _drop(name, app_login, system_login)
        raise


def _drop(name: str, *logins: str) -> None:
    """The bench's database, then its logins (none left on the cluster)."""
    from tests import scaleout
    from tests.logins import drop_logins

    scaleout.drop_database(name)
    drop_logins(scaleout.database_url("postgres", "postgresql+psycopg"), *logins)


def _prepare(folder: Path, name: str, *, app_login: str, system_login: str) -> str:
    from tests import scaleout
    from tests.logins import login_url, make_logins, sweep_logins

    owner = scaleout.database_url(name, "postgresql+psycopg")
    os.environ["HOMEWARD_KEY_FILE"] = str(folder / "keys.json")
    from homeward.crypt.keys import init_keyring

    init_keyring(folder / "keys.json")
    from homeward.base.db import make_engine
    from homeward.base.migrate import upgrade

    engine = make_engine(owner)
    upgrade(engine)
    engine.dispose()
    sweep_logins(owner)  # a crashed bench's, once stale
    make_logins(owner, app_login=app_login, system_login=system_login, temporary=True)
    url = login_url(owner, system_login)
    os.environ["HOMEWARD_DATABASE_URL"] = url
    from homeward.base import db, settings
    from tests import factories

    settings.get_settings.cache_clear()
    db.get_engine.cache_clear()

    factories.seed()
    return url


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    """Peak resident memory of each named process tree, every 0.5 s."""

    def __init__(self, trees: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.trees, self.peak = trees, dict.fromkeys(trees, 0)
        self.stop = threading.Event()

    def run(self) -> None:
        from tests.scaleout import _children

        while not self.stop.wait(0.5):
            for name, pid in self.trees.items():
                total = sum(_rss_kb(p) for p in [pid, *_children(pid)])
                self.peak[name] = max(self.peak[name], total)


def _db_facts(prefect_db: str) -> dict[str, int]:
    from tests import scaleout

    engine = create_engine(scaleout.database_url(prefect_db, "postgresql+psycopg"))
    with engine.connect() as conn:
        facts = {
            "bytes": conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        }
        for table in BIG_TABLES:
            count = text(f'SELECT count(*) FROM "{table}"')  # noqa: S608 (our own names)
            facts[table] = conn.execute(count).scalar_one()
        old = "SELECT count(*) FROM events WHERE occurred < now() - interval '90 days'"
        facts["old_events"] = conn.execute(text(old)).scalar_one()
        ended = "SELECT count(*) FROM flow_run WHERE end_time IS NOT NULL"
        facts["ended_runs"] = conn.execute(text(ended)).scalar_one()
    engine.dispose()
    return facts


def _age(prefect_db: str, days: int = 91) -> None:
    """Every ended run and every event dated ``days`` days back (older than the retention)."""
    from tests import scaleout

    engine = create_engine(scaleout.database_url(prefect_db, "postgresql+psycopg"))
    back = {"back": f"{int(days)} days"}
    shift = "SET {0} = {0} - CAST(:back AS interval)"
    with engine.begin() as conn:
        for table, column in (("flow_run", "end_time"), ("events", "occurred")):
            conn.execute(text(f"UPDATE {table} {shift.format(column)}"), back)  # noqa: S608
        conn.execute(text(f"UPDATE event_resources {shift.format('occurred')}"), back)  # noqa: S608
    engine.dispose()


def _wait_vacuumed(prefect_db: str, wait: float = 300) -> dict[str, int]:
    """The database's facts once Prefect's vacuum service deleted every ended run and old
    event, and PostgreSQL's own ``VACUUM`` (what autovacuum does in its time) made their space
    reusable: the next month's rows fill it instead of growing the files."""
    from tests import scaleout

    deadline = time.monotonic() + wait
    while True:
        facts = _db_facts(prefect_db)
        if (facts["ended_runs"] == 0 and facts["old_events"] == 0) or time.monotonic() > deadline:
            break
        time.sleep(2)
    engine = create_engine(
        scaleout.database_url(prefect_db, "postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        conn.execute(text("VACUUM"))
    engine.dispose()
    return _db_facts(prefect_db)


async def _burst(cluster: Any, runs: int) -> dict[str, Any]:
    from tests import scaleout
    from tests.factories import COORD
    from tests.signin import assertion_for

    given = [{"ngo": "ADPARE (adpare)", "assertion": assertion_for(COORD, "start-return")}]
    given += [
        {**given[0], "assertion": assertion_for(COORD, "start-return")} for _ in range(runs - 1)
    ]
    async with httpx.AsyncClient(base_url=cluster.api, timeout=60) as client:
        started = time.monotonic()
        ids: list[UUID] = []
        for parameters in given:
            ids.append(
                await scaleout.run_from_deployment(client, "start-return/start-return", parameters)
            )
        done = await scaleout.wait_final(client, ids, wait=60 + 20 * runs, cluster_=cluster)
        wall = time.monotonic() - started
    waits = [(_at(r["end_time"]) - _at(r["created"])).total_seconds() for r in done.values()]
    return {"ids": ids, "wall": wall, "waits": sorted(waits)}


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _who(cluster: Any, ids: list[UUID]) -> dict[str, int]:
    counts = {}
    for worker in cluster.workers:
        log = worker.log.read_text(encoding="utf-8", errors="replace")
        counts[worker.name] = sum(
            log.count(f"submitting flow run '{i}'")
            - log.count(f"Aborted submission of flow run '{i}'")
            for i in ids
        )
    return counts


def _pct(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
        if len(values) > 1
        else values[0]
    )


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


def bench(runs: int, rounds: int, workers: int) -> list[str]:
    from tests import scaleout

    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="homeward-scaleout-") as name:
        folder = Path(name)
        homeward_db, url = _homeward_database(folder)
        try:
            extra = {"PREFECT_SERVER_SERVICES_DB_VACUUM_LOOP_SECONDS": "5"}
            with scaleout.cluster(folder, url, **extra) as cluster:
                for n in range(workers):
                    cluster.add_worker(f"worker-{n + 1}")
                time.sleep(5)
                assert cluster.server is not None
                trees = {"server": cluster.server.pid} | {
                    w.name: w.proc.pid for w in cluster.workers
                }
                empty = _db_facts(cluster.prefect_db)
                sampler = Sampler(trees)
                sampler.start()
                first = asyncio.run(_burst(cluster, runs))
                sampler.stop.set()
                after = _db_facts(cluster.prefect_db)
                per_run = (after["bytes"] - empty["bytes"]) / runs
                rows = {t: (after[t] - empty[t]) / runs for t in BIG_TABLES}
                spread = _who(cluster, first["ids"])
                p50, p95 = _pct(first["waits"], 50), _pct(first["waits"], 95)
                said = f"burst of {runs}: p50 {p50:.1f} s, p95 {p95:.1f} s, {spread}; {_load()}"
                print(said)  # noqa: T201
                ran = f"--runs {runs} --rounds {rounds} --workers {workers}"
                setup = f"`--limit {scaleout.WORKER_LIMIT}`, heartbeats every "
                setup += f"{scaleout.HEARTBEAT_SECONDS} s"
                kept = 3 * (1000 * CASE_RUNS_PER_MONTH + SCHEDULED_PER_MONTH) * per_run
                lines += [
                    f"`bench/scaleout_bench.py {ran}`, "
                    f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {_load()} at the burst's end.",
                    "",
                    f"A Prefect server on PostgreSQL, {workers} process workers "
                    f"({setup}), "
                    "as deploy/compose.yaml runs them (`tests/scaleout.py`).",
                    "",
                    "| figure | value |",
                    "|---|---|",
                    f"| {runs} `start-return` runs at once: submit -> Completed p50 / p95 | "
                    f"{p50:.1f} s / {p95:.1f} s |",
                    f"| the whole burst, first submit to last Completed | {first['wall']:.1f} s |",
                    f"| runs per worker | {', '.join(f'{k}: {v}' for k, v in spread.items())} |",
                    f"| peak resident memory: server | {sampler.peak['server'] / 1024:.0f} MiB |",
                    *(
                        f"| peak resident memory: {w} with its run processes | "
                        f"{sampler.peak[w] / 1024:.0f} MiB |"
                        for w in trees
                        if w != "server"
                    ),
                    f"| Prefect database growth per flow run (first burst on an empty database: "
                    f"an upper bound, new index pages included) | {per_run / 1024:.1f} KiB "
                    f"({', '.join(f'{t} {v:.1f}' for t, v in rows.items())} rows) |",
                    f"| per case-month ({CASE_RUNS_PER_MONTH} case runs a month, assumed) | "
                    f"{CASE_RUNS_PER_MONTH * per_run / 1024:.0f} KiB |",
                    f"| scheduled runs a month ({SCHEDULED_PER_MONTH}, whatever the caseload) | "
                    f"{SCHEDULED_PER_MONTH * per_run / 1024**2:.1f} MiB (a case run's size) |",
                    f"| 90 days kept, 1,000 open cases (upper bound) | {kept / 1024**3:.2f} GiB |",
                    "",
                    "Retention (compose's P90D): each round a burst, then everything dated 91 days "
                    "back, the vacuum service let run, and a plain `VACUUM` (autovacuum's work).",
                    "",
                    "| round | size after the burst | ended flow runs / events then | "
                    "after the vacuum | ended flow runs / events left | size after the vacuum |",
                    "|---|---|---|---|---|---|",
                ]
                current = after
                for round_ in range(1, rounds + 1):
                    if round_ > 1:
                        asyncio.run(_burst(cluster, runs))
                        current = _db_facts(cluster.prefect_db)
                    _age(cluster.prefect_db)
                    cleaned = _wait_vacuumed(cluster.prefect_db)
                    print(f"round {round_}: {current} -> {cleaned}")  # noqa: T201
                    lines.append(
                        f"| {round_} | {current['bytes'] / 1024**2:.1f} MiB | "
                        f"{current['ended_runs']} / {current['events']} | vacuumed | "
                        f"{cleaned['ended_runs']} / {cleaned['events']} | "
                        f"{cleaned['bytes'] / 1024**2:.1f} MiB |"
                    )
        finally:
            _drop(homeward_db, APP_LOGIN, SYSTEM_LOGIN)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    lines = bench(args.runs, args.rounds, args.workers)
    section = [START, "## Scale-out (issue 19, point 8)", "", *lines, END]
    print("\n".join(section))  # noqa: T201
    replace_section(args.out, START, END, section)


if __name__ == "__main__":
    main()

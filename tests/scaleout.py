"""Homeward scaled out, without Docker, as ``deploy/compose.yaml`` runs it: a Prefect server on
a PostgreSQL database of its own, the deployments registered by ``homeward deploy`` on the
``homeward`` process pool, the zombie and re-run automations of ``deploy/automations.yaml``,
and two or more ``prefect worker start --pool homeward --type process --limit N`` processes
with the worker's environment. Shared by ``tests/workflows/test_scale_out.py`` (small) and
``bench/scaleout_bench.py`` (large).

Every process started here is in a session of its own and is ended by its id (with the flow
run processes it started) when the cluster closes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from uuid import UUID

import httpx
import yaml
from sqlalchemy import create_engine, text

from tests.prefect_api import prefect_client

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG_ADMIN = os.environ.get("HOMEWARD_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
POOL = "homeward"
# What deploy/compose.yaml gives its worker and server, beyond addresses and secrets.
WORKER_LIMIT = 4  # `--limit`: runs at once per worker, so a burst spreads over the workers
HEARTBEAT_SECONDS = 30  # PREFECT_FLOWS_HEARTBEAT_FREQUENCY (Prefect's minimum)
RERUN_AUTOMATIONS = ("homeward-zombie-run-crashed", "homeward-crashed-run-rescheduled")


def _admin_url(driver: str = "postgresql+psycopg") -> str:
    return driver + "://" + PG_ADMIN.split("://", 1)[1]


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def create_database(prefix: str) -> str:
    """A new, empty PostgreSQL database; its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name


def drop_database(name: str) -> None:
    admin = create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def database_url(name: str, driver: str = "postgresql+asyncpg") -> str:
    return _admin_url(driver).rsplit("/", 1)[0] + f"/{name}"


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from /proc), deepest last."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> list[int]:
    """Send ``sig`` to ``proc`` and every process under it, by id; the ids signalled."""
    pids = [proc.pid, *_children(proc.pid)]
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return pids


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass
class Cluster:
    """A running Prefect server, its deployments and workers; ``api`` is its API address."""

    api: str
    prefect_db: str
    env: dict[str, str]
    folder: Path
    server: subprocess.Popen[bytes] | None = None
    workers: list[Worker] = field(default_factory=list)
    _logs: list[IO[bytes]] = field(default_factory=list)

    def start(self, cmd: list[str], log: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        out = log.open("wb")
        self._logs.append(out)
        return subprocess.Popen(  # noqa: S603 (our own commands)
            cmd, env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def add_worker(self, name: str, limit: int = WORKER_LIMIT, **extra: str) -> Worker:
        """``prefect worker start --pool homeward --type process --limit N`` (as compose's)."""
        log = self.folder / f"{name}.log"
        cmd = [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--type", "process"]
        cmd += ["--limit", str(limit), "--name", name]
        worker = Worker(name, self.start(cmd, log, {**self.env, **extra}), log)
        self.workers.append(worker)
        return worker

    def tail(self, lines: int = 15) -> str:
        """The end of every process's log, for a failure message."""
        said = []
        for log in sorted(self.folder.glob("*.log")):
            text_ = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            said.append(f"--- {log.name}\n" + "\n".join(text_))
        return "\n".join(said)

    def close(self) -> None:
        for worker in self.workers:
            kill_tree(worker.proc)
        if self.server is not None:
            kill_tree(self.server, signal.SIGTERM)
            try:
                self.server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                kill_tree(self.server)
        for proc in [w.proc for w in self.workers] + ([self.server] if self.server else []):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for out in self._logs:
            out.close()


def worker_env(homeward_db_url: str, api: str, **extra: str) -> dict[str, str]:
    """The environment compose.yaml gives its worker (its addresses here), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "HOMEWARD_"))}
    env |= {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "HOMEWARD_DATABASE_URL": homeward_db_url,
        "HOMEWARD_KEY_FILE": os.environ["HOMEWARD_KEY_FILE"],
        "HOMEWARD_TIMEZONE": os.environ.get("HOMEWARD_TIMEZONE", "Europe/Bucharest"),
        "PREFECT_API_URL": api,
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS),
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "DO_NOT_TRACK": "1",
        "PREFECT_HOME": "",  # set by start_cluster: a home of the cluster's own
    }
    return env | extra


def _wait_healthy(api: str, server: subprocess.Popen[bytes], cluster: Cluster, wait: float) -> None:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(
                f"the Prefect server exited ({server.returncode}):\n{cluster.tail()}"
            )
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"the Prefect server did not answer in {wait:.0f} s:\n{cluster.tail()}")


@contextmanager
def cluster(
    folder: Path, homeward_db_url: str, *, retention: str = "P90D", **extra: str
) -> Iterator[Cluster]:
    """A Prefect server on a fresh PostgreSQL database (as compose's, with its retention), the
    deployments registered by ``homeward deploy``, the re-run automations created; no workers
    yet (``Cluster.add_worker``). ``extra``: more environment for every process."""
    prefect_db = create_database("prefect_scaleout")
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    home = folder / "prefect-home"
    home.mkdir(parents=True, exist_ok=True)
    env = worker_env(homeward_db_url, api, **extra) | {"PREFECT_HOME": str(home)}
    made = Cluster(api=api, prefect_db=prefect_db, env=env, folder=folder)
    server_env = env | {
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": database_url(prefect_db),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "events,flow_runs",
        "PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD": retention,
        "PREFECT_SERVER_EVENTS_RETENTION_PERIOD": retention,
    }
    try:
        cmd = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
        made.server = made.start(cmd, folder / "server.log", server_env)
        _wait_healthy(api, made.server, made, wait=180)
        deploy = [str(BIN / "homeward"), "deploy", "--pool", POOL, "--installed-at", str(ROOT)]
        done = subprocess.run(  # noqa: S603
            deploy, env=env, capture_output=True, text=True, timeout=180, check=False
        )
        if done.returncode != 0:
            raise AssertionError(f"homeward deploy failed: {done.stdout}\n{done.stderr}")
        asyncio.run(create_rerun_automations(env))
        yield made
    finally:
        made.close()
        drop_database(prefect_db)


def rerun_automations() -> list[dict[str, Any]]:
    """The automations of deploy/automations.yaml that crash zombie runs and re-run crashed
    ones (those need no notification block)."""
    with (ROOT / "deploy" / "automations.yaml").open(encoding="utf-8") as f:
        every = yaml.safe_load(f)["automations"]
    return [a for a in every if a["name"] in RERUN_AUTOMATIONS]


async def create_rerun_automations(env: Mapping[str, str]) -> None:
    async with prefect_client(env["PREFECT_API_URL"]) as client:
        for automation in rerun_automations():
            made = await client.post("/automations/", json=automation)
            made.raise_for_status()


async def run_from_deployment(
    client: httpx.AsyncClient, deployment: str, parameters: Mapping[str, Any]
) -> UUID:
    """A flow run of ``flow/deployment`` (its id), as the UI's form makes one."""
    found = await client.get(f"/deployments/name/{deployment}")
    found.raise_for_status()
    made = await client.post(
        f"/deployments/{found.json()['id']}/create_flow_run", json={"parameters": parameters}
    )
    if made.status_code >= 400:
        raise AssertionError(f"no run of {deployment}: {made.status_code} {made.text}")
    return UUID(made.json()["id"])


async def states(client: httpx.AsyncClient, ids: list[UUID]) -> dict[UUID, dict[str, Any]]:
    """Each run's id -> its flow run (name, state, run_count, infrastructure_pid...)."""
    found = await client.post(
        "/flow_runs/filter", json={"flow_runs": {"id": {"any_": [str(i) for i in ids]}}}
    )
    found.raise_for_status()
    return {UUID(r["id"]): r for r in found.json()}


def described(runs: Mapping[UUID, Mapping[str, Any]]) -> str:
    """One line per run: name, state, its message, run count."""
    lines = []
    for run_id, run in runs.items():
        state = run.get("state") or {}
        lines.append(
            f"{run_id} {run.get('name')} {state.get('name')} ({state.get('message')}) "
            f"run_count={run.get('run_count')}"
        )
    return "\n".join(lines)


async def wait_final(
    client: httpx.AsyncClient, ids: list[UUID], wait: float, cluster_: Cluster
) -> dict[UUID, dict[str, Any]]:
    """The runs once all are Completed (or one is Failed/Cancelled); fails after ``wait``."""
    deadline = time.monotonic() + wait
    while True:
        runs = await states(client, ids)
        names = {(r.get("state") or {}).get("type") for r in runs.values()}
        if names <= {"COMPLETED"} and len(runs) == len(ids):
            return runs
        if names & {"FAILED", "CANCELLED"}:
            raise AssertionError(f"a run ended badly:\n{described(runs)}\n{cluster_.tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(
                f"runs not Completed within {wait:.0f} s:\n{described(runs)}\n{cluster_.tail()}"
            )
        await asyncio.sleep(0.5)

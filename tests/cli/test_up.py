"""``homeward up`` as a user runs it: a subprocess with its own Prefect server, deployments on
their schedules, a coordinator starting a return from the deployment's form, then Ctrl-C.

One ``homeward up`` serves the module (a server start takes 20-60 s on two cores); the last test
starts one more, on a non-loopback address, after the first has stopped. Both always run on the
embedded default, an SQLite file, whatever ``HOMEWARD_TEST_DB`` says.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from stat import S_IMODE
from typing import Any
from uuid import UUID

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.schedules import CronSchedule
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings
from sqlalchemy import create_engine
from sqlmodel import Session, select

from homeward.base.choices import offered
from homeward.base.models import Case
from homeward.crypt.keys import init_keyring
from homeward.edges.prefect_auth import basic_auth_headers
from homeward.edges.prefect_gate import REGISTRATION_HEADER
from homeward.edges.scheduler_watch import WatchTimes, read_served, stalled, watch
from tests.factories import COORD
from tests.prefect_api import sent
from workflows.artifacts import timeline_key
from workflows.deployments import DEPLOYMENTS, build_deployments

BIN = Path(sys.executable).parent
# A guard against a start that never ends, not a speed check (ready as soon as it says so): at
# load 20-26 (two suites and busy loops on two cores) 180 s ran out with the Prefect server
# still migrating its database, and all 16 tests of the module erred.
READY_TIMEOUT = 600.0
SCHEDULER_LOOP_SECONDS = 5
SCHEDULED_TIMEOUT = 90.0  # several scheduler passes, on two busy cores


@dataclass
class Up:
    """A running ``homeward up``: its process, what it printed, and where it keeps things."""

    process: subprocess.Popen[str]
    env: dict[str, str]
    database: Path
    stderr_path: Path
    port: int
    web_port: int
    lines: list[str] = field(default_factory=list)
    api_url: str = ""

    def output(self) -> str:
        return "\n".join(self.lines)

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def homeward(self, *args: str, session: str = "") -> subprocess.CompletedProcess[str]:
        """``homeward ARGS`` against up's database (with ``session``: signed in with it)."""
        return subprocess.run(
            [str(BIN / "homeward"), *args],
            env={**self.env, "HOMEWARD_SESSION": session} if session else self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(tmp: Path) -> dict[str, str]:
    """Our environment without any Homeward or Prefect setting, then the test's own."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("HOMEWARD_", "PREFECT_"))}
    return {
        **keep,
        "HOME": str(tmp / "home"),
        "XDG_DATA_HOME": str(tmp / "home" / "data"),
        "XDG_CONFIG_HOME": str(tmp / "home" / "config"),
        "HOMEWARD_DATABASE_URL": f"sqlite:///{tmp / 'homeward.db'}",
        "HOMEWARD_KEY_FILE": str(init_keyring(tmp / "keys.json")),
        "HOMEWARD_PREFECT_HOME": str(tmp / "prefect"),
        "PREFECT_HOME": str(tmp / "prefect-client"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PYTHONUNBUFFERED": "1",
        # the server's scheduler passes every few seconds instead of every minute
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": str(SCHEDULER_LOOP_SECONDS),
    }


def _read_lines(up: Up) -> None:
    assert up.process.stdout is not None
    for line in up.process.stdout:
        up.lines.append(line.rstrip("\n"))


def _wait_ready(up: Up, port: int, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline and up.process.poll() is None:
        if any(f"Prefect UI at http://{host}:{port} " in line for line in up.lines):
            up.api_url = f"http://127.0.0.1:{port}/api"
            return
        time.sleep(0.25)
    raise AssertionError(f"not ready:\n{up.output()}\n{up.stderr()[-3000:]}")


def _server_children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` and that run a Prefect server (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if int(fields[1]) == pid and b"homeward.edges.prefect_gate" in cmdline:
            found.append(int(stat.parent.name))
    return found


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@contextmanager
def _running_up(tmp: Path, host: str = "127.0.0.1") -> Iterator[Up]:
    """``homeward up --host HOST --port <free>`` until ready; Ctrl-C at the end, if still up."""
    env, port, web_port = _environment(tmp), _free_port(), _free_port()
    stderr_path = tmp / "up.stderr"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [
                *(str(BIN / "homeward"), "up", "--host", host, "--port", str(port)),
                *("--web-port", str(web_port)),
            ],
            env=env,
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    handle = Up(process, env, tmp / "homeward.db", stderr_path, port, web_port)
    threading.Thread(target=_read_lines, args=(handle,), daemon=True).start()
    started = time.monotonic()
    try:
        _wait_ready(handle, port, host)
        handle.lines.append(f"[test] ready after {time.monotonic() - started:.1f} s")
        yield handle
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    with _running_up(tmp_path_factory.mktemp("up")) as handle:
        yield handle


def _schedules(schedules: Any) -> set[str]:
    return {json.dumps(s.schedule.model_dump(mode="json"), sort_keys=True) for s in schedules or []}


def test_every_deployment_is_served_with_its_schedules(up: Up) -> None:
    expected = {d.name: _schedules(d.schedules) for d in build_deployments()}
    with temporary_settings(updates={PREFECT_API_URL: up.api_url}):
        with get_client(sync_client=True) as client:
            served = client.read_deployments()
    assert {d.name: _schedules(d.schedules) for d in served} == expected
    assert not any(d.paused for d in served)
    assert any(expected.values()), "some flow runs on a schedule"


def test_up_checks_the_schedules_and_mail_for_the_managers_from_the_start(up: Up) -> None:
    deadline = time.monotonic() + 60
    while not any(line.startswith("health: ") for line in up.lines):
        assert time.monotonic() < deadline, up.output()
        time.sleep(0.5)
    (said, *_) = [line for line in up.lines if line.startswith("health: ")]
    cron = sum(1 for planned in DEPLOYMENTS if planned.cron)
    assert said == f"health: all well: {cron} scheduled flows on time; 0 emails waiting", said


def test_the_staff_workspace_is_served_beside_the_prefect_ui(up: Up) -> None:
    workspace = f"http://127.0.0.1:{up.web_port}"
    assert f"; staff workspace at {workspace}; " in up.output()
    page = httpx.get(f"{workspace}/signin", timeout=30)
    assert page.status_code == 200 and "Sign in to Homeward" in page.text
    assert httpx.get(workspace, timeout=30).headers["location"] == "/signin"


def _scheduled_runs(api_url: str) -> dict[str, int]:
    """SCHEDULED flow runs of each deployment, by name, as the server's API counts them."""
    scheduled = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
    )
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        with get_client(sync_client=True) as client:
            return {
                d.name: client.count_flow_runs(
                    flow_run_filter=scheduled,
                    deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[d.id])),
                )
                for d in client.read_deployments()
            }


def test_every_cron_deployment_gets_scheduled_runs(up: Up) -> None:
    cron = {planned.name for planned in DEPLOYMENTS if planned.cron}
    started, counts = time.monotonic(), {}
    while time.monotonic() - started < SCHEDULED_TIMEOUT:
        counts = _scheduled_runs(up.api_url)
        if all(counts.get(name, 0) >= 1 for name in cron):
            break
        time.sleep(1)
    up.lines.append(f"[test] scheduled runs after {time.monotonic() - started:.1f} s: {counts}")
    log = up.env["HOMEWARD_PREFECT_HOME"] + "/server.log"
    missing = sorted(name for name in cron if counts.get(name, 0) < 1)
    assert not missing, f"no SCHEDULED run for {missing}; {Path(log).read_text()[-3000:]}"


NEVER_DUE = CronSchedule(cron="0 0 29 2 1", day_or=False)  # 29 February on a Monday: 2044


def _add_never_due(api_url: str) -> UUID:
    """A deployment on an active schedule that has no run within Prefect's 100 days ahead."""
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        with get_client(sync_client=True) as client:
            return client.create_deployment(
                flow_id=client.create_flow_from_name("scheduler-watch-probe"),
                name="never-due",
                schedules=[DeploymentScheduleCreate(schedule=NEVER_DUE, active=True)],
            )


def _remove(up: Up, deployment_id: UUID) -> None:
    """Delete a deployment as only ``homeward up``'s registration may (the gate's key)."""
    headers = {REGISTRATION_HEADER: _registration_key(up)}
    answer = sent("DELETE", f"{up.api_url}/deployments/{deployment_id}", headers=headers)
    assert answer.status_code == 204, answer.text


def test_the_watch_asks_the_api_which_deployment_has_no_run_ahead(up: Up) -> None:
    """The API check of the scheduler watch, on this server: the served cron deployments have
    runs ahead; one whose schedule is active but yields none is named, also with only --api-url
    (no local log)."""
    cron = sorted(planned.name for planned in DEPLOYMENTS if planned.cron)
    probe = _add_never_due(up.api_url)
    said: list[str] = []
    times = WatchTimes(check=0.5, api_grace=0)
    try:
        served = asyncio.run(read_served(up.api_url, [*cron, "never-due"], datetime.now(UTC)))
        assert {s.name for s in served} == {*cron, "never-due"}
        assert stalled(served) == ["never-due"], served
        asyncio.run(_watch_until_warned(up.api_url, said, times))
    finally:
        _remove(up, probe)
    assert said[0].startswith("WARNING: Prefect's scheduler is failing (no scheduled run ahead ")
    assert "for never-due)" in said[0] and f"see the Prefect server's log ({up.api_url})" in said[0]
    assert not any("Prefect's scheduler" in line for line in up.lines), up.output()


async def _watch_until_warned(api_url: str, said: list[str], times: WatchTimes) -> None:
    task = asyncio.create_task(watch(api_url, None, ["never-due"], said.append, times))
    for _ in range(120):
        if said or task.done():
            break
        await asyncio.sleep(0.25)
    task.cancel()


def test_the_ui_is_served_at_the_printed_address(up: Up) -> None:
    page = httpx.get(f"http://127.0.0.1:{up.port}/", timeout=30)
    assert page.status_code == 200 and "<html" in page.text.lower()


def _assertion(up: Up, email: str, flow: str) -> str:
    """What ``homeward assertion --flow FLOW`` prints for ``email`` signed in on up's
    database (signed in as ``homeward login`` does, minus the mailbox: tests/signin.py)."""
    script = "import sys; from tests.signin import assertion_for as a; print(a(*sys.argv[1:]))"
    return _in_up(up, script, email, flow)


def _session(up: Up, email: str) -> str:
    """A session token of ``email`` on up's database, as ``homeward login`` would keep it."""
    script = (
        "import sys; from homeward.base.clock import SYSTEM_CLOCK as c; "
        "from tests.signin import token_for as t; print(t(sys.argv[1], c.now()))"
    )
    return _in_up(up, script, email)


def _in_up(up: Up, script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=up.env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


def test_a_coordinator_starts_a_return_from_the_deployment_form(up: Up) -> None:
    admin = ["--org", "iom-ro", "--org-name", "IOM Romania", "--kind", "iom_mission"]
    admin += ["--country", "RO", "--name", "Mara Ene", "--email", "admin@iom-ro.example.org"]
    assert up.homeward("admin", "init", *admin).returncode == 0
    signed_in = _session(up, "admin@iom-ro.example.org")  # the platform_admin's session
    for args in (
        ["org", "add", "--slug", "iom-it", "--name", "IOM Italy", "--kind", "iom_mission"],
        ["org", "add", "--slug", "adpare", "--name", "ADPARE", "--kind", "ngo"],
    ):
        country = "IT" if "iom-it" in args else "RO"
        assert up.homeward(*args, "--country", country, session=signed_in).returncode == 0
    staff = ["--org", "iom-it", "--name", "Ana Pop", "--email", COORD, "--role", "coordinator"]
    assert up.homeward("staff", "add", *staff, session=signed_in).returncode == 0
    with temporary_settings(updates={PREFECT_API_URL: up.api_url}):
        with get_client(sync_client=True) as client:
            schema = client.read_deployment_by_name(
                "start-return/start-return"
            ).parameter_openapi_schema
        # as the form offers them: countries by name; organisations by the slug alone, as they
        # were added after `homeward up` registered its forms (a dropdown needs a restart)
        parameters = offered(schema, {"host_country": "IT", "ngo": "adpare"})
        assert parameters["host_country"] == "Italy (IT)"
        flow_run = run_deployment(
            "start-return/start-return",
            parameters={**parameters, "assertion": _assertion(up, COORD, "start-return")},
            timeout=180,
        )
        assert flow_run.state is not None and flow_run.state.is_completed(), flow_run.state
        with get_client(sync_client=True) as client:
            artifacts = client.read_artifacts()
    engine = create_engine(f"sqlite:///{up.database}")
    with Session(engine) as session:
        (case,) = session.exec(select(Case)).all()  # results are not persisted: find it here
    engine.dispose()
    assert case.phase == "identified_abroad"
    assert timeline_key(case.case_ref) in {a.key for a in artifacts if a.flow_run_id == flow_run.id}


def test_a_run_name_typed_in_a_form_is_never_stored(up: Up) -> None:
    """The UI's "Run name" field is free text: the server behind ``homeward up`` keeps none."""
    typed = "Zyxcanary Qwopperton"
    with temporary_settings(updates={PREFECT_API_URL: up.api_url}):
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name("change-status/change-status")
            parameters = {"case_ref": "RT-AAAA-AA", "trigger": "Resume (resume)"}
            made = client.create_flow_run_from_deployment(
                deployment.id, parameters=parameters, name=typed
            )
            stored = client.read_flow_run(made.id)
    assert typed not in made.name and typed not in stored.name and stored.name
    home = Path(up.env["HOMEWARD_PREFECT_HOME"])
    for part in ("prefect.db", "prefect.db-wal"):  # the run, its events, as SQLite holds them
        if (home / part).exists():
            assert typed.encode() not in (home / part).read_bytes()


def test_a_deployments_run_gets_parameters_only_through_its_schema_check(up: Up) -> None:
    """``POST /flow_runs/`` naming a deployment, or ``PATCH /flow_runs/{id}`` with parameters,
    would skip the server's schema check: the gate refuses both; nothing is made or changed."""
    fits = {"case_ref": "RT-AAAA-AA", "trigger": "Resume (resume)"}
    unfit = {"case_ref": "RT-AAAA-AA", "trigger": "not one the form offers"}
    with temporary_settings(updates={PREFECT_API_URL: up.api_url}):
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name("change-status/change-status")
            made = client.create_flow_run_from_deployment(deployment.id, parameters=fits)
            created = sent(
                "POST",
                f"{up.api_url}/flow_runs/",
                {"flow_id": str(deployment.flow_id), "deployment_id": str(deployment.id),
                 "parameters": unfit},
            )  # fmt: skip
            changed = sent("PATCH", f"{up.api_url}/flow_runs/{made.id}", {"parameters": unfit})
            other = sent(  # what Prefect's own clients send when they update a run
                "PATCH", f"{up.api_url}/flow_runs/{made.id}", {"flow_version": "1"}
            )
            unfit_runs = [r for r in client.read_flow_runs() if r.parameters == unfit]
            assert client.read_flow_run(made.id).parameters == made.parameters
    for refused in (created, changed):
        assert refused.status_code == 403, refused.text
        assert "/create_flow_run" in refused.json()["detail"]
    assert other.is_success, other.text
    assert unfit_runs == []


KEPT_BY_AN_UPSERT = {
    "parameter_openapi_schema": {"type": "object", "properties": {}},
    "enforce_parameter_schema": False,
    "parameters": {"case_ref": "RT-AAAA-AA", "trigger": "not one the form offers"},
    "job_variables": {"command": "sh -c 'cat /etc/homeward/keys.json'"},
    "pull_steps": [{"prefect.deployments.steps.run_shell_script": {"script": "cat keys.json"}}],
    "entrypoint": "elsewhere.py:anything",
    "path": "/tmp",  # noqa: S108 (a path the test never uses)
    "work_pool_name": "elsewhere",
    "work_queue_name": "elsewhere",
}
GUARDED = ("parameter_openapi_schema", "enforce_parameter_schema", "parameters", "job_variables")
MOVED = ("pull_steps", "entrypoint", "path", "work_pool_name", "work_queue_name")  # its code


def _guarded(deployment: Any) -> dict[str, Any]:
    return {name: getattr(deployment, name) for name in (*GUARDED, *MOVED)}


def test_no_run_or_deployment_edit_carries_job_variables_or_a_new_form(up: Up) -> None:
    """Job variables are a process worker's command and environment: no request through the
    gate keeps them. Runs are never created in bulk (each entry its own schema switch), and a
    deployment's edit keeps Homeward's schema and default parameters, and its code."""
    fits = {"case_ref": "RT-AAAA-AA", "trigger": "Resume (resume)"}
    unfit = {"case_ref": "RT-AAAA-AA", "trigger": "not one the form offers"}
    command = {"command": "sh -c 'cat /etc/homeward/keys.json'"}
    with temporary_settings(updates={PREFECT_API_URL: up.api_url}):
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name("change-status/change-status")
            made = client.create_flow_run_from_deployment(  # as the UI's custom run sends it
                deployment.id, parameters=fits, job_variables=command
            )
            bulk = sent(
                "POST",
                f"{up.api_url}/deployments/{deployment.id}/create_flow_run/bulk",
                [{"parameters": unfit, "enforce_parameter_schema": False}],
            )
            edited = sent(
                "PATCH",
                f"{up.api_url}/deployments/{deployment.id}",
                {"parameter_openapi_schema": {}, "parameters": unfit,
                 "job_variables": command, "description": "edited",
                 **{name: KEPT_BY_AN_UPSERT[name] for name in MOVED}},
            )  # fmt: skip
            after = client.read_deployment(deployment.id)
            run = client.read_flow_run(made.id)
            unfit_runs = [r for r in client.read_flow_runs() if r.parameters == unfit]
    assert run.job_variables in (None, {}) and run.parameters == fits
    assert bulk.status_code == 403 and "in bulk" in bulk.json()["detail"], bulk.text
    assert unfit_runs == []
    assert edited.is_success, edited.text
    assert after.description == "edited"  # the edit itself went through
    assert after.parameter_openapi_schema == deployment.parameter_openapi_schema
    assert after.parameters == deployment.parameters
    assert after.job_variables == deployment.job_variables
    assert after.enforce_parameter_schema
    assert _guarded(after) == _guarded(deployment)  # what it runs, where, too


def test_an_upsert_through_the_gate_never_changes_a_deployment_s_form_or_code(up: Up) -> None:
    """``POST /deployments/`` (Prefect's upsert) would replace an existing deployment's form,
    defaults, job variables and code: refused (403, one line) for each; an upsert that keeps
    them, and a new deployment, go through."""
    with temporary_settings(updates={PREFECT_API_URL: up.api_url}):
        with get_client(sync_client=True) as client:
            before = client.read_deployment_by_name("change-status/change-status")
            same = {"flow_id": str(before.flow_id), "name": before.name}
            upsert = f"{up.api_url}/deployments/"
            refused = {
                name: sent("POST", upsert, {**same, name: value})
                for name, value in KEPT_BY_AN_UPSERT.items()
            }
            kept = sent(
                "POST",
                upsert,
                {**same, "description": "upserted", "parameters": before.parameters,
                 "entrypoint": before.entrypoint, "enforce_parameter_schema": True},
            )  # fmt: skip
            new = sent("POST", upsert, {**same, "name": "gate-new-0001"})
            after = client.read_deployment(before.id)
            if new.is_success:
                _remove(up, UUID(new.json()["id"]))
    for name, answer in refused.items():
        assert answer.status_code == 403, (name, answer.text)
        detail = answer.json()["detail"]
        assert detail == (
            f"an existing deployment's {name} are not changed here; `homeward up` registers "
            "Homeward's deployments"
        )
    assert kept.is_success and new.is_success, (kept.text, new.text)
    assert after.description == "upserted"
    assert _guarded(after) == _guarded(before)


def _registration_key(up: Up) -> str:
    """The key ``homeward up`` gave its server (in the server's environment only)."""
    [server] = _server_children(up.process.pid)
    environ = Path(f"/proc/{server}/environ").read_bytes().split(b"\0")
    [key] = [
        v
        for k, _, v in (e.partition(b"=") for e in environ)
        if k == b"HOMEWARD_GATE_REGISTRATION_KEY"
    ]
    return key.decode()


async def _register(api_url: str, deployment: Any, key: str | None) -> None:
    from prefect.runner import Runner

    from homeward.edges.cli.up import register

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        await register(Runner(name="test-registration"), [deployment], key)


def test_only_up_s_own_registration_changes_a_deployment_s_form(up: Up) -> None:
    """``homeward up`` registers its deployments again on every start (an update, once they
    exist): with the key it gave its server, their forms become this version's; the same
    registration without it, or with another key, changes no form."""
    [deployment] = [d for d in build_deployments() if d.name == "change-status"]
    with temporary_settings(updates={PREFECT_API_URL: up.api_url}):
        with get_client(sync_client=True) as client:
            before = client.read_deployment_by_name("change-status/change-status")
    original = deployment._parameter_openapi_schema.title
    deployment._parameter_openapi_schema.title = "Registered again"
    for key in (None, "not-the-key-0001"):
        asyncio.run(_register(up.api_url, deployment, key))
    with temporary_settings(updates={PREFECT_API_URL: up.api_url}):
        with get_client(sync_client=True) as client:
            unkeyed = client.read_deployment(before.id)
            asyncio.run(_register(up.api_url, deployment, _registration_key(up)))
            keyed = client.read_deployment(before.id)
            deployment._parameter_openapi_schema.title = original
            asyncio.run(_register(up.api_url, deployment, _registration_key(up)))
            restored = client.read_deployment(before.id)
    assert unkeyed.parameter_openapi_schema == before.parameter_openapi_schema
    assert keyed.parameter_openapi_schema["title"] == "Registered again"
    assert restored.parameter_openapi_schema["title"] == original


def test_a_schedule_is_only_paused_or_resumed_and_no_deployment_deleted_without_the_key(
    up: Up,
) -> None:
    """The scheduler creates a schedule's runs with its parameters, never through the gate nor
    the deployment's schema check: unkeyed, no schedule is added or given parameters (alone, in
    a deployment's edit, or in an upsert), yet the UI's switch pauses and resumes one. No
    deployment is deleted (it could be created again with another form and code)."""
    probe = _add_never_due(up.api_url)
    url = f"{up.api_url}/deployments/{probe}"
    with temporary_settings(updates={PREFECT_API_URL: up.api_url}):
        with get_client(sync_client=True) as client:
            before = client.read_deployment(probe)
            [held] = before.schedules
            timing = held.schedule.model_dump(mode="json")
            added = sent("POST", f"{url}/schedules", [{"schedule": timing, "active": True}])
            given = sent(
                "PATCH", f"{url}/schedules/{held.id}", {"active": True, "parameters": {"a": 1}}
            )
            switch = {"slug": held.slug, "schedule": timing, "parameters": {}, "active": False}
            paused = sent("PATCH", f"{url}/schedules/{held.id}", switch)
            paused_now = client.read_deployment(probe).schedules
            edited = sent(
                "PATCH", url, {"schedules": [{"schedule": timing, "parameters": {"a": 1}}]}
            )
            upserted = sent(
                "POST",
                f"{up.api_url}/deployments/",
                {"flow_id": str(before.flow_id), "name": before.name, "schedules": []},
            )
            deleted = sent("DELETE", url, None)
            in_bulk = sent(
                "POST",
                f"{up.api_url}/deployments/bulk_delete",
                {"deployments": {"id": {"any_": [str(probe)]}}},
            )
            after = client.read_deployment(probe)
    _remove(up, probe)
    for refused in (added, given, upserted, deleted, in_bulk):
        assert refused.status_code == 403, refused.text
        assert "`homeward up` registers Homeward's deployments" in refused.json()["detail"]
    assert paused.status_code == 204 and edited.is_success, (paused.text, edited.text)
    assert [s.active for s in paused_now] == [False]
    assert [(s.id, s.parameters) for s in after.schedules] == [(held.id, {})]


def test_up_s_registration_resets_what_prefect_s_client_leaves_out(up: Up) -> None:
    """Prefect's client sends no pull steps when a deployment has none, no job variables without
    a work pool, and its upsert keeps the work pool when given none: ``homeward up``'s
    registration sets them again, so values set otherwise do not outlive the next start."""
    [deployment] = [d for d in build_deployments() if d.name == "change-status"]
    key = {REGISTRATION_HEADER: _registration_key(up)}
    pool = sent("POST", f"{up.api_url}/work_pools/", {"name": "gate-pool", "type": "process"})
    assert pool.is_success or pool.status_code == 409, pool.text
    with temporary_settings(updates={PREFECT_API_URL: up.api_url}):
        with get_client(sync_client=True) as client:
            before = client.read_deployment_by_name("change-status/change-status")
            moved = sent(
                "PATCH",
                f"{up.api_url}/deployments/{before.id}",
                {name: KEPT_BY_AN_UPSERT[name] for name in
                 ("pull_steps", "job_variables")} | {"work_pool_name": "gate-pool"},
                headers=key,
            )  # fmt: skip
            elsewhere = client.read_deployment(before.id)
            asyncio.run(_register(up.api_url, deployment, _registration_key(up)))
            after = client.read_deployment(before.id)
    assert moved.status_code == 204, moved.text
    assert elsewhere.work_pool_name == "gate-pool" and elsewhere.pull_steps
    assert (after.pull_steps, after.job_variables) == ([], {})
    assert (after.work_pool_name, after.work_queue_name) == (None, None)


def test_a_taken_port_or_a_silent_server_is_one_line_and_an_exit_code(up: Up) -> None:
    taken = up.homeward("up", "--port", str(up.port))
    assert taken.returncode == 5, taken.stderr
    assert taken.stderr.startswith(f"error: --port: 127.0.0.1:{up.port} is in use")
    with socket.socket() as held:  # bound, never listening: no server of a busy run takes it
        held.bind(("127.0.0.1", 0))
        silent = up.homeward("up", "--api-url", f"http://127.0.0.1:{held.getsockname()[1]}/api")
    assert silent.returncode == 11, silent.stderr
    assert silent.stderr.startswith("error: --api-url: no Prefect server answers at")
    for result in (taken, silent):
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_ctrl_c_stops_serving_and_the_server_and_exits_zero(up: Up) -> None:
    servers = _server_children(up.process.pid)
    assert len(servers) == 1, "homeward up started one Prefect server"
    up.process.send_signal(signal.SIGINT)
    # A guard against a hang, not a speed check: up stops serving, then gives its server up to
    # STOP_TIMEOUT_SECONDS (20 s) before killing it: 30 s in all left a loaded CI 10 s for the
    # rest of the shutdown.
    assert up.process.wait(timeout=180) == 0, up.stderr()[-3000:]
    deadline = time.monotonic() + 60
    while not _gone(servers[0]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _gone(servers[0]), "the Prefect server outlived homeward up"
    assert "Traceback" not in up.stderr() + up.output()
    assert "Prefect server stopped" in up.output()


def _homeward(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``homeward ARGS`` in a fresh environment (a timeout here means a server was started)."""
    return subprocess.run(
        [str(BIN / "homeward"), *args],
        env=_environment(tmp),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


@pytest.mark.parametrize("where", [["--host", "0.0.0.0"], ["--auth"]])  # noqa: S104
def test_an_auth_file_others_may_read_stops_the_start(tmp_path: Path, where: list[str]) -> None:
    """Off loopback (or with --auth), a readable auth file is refused before any server starts."""
    kept = tmp_path / "prefect" / "api-auth-string"
    kept.parent.mkdir(mode=0o700)
    kept.write_text("homeward:known-to-others\n", encoding="utf-8")
    kept.chmod(0o644)
    done = _homeward(tmp_path, "up", *where, "--port", str(_free_port()))
    assert done.returncode == 4, done.stderr
    assert done.stderr == f"error: {kept}: mode 0644 lets others read the Prefect API auth " + (
        f"string; run `chmod 600 {kept}` (or delete it to have a new one made)\n"
    )
    assert "known-to-others" not in done.stdout + done.stderr
    assert not (tmp_path / "prefect" / "server.log").exists(), "no server was started"


def test_auth_is_for_our_own_server_only(tmp_path: Path) -> None:
    done = _homeward(tmp_path, "up", "--auth", "--api-url", "http://127.0.0.1:9/api")
    assert done.returncode == 2
    assert done.stderr.startswith("error: --auth: only for the server homeward up starts; ")
    assert "PREFECT_API_AUTH_STRING" in done.stderr and done.stderr.count("\n") == 1


def _flows_filter(api_url: str, auth: str | None) -> int:
    response = httpx.post(
        f"{api_url}/flows/filter", json={}, headers=basic_auth_headers(auth), timeout=30
    )
    return response.status_code


def test_on_a_non_loopback_address_the_api_needs_the_auth_string_printed_once(
    tmp_path: Path,
) -> None:
    """``--host 0.0.0.0``: the API answers only with the auth string made on this first start,
    which is printed once and kept mode 0600; the runner, the scheduler watch and a served flow
    run all send it. A second start says auth is on and where, never the string."""
    with _running_up(tmp_path, host="0.0.0.0") as up:  # noqa: S104 (the point of the test)
        kept = Path(up.env["HOMEWARD_PREFECT_HOME"]) / "api-auth-string"
        secret = kept.read_text(encoding="utf-8").strip()
        assert S_IMODE(kept.stat().st_mode) == 0o600
        assert secret.startswith("homeward:") and len(secret) >= len("homeward:") + 43
        assert up.output().count(secret) == 1, up.output()
        assert f"stored in {kept}, mode 0600" in up.output()
        assert httpx.get(f"{up.api_url}/health", timeout=30).status_code == 200  # probes: open
        assert _flows_filter(up.api_url, None) == 401
        assert _flows_filter(up.api_url, "homeward:wrong") == 401
        assert _flows_filter(up.api_url, secret) == 200
        ui = httpx.get(f"http://127.0.0.1:{up.port}/ui-settings", timeout=30).json()
        assert ui["auth"] == "BASIC", "the UI asks for the string"
        names = [planned.name for planned in DEPLOYMENTS if planned.cron]
        served = asyncio.run(read_served(up.api_url, names, datetime.now(UTC), secret))
        assert sorted(s.name for s in served) == sorted(names)
        with temporary_settings(
            updates={PREFECT_API_URL: up.api_url, PREFECT_API_AUTH_STRING: secret}
        ):
            run = run_deployment(
                "sweep-due-items/sweep-due-items", parameters={"send": False}, timeout=180
            )
        assert run.state is not None and run.state.is_completed(), run.state
        again = up.homeward("up", "--host", "0.0.0.0", "--port", str(up.port))  # noqa: S104
    assert again.returncode == 5 and "is in use" in again.stderr, again.stderr
    assert f"Prefect API auth is on: the UI and the API need the user:password in {kept}" in (
        again.stdout
    )
    assert secret not in again.stdout + again.stderr
    assert up.process.returncode == 0 and "Traceback" not in up.stderr() + up.output()

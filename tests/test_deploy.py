"""The deploy/ files stay true to the code: compose registers the deployments with ``homeward
deploy`` and runs a worker on their pool with the keys mounted, automations are valid Prefect
ones. (That ``homeward deploy`` registers the forms ``homeward up`` does, on a real server:
tests/workflows/test_deploy_forms.py.)
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import yaml
from prefect.events.schemas.automations import AutomationCore

from homeward.base.settings import Settings
from workflows.deployments import DEPLOYMENTS, ROOT, build_deployments, on_work_pool

DEPLOY = ROOT / "deploy"
PLACEHOLDER_BLOCK = "00000000-0000-0000-0000-000000000000"


def load(name: str) -> Any:
    return yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))


def test_every_deployment_s_entrypoint_is_its_flow_from_the_installation_s_root():
    """What ``homeward deploy`` registers: a worker at the installation's root loads each flow
    from its entrypoint (``workflows/<module>.py:<function>``), schedules and tags as planned."""
    zone = Settings.model_fields["timezone"].default
    flows = {planned.name: planned.flow for planned in DEPLOYMENTS}
    for deployment in on_work_pool(build_deployments(timezone=zone, directory={})):
        match = re.fullmatch(r"workflows/(\w+)\.py:(\w+)", str(deployment.entrypoint))
        assert match, deployment.entrypoint
        assert (ROOT / deployment.entrypoint.split(":")[0]).is_file()
        assert (
            getattr(importlib.import_module(f"workflows.{match[1]}"), match[2])
            is flows[deployment.name]
        )
        assert deployment.work_pool_name == "homeward" and deployment.enforce_parameter_schema
        assert "homeward" in deployment.tags
        for schedule in deployment.schedules or []:
            assert schedule.schedule.timezone == zone


def test_compose_registers_with_homeward_deploy_never_prefect_deploy():
    """``prefect deploy`` would publish the flows' bare signatures: compose registers the
    typed forms with ``homeward deploy``, reading the organisations as the register login
    (that table alone), with no keyring mounted."""
    services = load("compose.yaml")["services"]
    register = services["register"]
    assert register["command"][:4] == ["homeward", "deploy", "--pool", "homeward"]
    assert register["command"][4:] == ["--installed-at", "/opt/homeward"]
    assert "secrets" not in register
    url = register["environment"]["HOMEWARD_DATABASE_URL"]
    assert url.startswith("postgresql://homeward_register:")
    assert "--register-login homeward_register" in " ".join(
        services["migrate"]["command"][2].split()
    )
    assert not (DEPLOY / "prefect.yaml").exists()


def test_compose_runs_a_worker_on_the_pool_with_keys_mounted_never_baked_in():
    """The worker serves the pool with the keys mounted, never baked in; the server, listening
    on its whole network, requires the auth string every Prefect client there sends."""
    services = load("compose.yaml")["services"]
    assert {"postgres", "prefect-server", "worker", "mailpit"} <= set(services)
    worker = services["worker"]
    assert worker["command"][:5] == ["prefect", "worker", "start", "--pool", "homeward"]
    assert "homeward_keys" in worker["secrets"]
    assert worker["environment"]["HOMEWARD_KEY_FILE"] == "/run/secrets/homeward_keys"
    server = services["prefect-server"]["environment"]
    assert server["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert server["PREFECT_SERVER_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://")
    assert services["prefect-server"]["command"][3:5] == ["--host", "0.0.0.0"]  # noqa: S104
    assert server["PREFECT_SERVER_API_AUTH_STRING"].startswith("${PREFECT_AUTH_STRING:?")
    for name in ("worker", "register"):  # every Prefect client sends the server's string
        client = services[name]["environment"]
        assert client["PREFECT_API_AUTH_STRING"] == server["PREFECT_SERVER_API_AUTH_STRING"]
    web = services["web"]  # the workspace: the app's login, linked to from emails over https
    assert web["command"][:2] == ["homeward", "web"]
    assert web["environment"]["HOMEWARD_DATABASE_URL"].startswith("postgresql://homeward_web:")
    assert web["environment"]["HOMEWARD_MAIL_BASE_URL"].startswith("${HOMEWARD_MAIL_BASE_URL:?")
    assert "--app-password-env" in services["migrate"]["command"][2]
    assert all(port.startswith("127.0.0.1:") for port in web["ports"])
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    copied = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY")]
    assert {"homeward", "statemachines", "tasks", "notifications", "workflows"} <= set(copied)
    assert not any("key" in c or "secret" in c or ".env" in c for c in copied)
    assert "HOMEWARD_" not in dockerfile  # settings come from compose at run time
    assert "WORKDIR /opt/homeward" in dockerfile


def test_automations_are_valid_and_watch_crashes_late_runs_and_case_moves():
    automations = [
        AutomationCore.model_validate(a) for a in load("automations.yaml")["automations"]
    ]
    expected_events = {event for automation in automations for event in automation.trigger.expect}
    assert {
        "prefect.flow-run.Crashed",
        "prefect.flow-run.Late",
        "homeward.case.transitioned",
    } <= expected_events
    notify = [a for x in automations for a in x.actions if a.type == "send-notification"]
    blocks = {str(getattr(a, "block_document_id", None)) for a in notify}
    assert blocks == {PLACEHOLDER_BLOCK}, "deploy/automations.yaml's header says what to replace"


def test_compose_s_worker_and_the_automations_are_what_the_scale_out_test_runs():
    """``tests/scaleout.py`` starts workers and automations as compose and automations.yaml
    say: a per-worker limit, heartbeats, zombies crashed and crashed runs scheduled again."""
    from tests import scaleout

    worker = load("compose.yaml")["services"]["worker"]
    assert worker["command"][-2:] == ["--limit", str(scaleout.WORKER_LIMIT)]
    env = worker["environment"]
    assert env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == str(scaleout.HEARTBEAT_SECONDS)
    assert (
        env["PREFECT_WORKER_QUERY_SECONDS"]
        == scaleout.worker_env("x", "y")["PREFECT_WORKER_QUERY_SECONDS"]
    )
    server = load("compose.yaml")["services"]["prefect-server"]["environment"]
    assert server["PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED"] == "events,flow_runs"
    rerun = {a["name"]: AutomationCore.model_validate(a) for a in scaleout.rerun_automations()}
    assert set(rerun) == set(scaleout.RERUN_AUTOMATIONS)
    zombie, again = (rerun[name] for name in scaleout.RERUN_AUTOMATIONS)
    assert zombie.trigger.posture == "Proactive"  # type: ignore[union-attr]
    assert zombie.trigger.within.total_seconds() >= 2 * scaleout.HEARTBEAT_SECONDS  # type: ignore[union-attr]
    assert [a.model_dump(include={"type", "state"}) for a in zombie.actions] == [
        {"type": "change-flow-run-state", "state": "CRASHED"}
    ]
    assert [a.model_dump(include={"type", "state", "force"}) for a in again.actions] == [
        {"type": "change-flow-run-state", "state": "SCHEDULED", "force": True}
    ]

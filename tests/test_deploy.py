"""The deploy/ files stay true to the code: prefect.yaml says what ``build_deployments()`` says,
compose runs a worker on that pool with the keys mounted, automations are valid Prefect ones.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect import Flow
from prefect.events.schemas.automations import AutomationCore

from homeward.base.settings import Settings
from workflows.deployments import build_deployments

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
PLACEHOLDER_BLOCK = "00000000-0000-0000-0000-000000000000"


def load(name: str) -> Any:
    return yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))


def flow_at(entrypoint: str) -> Flow[..., Any]:
    """The object an entrypoint ``workflows/<module>.py:<function>`` names."""
    match = re.fullmatch(r"workflows/(\w+)\.py:(\w+)", entrypoint)
    assert match, f"{entrypoint}: expected workflows/<module>.py:<flow function>"
    assert (ROOT / entrypoint.split(":")[0]).is_file()
    found = getattr(importlib.import_module(f"workflows.{match[1]}"), match[2])
    assert isinstance(found, Flow), f"{entrypoint} is not a @flow"
    return found


def schedules(items: list[Any]) -> list[tuple[str, str]]:
    return [(s["cron"], s["timezone"]) for s in items]


@pytest.fixture(scope="module")
def expected() -> dict[str, dict[str, Any]]:
    zone = Settings.model_fields["timezone"].default  # the file's schedules use the default
    return {
        d.name: {
            "flow": d.flow_name,
            "schedules": [(s.schedule.cron, s.schedule.timezone) for s in d.schedules or []],
            "tags": sorted(d.tags),
            "description": d.description,
        }
        for d in build_deployments(timezone=zone)
    }


def test_prefect_yaml_deploys_every_flow_as_build_deployments_does(expected):
    config = load("prefect.yaml")
    found = {
        d["name"]: {
            "flow": flow_at(d["entrypoint"]).name,
            "schedules": schedules(d.get("schedules") or []),
            "tags": sorted(d["tags"]),
            "description": d["description"],
        }
        for d in config["deployments"]
    }
    assert found == expected
    assert {d["work_pool"]["name"] for d in config["deployments"]} == {"homeward"}
    (pull,) = config["pull"]
    assert pull["prefect.deployments.steps.set_working_directory"]["directory"] == "/opt/homeward"
    assert config["definitions"]["work_pools"]["homeward"]["name"] == "homeward"


def test_a_wrong_entrypoint_is_caught():
    with pytest.raises(AssertionError):
        flow_at("workflows/deployments.py:build_deployments")
    with pytest.raises(AssertionError):
        flow_at("flows/start.py:start")


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
    blocks = {str(a.block_document_id) for x in automations for a in x.actions}
    assert blocks == {PLACEHOLDER_BLOCK}, "deploy/automations.yaml's header says what to replace"

"""Issue 13's "done when": no flow parameter, flow form, CLI option or environment variable lets
anyone type who they are. People prove it (``homeward login``, run assertions)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from pydantic import BaseModel

import workflows
from homeward.edges.cli import loaded_command
from workflows.deployments import DEPLOYMENTS

ROOT = Path(__file__).resolve().parent.parent
TYPED = re.compile(
    r"\b(acting_email|approver_email|manager_email|actor_email|HOMEWARD_ACTOR|HOMEWARD_REPORT_AS)\b"
    r"|[\"']--as[\"']"
)
IDENTITY_WORDS = re.compile(r"email|actor|acting|approver|user|who", re.IGNORECASE)


def test_grep_finds_no_typed_identity_in_the_flows_or_the_cli() -> None:
    places = [*sorted((ROOT / "workflows").glob("*.py"))]
    places += sorted((ROOT / "homeward" / "edges" / "cli").glob("*.py"))
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in places
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if TYPED.search(line)
    ]
    assert found == []


def test_no_flow_parameter_names_a_person() -> None:
    for planned in DEPLOYMENTS:
        parameters = inspect.signature(planned.flow.fn).parameters
        named = [name for name in parameters if IDENTITY_WORDS.search(name)]
        assert named == [], f"{planned.flow.name} takes {named}"


def test_no_run_input_form_names_a_person() -> None:
    """The forms a paused run shows in the Prefect UI (``RunInput`` models) ask for an
    assertion, never an address."""
    forms = [
        model
        for module in _modules(workflows)
        for _, model in inspect.getmembers(module, inspect.isclass)
        if issubclass(model, BaseModel) and model.__module__ == module.__name__
    ]
    assert forms
    for form in forms:
        named = [name for name in form.model_fields if IDENTITY_WORDS.search(name)]
        assert named == [], f"{form.__name__} asks for {named}"


def test_the_cli_has_no_option_to_act_as_someone() -> None:
    command = loaded_command()
    options = {
        opt
        for param in _all_params(command)
        for opt in [*getattr(param, "opts", []), getattr(param, "envvar", None) or ""]
    }
    assert "--as" not in options and "HOMEWARD_ACTOR" not in options


def _all_params(command: object) -> list[object]:
    params = list(getattr(command, "params", []))
    for sub in getattr(command, "commands", {}).values():
        params += _all_params(sub)
    return params


def _modules(package: object) -> list[object]:
    import importlib
    import pkgutil

    return [
        importlib.import_module(f"{package.__name__}.{info.name}")  # type: ignore[attr-defined]
        for info in pkgutil.iter_modules(package.__path__)  # type: ignore[attr-defined]
    ]

"""What users read points only to what users have: never to DOMAIN.md (a maintainers' file
that is not shipped), in the CLI's help, the Prefect UI's forms, the emails or the README."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from homeward.edges.cli import loaded_command
from workflows.approvals import ClosureDecision
from workflows.deployments import DEPLOYMENTS

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("homeward", "statemachines", "tasks", "notifications", "workflows")


def _help_texts(command: Any, path: str = "homeward") -> dict[str, str]:
    """Every command's help and its options' help, by command path."""
    own = [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]
    texts = {path: "\n".join(own)}
    for name, sub in getattr(command, "commands", {}).items():  # typer vendors its own click
        texts.update(_help_texts(sub, f"{path} {name}"))
    return texts


def _forms() -> dict[str, str]:
    """The JSON schemas the Prefect UI renders as forms: flow parameters and the pause form."""
    forms = {p.name: json.dumps(p.flow.parameters.model_dump()) for p in DEPLOYMENTS}
    forms["closure decision"] = json.dumps(ClosureDecision.model_json_schema())
    return forms


def test_no_help_text_or_form_points_to_domain_md():
    texts = {**_help_texts(loaded_command()), **_forms()}
    assert len(texts) > 40  # every command was reached
    assert [where for where, text in texts.items() if "DOMAIN.md" in text] == []


def test_no_product_file_email_or_readme_points_to_domain_md():
    files = [
        ROOT / "README.md",
        *(p for d in PRODUCT for p in (ROOT / d).rglob("*") if p.is_file()),
    ]
    assert [
        str(p.relative_to(ROOT))
        for p in files
        if p.suffix in {".py", ".txt", ".html", ".json", ".md"}
        and "DOMAIN.md" in p.read_text(encoding="utf-8")
    ] == []

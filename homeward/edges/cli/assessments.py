"""The CLI for structured assessments and the service directory (issue 16):
``homeward assess ...``, ``homeward providers ...`` and ``homeward case set-county``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from homeward.base.errors import InvalidInput
from homeward.commands import assessments as cmd
from homeward.commands import providers as directory
from homeward.commands.runner import run
from homeward.edges.cli.cases import parse_pairs
from homeward.edges.cli.common import (
    console,
    credential,
    local,
    local_day,
    request_id_option,
    state,
)

assess_app = typer.Typer(
    help="Structured assessments (risk, needs and skills, family) and proposed services.",
    no_args_is_help=True,
)
providers_app = typer.Typer(
    help="The service directory: services offered per county, with capacity.",
    no_args_is_help=True,
)
MAX_FILE = 64_000


def _answers_file(source: str) -> dict[str, str]:
    """``--answers FILE.json`` (``-``: standard input): a JSON object of key to answer."""
    try:
        raw = sys.stdin.read(MAX_FILE + 1) if source == "-" else Path(source).read_text("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("--answers: not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise InvalidInput(f"--answers: cannot read the file ({exc.strerror})") from None
    if len(raw) > MAX_FILE:
        raise InvalidInput(f"--answers: larger than {MAX_FILE:,} characters; shorten it")
    try:
        loaded: Any = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"--answers: not JSON (line {exc.lineno}); write an object") from None
    if not isinstance(loaded, dict) or not all(
        isinstance(v, str | int | bool) for v in loaded.values()
    ):
        raise InvalidInput('--answers: write one JSON object of key to answer, {"debt": "yes"}')
    return {str(k): str(v) for k, v in loaded.items()}


def _record(
    kind: str, ref: str, answer: list[str], answers: str | None, request_id: str | None
) -> None:
    given = _answers_file(answers) if answers else {}
    for key, value in parse_pairs(answer, "--answer").items():
        if key in given:
            raise InvalidInput(f"--answer: {key} is also in --answers; give it once")
        given[key] = value
    done = run(
        cmd.RecordAssessment(ref, kind, given), credential(), key=request_id, clock=state.clock
    )
    level = f", level {done.level}" if done.level else ""
    needs = f", needs {done.needs.replace(',', ', ')}" if done.needs else ""
    console.print(
        f"assessment #{done.assessment_id} ({done.kind}) recorded on case {done.case_ref}"
        f"{level}{needs}"
    )
    if done.item_done:
        console.print(f"item {done.item_done} recorded done")
    if done.suggest:
        console.print(done.suggest)


def _answer_option() -> Any:
    return typer.Option(
        [], "--answer", help="KEY=VALUE, once per question (`assess questions KIND`)"
    )


def _answers_option() -> Any:
    return typer.Option(
        None,
        "--answers",
        help="a JSON file of the answers (`-`: standard input); keeps notes out of `ps`",
    )


@assess_app.command("risk")
def assess_risk(
    case_ref: str,
    answer: list[str] = _answer_option(),
    answers: str = _answers_option(),
    request_id: str = request_id_option(),
) -> None:
    """Record a risk assessment; it records the risk_assessment item (risk_reassessment while
    suspended) done with the level. A high risk needs a supervisor's review before travel."""
    _record("risk", case_ref, answer, answers, request_id)


@assess_app.command("needs")
def assess_needs(
    case_ref: str,
    answer: list[str] = _answer_option(),
    answers: str = _answers_option(),
    request_id: str = request_id_option(),
) -> None:
    """Record a needs and skills assessment (needs: service types answered yes)."""
    _record("needs", case_ref, answer, answers, request_id)


@assess_app.command("family")
def assess_family(
    case_ref: str,
    answer: list[str] = _answer_option(),
    answers: str = _answers_option(),
    request_id: str = request_id_option(),
) -> None:
    """Record a family assessment (a family involved in the trafficking makes the risk high)."""
    _record("family", case_ref, answer, answers, request_id)


@assess_app.command("questions")
def assess_questions(kind: str) -> None:
    """The questions of KIND (risk, needs, family): keys, allowed values, labels."""
    lines = run(cmd.Questions(kind), credential(), clock=state.clock)
    table = Table("key", "values", "required", "question")
    for line in lines:
        values = " | ".join(line.values) if line.values else "free text (encrypted)"
        table.add_row(line.key, values, "yes" if line.required else "no", line.label)
    console.print(table)


@assess_app.command("list")
def assess_list(case_ref: str) -> None:
    """A case's assessments (levels, needs, reviews; never the answers)."""
    view = run(cmd.ListAssessments(case_ref), credential(), clock=state.clock)
    table = Table("#", "kind", "level", "needs", "assessed", "by", "review")
    for line in view.lines:
        review = (
            f"{line.review} by {line.reviewed_by} {local(line.reviewed_at)}" if line.review else ""
        )
        table.add_row(
            str(line.assessment_id),
            line.kind,
            line.level or "",
            ", ".join(line.needs),
            local_day(line.assessed_on),
            line.assessed_by,
            review,
        )
    console.print(table)
    console.print(
        f"risk: {view.risk_level or 'not assessed'}; destination county: {view.county or 'not set'}"
    )
    if view.suggest:
        console.print(view.suggest)


@assess_app.command("show")
def assess_show(assessment_id: int) -> None:
    """One assessment with its answers (for who may read the case's notes; audited)."""
    shown = run(cmd.ShowAssessment(assessment_id), credential(), clock=state.clock)
    line = shown.line
    console.print(
        f"assessment #{line.assessment_id} ({line.kind}) of case {shown.case_ref}: "
        f"level {line.level or '-'}"
    )
    if shown.answers is None:
        console.print("answers: not readable by you")
        return
    for key, value in shown.answers.items():
        console.print(f"{key}: {value}", markup=False)


@assess_app.command("review")
def assess_review(
    assessment_id: int,
    agree: bool = typer.Option(False, "--agree", help="agree with the level"),
    level: str = typer.Option(None, "--level", help="set another level: low, medium or high"),
    request_id: str = request_id_option(),
) -> None:
    """A supervisor of the owner (not who recorded it) reviews a risk assessment."""
    if agree == (level is not None):
        raise InvalidInput("review: give --agree or --level LEVEL (one of them)")
    done = run(
        cmd.ReviewAssessment(assessment_id, level), credential(), key=request_id, clock=state.clock
    )
    console.print(
        f"assessment #{done.assessment_id} of case {done.case_ref} reviewed: {done.review}, "
        f"level {done.level}"
    )


@assess_app.command("propose")
def assess_propose(case_ref: str) -> None:
    """For each need found, the providers covering the case's destination county."""
    view = run(cmd.ProposeServices(case_ref), credential(), clock=state.clock)
    if not view.services:
        console.print(
            f"case {view.case_ref}: no needs found yet; "
            f"record `homeward assess needs {view.case_ref}`"
        )
        return
    table = Table("need", "provider", "capacity")
    for service in view.services:
        if not service.providers:
            table.add_row(service.need, f"none in {view.county}", "")
        for p in service.providers:
            table.add_row(
                service.need,
                f"{p.org_name} ({p.org})",
                "" if p.capacity is None else str(p.capacity),
            )
    console.print(table)


@providers_app.command("add")
def providers_add(
    service: str = typer.Option(..., "--service", help="a service type, e.g. housing"),
    county: str = typer.Option(..., "--county", help="ISO 3166-2:RO, e.g. RO-CJ (Bucharest RO-B)"),
    capacity: int = typer.Option(None, "--capacity", help="how many more people it can take"),
    org: str = typer.Option(None, "--org", help="another organisation (platform_admin only)"),
    request_id: str = request_id_option(),
) -> None:
    """Declare that your organisation offers a service in a county (again: update it)."""
    line = run(
        directory.AddService(service, county, capacity, org),
        credential(),
        key=request_id,
        clock=state.clock,
    )
    cap = f", capacity {line.capacity}" if line.capacity is not None else ""
    console.print(f"{line.org} offers {line.service} in {line.county}{cap}")


@providers_app.command("remove")
def providers_remove(
    service: str = typer.Option(..., "--service", help="the service type"),
    county: str = typer.Option(..., "--county", help="the county, e.g. RO-CJ"),
    org: str = typer.Option(None, "--org", help="another organisation (platform_admin only)"),
) -> None:
    """Withdraw an offer."""
    gone = run(directory.RemoveService(service, county, org), credential(), clock=state.clock)
    console.print(f"{gone.org} no longer offers {gone.service} in {gone.county}")


@providers_app.command("list")
def providers_list(
    service: str = typer.Option(None, "--service", help="only this service type"),
    county: str = typer.Option(None, "--county", help="only this county"),
) -> None:
    """The directory's offers (every signed-in staff member)."""
    lines = run(directory.ListServices(service, county), credential(), clock=state.clock)
    table = Table("county", "service", "provider", "capacity")
    for line in lines:
        cap = "" if line.capacity is None else str(line.capacity)
        table.add_row(line.county, line.service, f"{line.org_name} ({line.org})", cap)
    console.print(table)


def case_set_county(
    case_ref: str,
    county: str = typer.Argument(..., help="ISO 3166-2:RO, e.g. RO-CJ; `none` clears it"),
    request_id: str = request_id_option(),
) -> None:
    """Set where the person will live (owner's coordinators, supervisors): it chooses the
    service providers proposed."""
    code = None if county.strip().lower() == "none" else county
    done = run(
        directory.SetDestinationCounty(case_ref, code),
        credential(),
        key=request_id,
        clock=state.clock,
    )
    console.print(f"case {done.case_ref}: destination county {done.county or 'cleared'}")


def register(app: typer.Typer) -> None:
    """Add ``assess`` and ``providers`` to the ``homeward`` app."""
    app.add_typer(assess_app, name="assess")
    app.add_typer(providers_app, name="providers")


def register_case(case: typer.Typer) -> None:
    """Add ``homeward case set-county``."""
    case.command("set-county")(case_set_county)

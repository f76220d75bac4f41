"""``homeward plan ...``: a case's reintegration plan and its services (issue 16).

show, draft, add-goal, add-service, submit, approve, reject; service-started,
service-delivered, service-cancelled (by the service's number, as ``plan show`` lists it).
"""

from __future__ import annotations

import typer
from rich.table import Table

from homeward.commands import plan as cmd
from homeward.commands.runner import run
from homeward.edges.cli.common import console, credential, for_terminal, local, state
from homeward.edges.cli.items import parse_day
from tasks.plans import to_minor

plan_app = typer.Typer(help="A case's reintegration plan: versions, goals, services, approval.")


def _changed(view: cmd.PlanChanged, what: str) -> None:
    console.print(f"plan of case {view.case_ref}, version {view.version} ({view.status}): {what}")


@plan_app.command("show")
def plan_show(case_ref: str) -> None:
    """The plan's versions (latest first), goals, services and budget totals."""
    view = run(cmd.ShowPlan(case_ref), credential(), clock=state.clock)
    if not view.versions:
        console.print(f"case {view.case_ref} has no reintegration plan yet")
        return
    if view.review_due:
        console.print("plan review due")
    for version in view.versions:
        console.print(
            f"version {version.version} ({version.status}), drafted {local(version.created_at)}"
            + (f", review due {version.review_due_on}" if version.review_due_on else "")
        )
        if version.summary:
            console.print(for_terminal(f"  summary: {version.summary}"))
        if version.decision_note:
            console.print(for_terminal(f"  decision note: {version.decision_note}"))
        for goal in version.goals:
            shown = goal.text if goal.text is not None else "(not shown to you)"
            console.print(for_terminal(f"  goal [{goal.dimension}] {shown}"))
        if version.services:
            table = Table("#", "type", "provider", "status", "planned", "actual", "budget", "cost")
            for s in version.services:
                planned = f"{s.planned_start_on or ''}..{s.planned_end_on or ''}"
                actual = f"{s.actual_start_on or ''}..{s.actual_end_on or ''}"
                table.add_row(
                    str(s.service_id),
                    s.service_type,
                    s.provider,
                    s.status,
                    planned,
                    actual,
                    s.budget,
                    s.cost,
                )
            console.print(table)
            for s in version.services:
                if s.note:
                    console.print(for_terminal(f"  service #{s.service_id} note: {s.note}"))
        for total in version.totals:
            console.print(f"  total: budget {total.budget}, spent {total.spent}")


@plan_app.command("draft")
def plan_draft(
    case_ref: str,
    summary: str | None = typer.Option(None, help="the plan's summary (stored encrypted)"),
) -> None:
    """Start a new plan version (copies the latest version's goals and services)."""
    view = run(cmd.DraftPlan(case_ref, summary), credential(), clock=state.clock)
    _changed(view, "drafted")


@plan_app.command("add-goal")
def plan_add_goal(
    case_ref: str,
    dimension: str = typer.Option(..., help="economic, social or psychosocial"),
    text: str = typer.Option(..., help="the goal (stored encrypted)"),
) -> None:
    """Add a goal to the draft plan."""
    view = run(cmd.AddGoal(case_ref, dimension, text), credential(), clock=state.clock)
    _changed(view, f"goal #{view.goal_id} added")


@plan_app.command("add-service")
def plan_add_service(
    case_ref: str,
    service_type: str = typer.Option(..., "--type", help="medical, psychological, legal, ..."),
    provider: str = typer.Option(..., help="the provider organisation's slug"),
    start: str = typer.Option(..., help="planned start, YYYY-MM-DD"),
    end: str | None = typer.Option(None, help="planned end, YYYY-MM-DD"),
    budget: str | None = typer.Option(None, help="budget, e.g. 1200.50"),
    currency: str = typer.Option("EUR", help="EUR, RON, USD, GBP or CHF"),
    note: str | None = typer.Option(None, help="a note (stored encrypted)"),
) -> None:
    """Add a planned service to the draft plan."""
    command = cmd.AddService(
        case_ref,
        service_type,
        provider,
        parse_day(start, "--start"),
        parse_day(end, "--end") if end else None,
        to_minor(budget, "--budget") if budget is not None else None,
        currency,
        note,
    )
    view = run(command, credential(), clock=state.clock)
    _changed(view, f"service #{view.service_id} added")


@plan_app.command("submit")
def plan_submit(case_ref: str) -> None:
    """Send the draft to a supervisor of the owner organisation."""
    _changed(run(cmd.SubmitPlan(case_ref), credential(), clock=state.clock), "submitted")


@plan_app.command("approve")
def plan_approve(case_ref: str) -> None:
    """Approve the submitted plan (a supervisor who did not submit it)."""
    view = run(cmd.ApprovePlan(case_ref), credential(), clock=state.clock)
    _changed(view, "approved; its services are now items of their providers")


@plan_app.command("reject")
def plan_reject(
    case_ref: str,
    reason: str = typer.Option(..., help="why (stored encrypted)"),
) -> None:
    """Send the submitted plan back to its drafters."""
    _changed(run(cmd.RejectPlan(case_ref, reason), credential(), clock=state.clock), "rejected")


def _service(view: cmd.ServiceChanged) -> None:
    item = f" (item #{view.item_id})" if view.item_id else ""
    console.print(
        f"service #{view.service_id} ({view.service_type}) of case {view.case_ref}: "
        f"{view.status}{item}"
    )


@plan_app.command("service-started")
def plan_service_started(
    service_id: int,
    on: str | None = typer.Option(None, help="the day it started, YYYY-MM-DD (default today)"),
) -> None:
    """Record that a service of the approved plan started."""
    day = parse_day(on, "--on") if on else None
    _service(run(cmd.ServiceStarted(service_id, day), credential(), clock=state.clock))


@plan_app.command("service-delivered")
def plan_service_delivered(
    service_id: int,
    on: str | None = typer.Option(None, help="the day it ended, YYYY-MM-DD (default today)"),
    cost: str | None = typer.Option(None, help="actual cost, e.g. 980"),
    currency: str | None = typer.Option(None, help="the cost's currency (the budget's)"),
) -> None:
    """Record a service delivered, with its cost; its provider's item is done."""
    command = cmd.ServiceDelivered(
        service_id,
        parse_day(on, "--on") if on else None,
        to_minor(cost, "--cost") if cost is not None else None,
        currency,
    )
    _service(run(command, credential(), clock=state.clock))


@plan_app.command("service-cancelled")
def plan_service_cancelled(
    service_id: int,
    reason: str = typer.Option(..., help="why (stored encrypted)"),
) -> None:
    """Record a service cancelled; its provider's item is cancelled."""
    _service(run(cmd.ServiceCancelled(service_id, reason), credential(), clock=state.clock))


def register(app: typer.Typer) -> None:
    """Add ``homeward plan`` to the ``homeward`` app."""
    app.add_typer(plan_app, name="plan")

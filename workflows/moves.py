"""Firing a trigger from a flow, and what follows every transition a flow fires: the run's
name and tags, the ``homeward.case.transitioned`` event, the case's timeline artifact and one
log line (case_ref, trigger, stages)."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger

from homeward.base.clock import local_date
from homeward.commands.case_views import CaseHistory
from homeward.commands.cases import AdvanceCase
from homeward.protection.identity import Credential
from homeward.reporting.caseload import Row
from workflows.artifacts import publish_timeline
from workflows.runtime import CaseView, command, emit_transition, label_run


async def fire_step(
    credential: Credential,
    case_ref: str,
    trigger: str,
    data: dict[str, Any] | None,
    key: str | None = None,
) -> tuple[CaseView, list[Row]]:
    """Fire ``trigger`` as the run's proven principal (``homeward.commands.cases.AdvanceCase``);
    the case after it (with the stage it left) and its timeline rows.

    With ``key`` (``homeward.records.idempotency``) a retry of the same request fires nothing
    again and shows the case as the first attempt left it."""
    moved = await command(AdvanceCase(case_ref, trigger, data or {}), credential, key=key)
    view = CaseView(moved.case_ref, moved.state, moved.org_kind, moved.from_state)
    return view, await timeline_of(credential, view.case_ref)


async def timeline_of(credential: Credential, case_ref: str) -> list[Row]:
    """The stages the case went through (from its history, read as the run's principal), each
    with the day it was entered and by which trigger."""
    lines = await command(CaseHistory(case_ref), credential)
    return [
        {"stage": line.to_state, "entered_on": f"{local_date(line.at)}", "trigger": line.trigger}
        for line in lines
        if line.to_state is not None
    ]


async def after_transition(view: CaseView, trigger: str, stages: list[Row]) -> None:
    """Label the run, emit the event, publish the timeline, log one line."""
    await label_run(view, trigger)
    emit_transition(view, trigger)
    await publish_timeline(view.case_ref, stages)
    get_run_logger().info(
        "case %s: %s, %s -> %s", view.case_ref, trigger, view.from_state, view.state
    )

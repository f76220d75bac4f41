"""Firing a trigger from a flow, and what follows every transition a flow fires: the run's
name and tags, the ``homeward.case.transitioned`` event, the case's timeline artifact and one
log line (case_ref, trigger, stages)."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger
from sqlmodel import Session

from homeward.base.db import system_scope, write_session
from homeward.base.models import Case
from homeward.records.audit import history
from homeward.records.directory import acting
from homeward.records.idempotency import once
from statemachines.cases import fire, get_case
from workflows.artifacts import publish_timeline
from workflows.caseload import Row, timeline_rows
from workflows.runtime import CaseView, emit_transition, label_run, now


def moved(session: Session, case: Case) -> tuple[CaseView, list[Row]]:
    """The case after a transition (with the stage it left) and its timeline rows."""
    with system_scope(session):
        events = history(session, case)
    return CaseView.of(session, case, events[-1].from_state), timeline_rows(events)


def fire_step(
    case_ref: str,
    trigger: str,
    acting_email: str,
    data: dict[str, Any] | None,
    key: str | None = None,
) -> tuple[CaseView, list[Row]]:
    """Fire ``trigger`` in one transaction as the acting staff member (engine code: sync).

    With ``key`` (``homeward.records.idempotency``) a retry of the same request fires nothing again
    and
    shows the case as it is."""
    with write_session() as session:
        actor = acting(session=session, email=acting_email)

        def move() -> dict[str, Any]:
            case = fire(
                session, case_ref=case_ref, trigger=trigger, actor=actor, data=data, now=now()
            )
            return {"case_ref": case.case_ref, "case_id": case.id, "state": case.state}

        args = {"case_ref": case_ref.strip().upper(), "trigger": trigger, "data": data or {}}
        result, _ = once(
            session, key=key, command="advance-case", actor=actor, args=args, now=now(), run=move
        )
        case = get_case(session, case_ref=str(result["case_ref"]), actor=actor)
        return moved(session, case)


async def after_transition(view: CaseView, trigger: str, stages: list[Row]) -> None:
    """Label the run, emit the event, publish the timeline, log one line."""
    await label_run(view, trigger)
    emit_transition(view, trigger)
    await publish_timeline(view.case_ref, stages)
    get_run_logger().info(
        "case %s: %s, %s -> %s", view.case_ref, trigger, view.from_state, view.state
    )

"""Every flow as a deployment, for `homeward up` to serve: `prefect.serve(*build_deployments())`.

What runs when is the table ``DEPLOYMENTS``: a cron line for the scheduled flows, none for those
a coordinator starts from the Prefect UI's form. Schedules run in ``HOMEWARD_TIMEZONE``. No
deployment sets parameters: scheduled runs act as the service ``scheduler``, and a person
starting a run gives it their own run assertion (``homeward assertion --flow NAME``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from prefect import Flow
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from homeward.base.settings import get_settings
from workflows.advance_case import advance_case
from workflows.audit_checkpoint import audit_checkpoint
from workflows.caseload_report import caseload_report
from workflows.handoff_item import handoff_item
from workflows.record_checklist_item import record_checklist_item
from workflows.schedule_follow_ups import schedule_follow_ups
from workflows.start_return import start_return
from workflows.sweep_due_items import sweep_due_items


class Planned(NamedTuple):
    """One deployment: its flow, name, cron line (None: started from the UI) and purpose."""

    flow: Flow[..., Any]
    name: str
    cron: str | None
    description: str


DEPLOYMENTS: tuple[Planned, ...] = (
    Planned(start_return, "start-return", None, "Open a return case (case facts only)"),
    Planned(advance_case, "advance-case", None, "Fire a trigger; closure waits for approval"),
    Planned(record_checklist_item, "record-checklist-item", None, "Item done or skipped"),
    Planned(handoff_item, "handoff-item", None, "Propose, accept or reject an item's handoff"),
    Planned(sweep_due_items, "sweep-due-items", "0 * * * *", "Reminders, escalations, outbox"),
    Planned(schedule_follow_ups, "schedule-follow-ups", "0 6 * * *", "Follow-up visits, invites"),
    Planned(caseload_report, "caseload-report", "30 6 * * *", "Dashboard (manager's run: reports)"),
    Planned(audit_checkpoint, "audit-checkpoint", "15 2 * * *", "Audit head anchored off the DB"),
)


def build_deployments(timezone: str | None = None) -> list[RunnerDeployment]:
    """Every flow as a ``RunnerDeployment``, scheduled as ``DEPLOYMENTS`` says.

    Args:
        timezone: the schedules' IANA timezone (default ``HOMEWARD_TIMEZONE``,
            Europe/Bucharest).

    Returns:
        One deployment per flow, tagged ``homeward`` and ``scheduled`` or ``on-demand``.
    """
    zone = timezone or get_settings().timezone
    return [_deployment(planned, zone) for planned in DEPLOYMENTS]


def _deployment(planned: Planned, zone: str) -> RunnerDeployment:
    schedules = [Cron(planned.cron, timezone=zone)] if planned.cron else None
    deployment = planned.flow.to_deployment(
        name=planned.name,
        tags=["homeward", "scheduled" if planned.cron else "on-demand"],
        schedules=schedules,
        description=planned.description,
        _sync=True,  # type: ignore[call-arg]  # also when called inside an event loop (aserve)
    )
    assert isinstance(deployment, RunnerDeployment)  # noqa: S101 (_sync=True returns one)
    return deployment

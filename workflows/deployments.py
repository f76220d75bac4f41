"""Every flow as a deployment, for `homeward up` to serve: `prefect.serve(*build_deployments())`.

What runs when is the table ``DEPLOYMENTS``: a cron line for the scheduled flows, none for those
a coordinator starts from the Prefect UI's form. Schedules run in ``HOMEWARD_TIMEZONE``. No
deployment sets parameters: scheduled runs act as the service ``scheduler``, and a person
starting a run gives it their own run assertion (``homeward assertion --flow NAME``).

Each form's schema is shaped by ``workflows.forms.shape`` (titles, dropdowns, organisations of
the directory as it is when ``homeward up`` starts), and the server enforces it: a run whose
parameters do not fit is never created.

On several machines, ``homeward deploy`` registers the same deployments, forms included, on a
work pool whose workers run the flows from Homeward installed on their machine
(``on_work_pool``). ``prefect deploy`` cannot: it publishes the flows' bare signatures.
"""

from __future__ import annotations

import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any, NamedTuple

from prefect import Flow
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron
from prefect.utilities.callables import ParameterSchema

from homeward.base.db import read_session
from homeward.base.migrate import ensure_schema
from homeward.base.settings import get_settings
from homeward.records.directory import list_orgs
from workflows.audit_checkpoint import audit_checkpoint
from workflows.caseload_report import caseload_report
from workflows.forms import Directory, shape
from workflows.handoff_item import handoff_item
from workflows.record_checklist_item import record_checklist_item
from workflows.schedule_follow_ups import schedule_follow_ups
from workflows.stage_forms import (
    arrange_travel,
    confirm_arrival,
    move_stage,
    record_consent,
    record_departure,
)
from workflows.start_return import start_return
from workflows.status_forms import (
    change_status,
    close_case,
    reopen_case,
    suspend_case,
    wait_for_closure_approval,
    withdraw_consent,
)
from workflows.sweep_due_items import sweep_due_items


class Planned(NamedTuple):
    """One deployment: its flow, name, cron line (None: started from the UI) and purpose."""

    flow: Flow[..., Any]
    name: str
    cron: str | None
    description: str


DEPLOYMENTS: tuple[Planned, ...] = (
    Planned(start_return, "start-return", None, "Open a return case (case facts only)"),
    Planned(record_consent, "record-consent", None, "Consent recorded: consent_obtained"),
    Planned(move_stage, "move-stage", None, "Assessments done, reintegration or assistance"),
    Planned(arrange_travel, "arrange-travel", None, "Travel document and dates (or new ones)"),
    Planned(record_departure, "record-departure", None, "The person departed: in_transit"),
    Planned(confirm_arrival, "confirm-arrival", None, "The person arrived: received"),
    Planned(suspend_case, "suspend-case", None, "Suspend a case (a reason from the list)"),
    Planned(change_status, "change-status", None, "Resume, contact lost, contact regained"),
    Planned(withdraw_consent, "withdraw-consent", None, "Consent withdrawn: work stops"),
    Planned(close_case, "close-case", None, "Ask to close; a supervisor approves in the run"),
    Planned(reopen_case, "reopen-case", None, "Reopen a closed case"),
    Planned(wait_for_closure_approval, "wait-for-closure", None, "Started by homeward up only"),
    Planned(record_checklist_item, "record-checklist-item", None, "Item done or skipped"),
    Planned(handoff_item, "handoff-item", None, "Propose, accept or reject an item's handoff"),
    Planned(sweep_due_items, "sweep-due-items", "0 * * * *", "Reminders, escalations, outbox"),
    Planned(schedule_follow_ups, "schedule-follow-ups", "0 6 * * *", "Follow-up visits, invites"),
    Planned(caseload_report, "caseload-report", "30 6 * * *", "Dashboard (manager's run: reports)"),
    Planned(audit_checkpoint, "audit-checkpoint", "15 2 * * *", "Audit head anchored off the DB"),
)


def build_deployments(
    timezone: str | None = None,
    directory: Directory | None = None,
    names: Collection[str] | None = None,
) -> list[RunnerDeployment]:
    """Every flow as a ``RunnerDeployment``, scheduled as ``DEPLOYMENTS`` says.

    Args:
        timezone: the schedules' IANA timezone (default ``HOMEWARD_TIMEZONE``,
            Europe/Bucharest).
        directory: the organisations the forms offer, by kind (default: read from the
            database now; none if it cannot be read, and slugs are checked by the engine).
        names: only these deployments (default: every one).

    Returns:
        One deployment per flow, tagged ``homeward`` and ``scheduled`` or ``on-demand``.
    """
    zone = timezone or get_settings().timezone
    orgs = directory if directory is not None else read_directory()
    wanted = [p for p in DEPLOYMENTS if names is None or p.name in names]
    return [_deployment(planned, zone, orgs) for planned in wanted]


def read_directory() -> Directory | None:
    """The organisations by kind, as the forms' dropdowns list them (slug, name, country).

    Names, kinds and countries are stored in clear: no keyring is needed, and the register
    login of ``homeward db roles`` (the organisation table alone) may read them."""
    found: dict[str, list[tuple[str, str, str]]] = {}
    try:
        ensure_schema()  # a database at another schema: slugs by their shape, as with none
        with read_session() as session:
            for org in list_orgs(session=session):
                found.setdefault(str(org.kind), []).append((org.slug, org.name, org.country))
    except Exception:  # noqa: BLE001 (no database yet: the forms check slugs by shape)
        return None
    return found


def _deployment(planned: Planned, zone: str, directory: Directory | None) -> RunnerDeployment:
    schedules = [Cron(planned.cron, timezone=zone)] if planned.cron else None
    deployment = planned.flow.to_deployment(
        name=planned.name,
        tags=["homeward", "scheduled" if planned.cron else "on-demand"],
        schedules=schedules,
        description=planned.description,
        _sync=True,  # type: ignore[call-arg]  # also when called inside an event loop (aserve)
    )
    assert isinstance(deployment, RunnerDeployment)  # noqa: S101 (_sync=True returns one)
    form = shape(deployment._parameter_openapi_schema.model_dump(), directory)
    deployment._parameter_openapi_schema = ParameterSchema(**form)
    deployment.enforce_parameter_schema = True  # a run that does not fit is never created
    return deployment


ROOT = Path(__file__).resolve().parents[1]  # the installation's root: workflows/ is in it
WORK_POOL, WORK_QUEUE, INSTALLED_AT = "homeward", "default", "/opt/homeward"


class InstalledCode:
    """Where a worker finds the flows: Homeward installed at ``directory`` on its own machine
    (the image's copy), where each run starts (Prefect's ``set_working_directory`` pull step);
    nothing is uploaded or pulled."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def set_base_path(self, path: Path) -> None:  # the code is not copied anywhere
        pass

    @property
    def pull_interval(self) -> int | None:
        return None

    @property
    def destination(self) -> Path:
        return Path(self.directory)

    async def pull_code(self) -> None:
        pass

    def to_pull_step(self) -> list[dict[str, Any]]:
        step = {"directory": self.directory}
        return [{"prefect.deployments.steps.set_working_directory": step}]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InstalledCode) and other.directory == self.directory

    __hash__ = None  # type: ignore[assignment]  # compared, never hashed


def entrypoint_of(flow: Flow[..., Any]) -> str:
    """``workflows/<module>.py:<function>``, relative to the installation's root."""
    module = sys.modules[flow.fn.__module__]
    path = Path(str(module.__file__)).resolve().relative_to(ROOT)
    return f"{path.as_posix()}:{flow.fn.__name__}"


def on_work_pool(
    deployments: list[RunnerDeployment],
    pool: str = WORK_POOL,
    directory: str = INSTALLED_AT,
) -> list[RunnerDeployment]:
    """``deployments`` (from ``build_deployments``: forms, schedules and all) for the workers of
    work pool ``pool``, which run each flow from Homeward installed at ``directory``."""
    flows = {planned.name: planned.flow for planned in DEPLOYMENTS}
    for deployment in deployments:
        deployment.entrypoint = entrypoint_of(flows[deployment.name])
        deployment.work_pool_name = pool
        deployment.work_queue_name = WORK_QUEUE
        deployment.storage = InstalledCode(directory)
    return deployments

"""Is Homeward working? The scheduled flows ran on time and their last runs did not fail (asked
of Prefect's API), and mail flows (the outbox). ``health_facts`` gathers the facts (``homeward
health`` prints them, the overview artifact may show them); ``check_and_alert`` also emails
the managers through the outbox (``notifications.health``: once a day per problem, once when it
clears) and sends those emails at once, without waiting for the sweep.

Why our own check, run by ``homeward up`` (``watch_health``) or ``homeward health --watch``,
and not a Prefect automation: the failure managers were never told of is Prefect's scheduler
itself creating no runs, and a Prefect automation's only way to reach our outbox is to run a
deployment of ours, which needs that same server to create the run and a worker to pick it up.
Our watch needs neither: it reads the API and the database every few minutes on its own timer.
A schedule's tick counts only from when the schedule was registered (``homeward up`` registers
them at each start), so ticks missed while Homeward was stopped are not alarms.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from cronsim import CronSim
from prefect import get_client
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import DeploymentSchedule, FlowRun, StateType
from prefect.client.schemas.responses import DeploymentResponse
from prefect.client.schemas.schedules import CronSchedule
from prefect.client.schemas.sorting import FlowRunSort
from sqlalchemy.exc import SQLAlchemyError

from homeward.base.clock import SYSTEM_CLOCK, Clock, utc
from homeward.base.errors import HomewardError
from homeward.base.settings import get_settings
from homeward.commands.health import AlertManagers, PendingAlerts, ReadMailFlow
from homeward.commands.runner import run
from notifications.health import Kind, MailFlow, Problem
from notifications.sender import drain
from workflows.runtime import SCHEDULER, in_engine
from workflows.sweep_due_items import smtp_configured

EARLY = timedelta(minutes=5)  # a runner may start a run a little before it is due
FINISHED = [StateType.COMPLETED, StateType.FAILED, StateType.CRASHED]
FAILING = frozenset({StateType.FAILED, StateType.CRASHED})


def scheduled_names() -> list[str]:
    """The deployments on a cron schedule (``workflows.deployments.DEPLOYMENTS``)."""
    from workflows.deployments import DEPLOYMENTS  # here: it imports every flow, artifacts too

    return sorted(planned.name for planned in DEPLOYMENTS if planned.cron)


@dataclass(frozen=True)
class FlowHealth:
    """One scheduled deployment: its latest tick due (None: none since it was registered),
    whether a run started since, and its latest started and finished runs."""

    name: str
    due_at: datetime | None
    ran_since_due: bool
    last_started: datetime | None
    last_finished: datetime | None
    last_state: str | None  # "Completed", "Failed"...
    failed: bool

    def problems(self) -> list[Problem]:
        """Late (did not run on time) and failed (its last run failed), as they apply."""
        found = []
        if self.due_at is not None and not self.ran_since_due:
            found.append(Problem("late", self.name, self.due_at))
        if self.failed and self.last_finished is not None:
            found.append(Problem("failed", self.name, self.last_finished))
        return found


@dataclass(frozen=True)
class HealthFacts:
    """What ``homeward health`` says: ``prefect`` whether its API answered (if not, the flows
    are unknown), each scheduled flow, and the outbox."""

    at: datetime
    prefect: bool
    flows: tuple[FlowHealth, ...]
    mail: MailFlow

    @property
    def problems(self) -> tuple[Problem, ...]:
        mail = self.mail.problem()
        return (*(p for f in self.flows for p in f.problems()), *([mail] if mail else []))

    @property
    def checked(self) -> frozenset[Kind]:
        """The kinds of problem this check could see (a silent Prefect hides two)."""
        return frozenset({"mail_stuck", "late", "failed"} if self.prefect else {"mail_stuck"})

    def last_run(self, name: str) -> datetime | None:
        """When the flow ``name`` last started (e.g. the sweep), if known."""
        return next((f.last_started for f in self.flows if f.name == name), None)

    def summary(self) -> str:
        """One line: what is wrong, or that all is well (flow names, times and counts only)."""
        said = [_said(p) for p in self.problems]
        if not self.prefect:
            said.append("Prefect's API does not answer: the schedules cannot be checked")
        mail = f"{self.mail.waiting} emails waiting"
        if said:
            return f"health: {len(said)} to look at: " + "; ".join(said) + f" ({mail})"
        sweep = self.last_run("sweep-due-items")
        last = f", sweep last ran {_local(sweep)}" if sweep else ""
        return f"health: all well: {len(self.flows)} scheduled flows on time{last}; {mail}"


def _local(moment: datetime) -> str:
    return f"{moment.astimezone(get_settings().tz):%Y-%m-%d %H:%M}"


def _said(problem: Problem) -> str:
    if problem.kind == "late":
        return f"{problem.flow_name} did not run on time (due {_local(problem.since)})"
    if problem.kind == "failed":
        return f"{problem.flow_name} failed (its last run, ended {_local(problem.since)})"
    emails = f"{problem.count} email{'' if problem.count == 1 else 's'}"
    return f"mail stuck: {emails} waiting since {_local(problem.since)}, none sent"


def due_tick(
    schedule: DeploymentSchedule, *, now: datetime, late_after: timedelta
) -> datetime | None:
    """The latest tick of an active cron schedule at least ``late_after`` ago and after the
    schedule was registered; None if there is none (or it is not an active cron)."""
    cron = schedule.schedule
    if not schedule.active or not isinstance(cron, CronSchedule) or schedule.created is None:
        return None
    zone = ZoneInfo(cron.timezone or "UTC")
    tick = next(iter(CronSim(cron.cron, (now - late_after).astimezone(zone), reverse=True)))
    return utc(tick) if tick >= schedule.created else None


async def read_flows(
    client: PrefectClient, names: Sequence[str], *, now: datetime, late_after: timedelta
) -> list[FlowHealth]:
    """Each deployment called one of ``names`` (of the flow of the same name), as it stands."""
    deployments = await client.read_deployments(
        flow_filter=FlowFilter(name=FlowFilterName(any_=list(names))),
        deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=list(names))),
    )
    ours = sorted(deployments, key=lambda d: d.name)
    return [await _flow_health(client, d, now, late_after) for d in ours]


async def _flow_health(
    client: PrefectClient, deployment: DeploymentResponse, now: datetime, late_after: timedelta
) -> FlowHealth:
    ticks = [due_tick(s, now=now, late_after=late_after) for s in deployment.schedules or []]
    due = None if deployment.paused else max((t for t in ticks if t), default=None)
    ran = due is None or bool(await _runs(client, deployment.id, started_after=due - EARLY))
    started = await _runs(client, deployment.id, started=True)
    finished = await _runs(client, deployment.id, finished=True)
    last = finished[0] if finished else None
    return FlowHealth(
        name=deployment.name,
        due_at=due,
        ran_since_due=ran,
        last_started=started[0].start_time if started else None,
        last_finished=last.end_time if last else None,
        last_state=last.state_name if last else None,
        failed=last is not None and last.state_type in FAILING,
    )


async def _runs(
    client: PrefectClient,
    deployment_id: Any,
    *,
    started_after: datetime | None = None,
    started: bool = False,
    finished: bool = False,
) -> list[FlowRun]:
    """The latest run of the deployment that started (after a moment), or that finished."""
    runs = FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]))
    if started or started_after is not None:
        runs.start_time = FlowRunFilterStartTime(after_=started_after, is_null_=False)
    sort = FlowRunSort.START_TIME_DESC
    if finished:
        runs.state = FlowRunFilterState(type=FlowRunFilterStateType(any_=FINISHED))
        sort = FlowRunSort.END_TIME_DESC
    return await client.read_flow_runs(flow_run_filter=runs, sort=sort, limit=1)


async def health_facts(
    clock: Clock = SYSTEM_CLOCK, names: Sequence[str] | None = None
) -> HealthFacts:
    """The facts now: Prefect's API (``PREFECT_API_URL``) about the scheduled flows (``names``,
    default every cron deployment), the database about the outbox. Counts and names only."""
    now, settings = clock.now(), get_settings()
    late_after = timedelta(minutes=settings.health_late_minutes)
    mail = await in_engine(lambda: run(ReadMailFlow(), SCHEDULER, clock=clock))
    try:
        async with get_client() as client:
            flows = await read_flows(
                client, names or scheduled_names(), now=now, late_after=late_after
            )
    except httpx.HTTPError:  # not up, restarting, or refusing us: the flows are unknown
        return HealthFacts(now, False, (), mail)
    return HealthFacts(now, True, tuple(flows), mail)


@dataclass(frozen=True)
class Checked:
    """One check: its facts, the health emails it queued and how many were sent at once."""

    facts: HealthFacts
    queued: tuple[str, ...] = ()
    sent: int = 0


async def check_and_alert(
    clock: Clock = SYSTEM_CLOCK, names: Sequence[str] | None = None
) -> Checked:
    """Gather the facts, queue the managers' alerts and "recovered" notices that are due, and
    send them now when SMTP is configured. Idempotent: a second check the same day queues
    nothing new. Writes (and audits) only when there is something to queue."""
    facts = await health_facts(clock, names)
    problems, checked = facts.problems, facts.checked
    pending = await in_engine(lambda: run(PendingAlerts(problems, checked), SCHEDULER, clock=clock))
    if not pending:
        return Checked(facts)
    queued = await in_engine(lambda: run(AlertManagers(problems, checked), SCHEDULER, clock=clock))
    sent = (await drain(keys=queued, clock=clock)).sent if queued and smtp_configured() else 0
    return Checked(facts, queued, sent)


@dataclass
class HealthWatch:
    """Check every ``every`` seconds until cancelled; ``say`` a line when the summary changes
    or an alert was queued."""

    say: Callable[[str], None]
    every: float
    clock: Clock = SYSTEM_CLOCK
    last: str | None = field(default=None, init=False)

    async def run(self) -> None:
        while True:
            await self.once()
            await asyncio.sleep(self.every)

    async def once(self) -> Checked | None:
        """One check; what it found, or None if it could not be done."""
        try:
            checked = await check_and_alert(self.clock)
        except HomewardError as exc:  # its one-line message carries no personal data
            self._tell(f"health: the check failed: {exc}")
            return None
        except SQLAlchemyError as exc:  # a busy or restarting database: try again next time
            self._tell(f"health: the check failed: the database answered {type(exc).__name__}")
            return None
        told = ""
        if checked.queued:
            told = f" (managers emailed: {len(checked.queued)} queued, {checked.sent} sent)"
        self._tell(checked.facts.summary(), told)
        return checked

    def _tell(self, summary: str, told: str = "") -> None:
        """Say ``summary`` when it changed, or whenever managers were just emailed."""
        if told or summary != self.last:
            self.say(summary + told)
        self.last = summary

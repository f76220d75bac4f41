"""What every flow shares: engine calls off the event loop, run names and tags, case events.

The engine is synchronous (SQLAlchemy sessions), so a flow runs each engine step in a worker
thread, one transaction per step. An engine error keeps only its one-line message (no chained
exception, no engine frames), which never carries personal data; a refusal ends the run in a
state named ``Refused`` with that line (``workflows.refusals``), any other error fails it.
Run names, tags, events and logs carry the case_ref, stages, triggers and counts: nothing else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from prefect import get_client
from prefect.context import FlowRunContext
from prefect.events import emit_event
from prefect.runtime import flow_run
from sqlmodel import Session

import notifications  # noqa: F401  (subscribes the notices: flows queue them as the CLI does)
from homeward.base.caseref import looks_like_ref
from homeward.base.clock import SYSTEM_CLOCK
from homeward.base.errors import HomewardError, NotSignedIn
from homeward.base.faults import crash_point
from homeward.base.models import Case, Organisation
from homeward.base.settings import get_settings
from homeward.commands.runner import Command, run
from homeward.commands.signin import ProveRun
from homeward.crypt.keys import load_keyring
from homeward.protection.identity import Credential, Principal, RunAssertion, Service
from workflows.timing import timed

T = TypeVar("T")
V = TypeVar("V")
TRANSITIONED = "homeward.case.transitioned"
_CASE_TAGS = ("stage:", "org-kind:")


@contextmanager
def engine_errors() -> Iterator[None]:
    """Re-raise an engine error as the same type with only its message (nothing chained)."""
    try:
        yield
    except HomewardError as exc:
        raise type(exc)(str(exc)) from None


async def in_engine(step: Callable[[], T]) -> T:
    """Run one engine step in a worker thread (the keyring must be there, as for the CLI)."""

    def guarded() -> T:
        load_keyring()
        return step()

    with engine_errors():
        return await asyncio.to_thread(guarded)


EARLY_START_LIMIT = timedelta(minutes=5)


def now() -> datetime:
    """The moment flows act at: the wall clock, aware UTC; but a run that starts before the
    moment it was scheduled for acts at that moment. Prefect's server rounds the wait before a
    scheduled run to whole seconds, so a run may start half a second early, and a worker's
    clock may be behind the server's: the midnight sweep must act on the new day, not on the
    day before. A schedule more than ``EARLY_START_LIMIT`` ahead is not an early start (a
    clock that is wrong by that much is for NTP to fix), and the wall clock rules."""
    wall = SYSTEM_CLOCK.now()
    context = FlowRunContext.get()
    planned = context.flow_run.expected_start_time if context and context.flow_run else None
    if planned is None:
        return wall
    moment = datetime.fromtimestamp(planned.timestamp(), UTC)  # Prefect's own datetime type
    return moment if wall < moment <= wall + EARLY_START_LIMIT else wall


class RunClock:
    """The clock of the commands a flow runs: ``now`` above."""

    def now(self) -> datetime:
        return now()


RUN_CLOCK = RunClock()


SCHEDULER = Service("scheduler")  # what scheduled flows act as, recorded as such


def run_credential(assertion: str, flow: str) -> RunAssertion:
    """The credential of this run: the signed assertion it was started with, for ``flow``.

    Refused (one line, nothing changed) outside a Prefect run or without an assertion."""
    run_id = flow_run.get_id()
    if run_id is None:
        raise NotSignedIn("assertion: only a Prefect run can present one")
    if not (assertion or "").strip():
        raise NotSignedIn(
            f"assertion: start this run with one from `homeward assertion --flow {flow}`"
        )
    return RunAssertion(assertion.strip(), flow, str(run_id))


async def command(cmd: Command[V], credential: Credential, key: str | None = None) -> V:
    """Run one command of ``homeward.commands`` (a worker thread, one transaction)."""
    with timed(f"command {type(cmd).__name__}"):
        done = await in_engine(lambda: run(cmd, credential, key=key, clock=RUN_CLOCK))
    if key is not None:
        crash_point("flow-after-keyed-command")
    return done


async def prove_run(credential: Credential) -> Principal:
    """Check the run's credential before anything changes (binding an assertion to this run)."""
    return await command(ProveRun(), credential)


@dataclass(frozen=True)
class CaseView:
    """What a flow may say about a case: its reference, stage and owner's kind. No names."""

    case_ref: str
    state: str
    org_kind: str
    from_state: str | None = None

    @classmethod
    def of(cls, session: Session, case: Case, from_state: str | None = None) -> CaseView:
        """Read the view inside the engine's session (the row must not cross threads)."""
        owner = session.get(Organisation, case.owner_org_id)
        kind = str(owner.kind) if owner else "unknown"
        return cls(case.case_ref, case.phase, kind, from_state)

    def summary(self, **extra: Any) -> dict[str, Any]:
        """The flow's return value: non-personal facts only."""
        facts = {k: v for k, v in asdict(self).items() if v is not None}
        return {**facts, **extra}


def case_run_name(action: str) -> Callable[[], str]:
    """A ``flow_run_name`` callable: ``case-RT-7KQ2-M9/<action>`` from the case_ref parameter."""

    def name() -> str:
        ref = str(flow_run.get_parameters().get("case_ref") or "")
        return f"case-{ref.strip().upper() if looks_like_ref(ref) else 'invalid'}/{action}"

    return name


def item_run_name(action: str) -> Callable[[], str]:
    """A ``flow_run_name`` callable for item flows: ``item-12/<action>`` until the case is known."""

    def name() -> str:
        item = flow_run.get_parameters().get("item_id")
        shown = item if isinstance(item, int) and not isinstance(item, bool) else "invalid"
        return f"item-{shown}/{action}"  # the name is made before the run checks its form

    return name


def dated_run_name(flow_name: str) -> Callable[[], str]:
    """A ``flow_run_name`` callable for sweeps: ``<flow>/<local date>``."""

    def name() -> str:
        return f"{flow_name}/{now().astimezone(get_settings().tz):%Y-%m-%d}"

    return name


async def label_run(view: CaseView, action: str) -> None:
    """Name the current run after the case and tag it by stage and owner organisation kind."""
    run_id = flow_run.get_id()
    if run_id is None:
        return
    kept = [t for t in flow_run.get_tags() if not t.startswith(_CASE_TAGS)]  # deployment's
    tags = sorted({"homeward", *kept, f"stage:{view.state}", f"org-kind:{view.org_kind}"})
    with timed("label-run"):
        async with get_client() as client:
            name = f"case-{view.case_ref}/{action}"
            await client.update_flow_run(UUID(run_id), name=name, tags=tags)


def emit_transition(view: CaseView, trigger: str) -> None:
    """Tell Prefect automations that a case moved: case_ref, from and to stage, trigger."""
    with timed("emit-transition"):
        _emit(view, trigger)


def _emit(view: CaseView, trigger: str) -> None:
    emit_event(
        event=TRANSITIONED,
        resource={
            "prefect.resource.id": f"homeward.case.{view.case_ref}",
            "prefect.resource.name": view.case_ref,
            # Labels, so an automation can match one stage (e.g. every lost_contact).
            "homeward.stage": view.state,
            "homeward.from-stage": view.from_state or "none",
            "homeward.trigger": trigger,
        },
        payload={"from_state": view.from_state, "to_state": view.state, "trigger": trigger},
    )

"""What a Prefect run waiting for a closure request needs besides the decision itself: how the
request stands, its expiry when nobody answers, and, for ``homeward up``, the pending requests
whose run is gone and their renewal to a new run.

Each runs for the waiting run's principal: the requester its assertion proves, or, for a run
``homeward up`` started, the scheduler (``Service("scheduler")``), which acts for the system
(row security's system scope) and never for a person. Only the scheduler lists or renews
requests across organisations.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlmodel import select

from homeward.base.db import system_scope
from homeward.base.errors import Refused
from homeward.base.models import Case
from homeward.commands.case_views import OneCase
from homeward.commands.closures import ClosureView, settled, view_of
from homeward.commands.runner import Command, Context
from homeward.protection.access import case_not_found
from statemachines.approvals import expire_closure_request
from statemachines.cases import allowed_triggers, get_case
from statemachines.closure_requests import all_pending, pending_request, renew_request


@contextmanager
def _for_principal(ctx: Context) -> Iterator[None]:
    """A person acts for their organisation (the runner set it); a service for the system."""
    if ctx.actor is not None:
        yield
        return
    with system_scope(ctx.session):
        yield


def _case(ctx: Context, ref: str) -> Case:
    """The case as the principal sees it (a service: any case, inside ``_for_principal``)."""
    if ctx.actor is not None:
        return get_case(ctx.session, case_ref=ref, actor=ctx.actor)
    case = ctx.session.exec(select(Case).where(Case.case_ref == ref)).first()
    if case is None:
        raise case_not_found(ref)
    return case


@dataclass(frozen=True)
class RenewedClosure(OneCase, Command[ClosureView]):
    """For a run ``homeward up`` started for request ``request``: the request, if it is still
    pending, renewed to that very run, on a case that may still close. Anything else is
    refused: only such a run acts for the scheduler while waiting."""

    ref: str
    request: int
    flow_run_id: str
    name = "case closure renewed"
    writes = False

    def execute(self, ctx: Context) -> ClosureView:
        ctx.ensure_service("waiting again for a renewed closure request")
        with _for_principal(ctx):
            case = _case(ctx, self.ref)
            found = pending_request(ctx.session, case)
            if found is None or found.event_id != self.request:
                raise Refused(
                    f"closure_request: request {self.request} of case {case.case_ref} waits for "
                    "no decision; see `homeward case history`"
                )
            if found.flow_run_id != self.flow_run_id or "close" not in allowed_triggers(case):
                raise Refused(
                    f"closure_request: only a run `homeward up` started for it waits for request "
                    f"{self.request}; to ask again, start close-case with an assertion"
                )
            return view_of(ctx.session, case, "pending", found)


@dataclass(frozen=True)
class ClosureOutcome(OneCase, Command[ClosureView]):
    """Request ``request`` as the run waiting for it sees it: ``pending`` while the case may
    still close, else how it ended (decided elsewhere meanwhile). Refused once the case has
    left the stages it may close from. For the requester's run or the scheduler's."""

    ref: str
    request: int
    name = "case closure outcome"
    writes = False

    def execute(self, ctx: Context) -> ClosureView:
        with _for_principal(ctx):
            case = _case(ctx, self.ref)
            if ended := settled(ctx.session, case, self.request):
                return view_of(ctx.session, case, ended)
            if "close" not in allowed_triggers(case):
                allowed = ", ".join(allowed_triggers(case)) or "none"
                raise Refused(
                    f"cannot close case {case.case_ref} in stage {case.phase}; allowed here: "
                    f"{allowed}"
                )
            return view_of(ctx.session, case, "pending", pending_request(ctx.session, case))


@dataclass(frozen=True)
class ExpireClosure(OneCase, Command[ClosureView]):
    """Nobody decided request ``request`` within ``waited_seconds``: record that (the case
    stays). Run by the waiting run's principal: the requester, or the scheduler."""

    ref: str
    request: int
    waited_seconds: int
    name = "case expire-closure"
    view = ClosureView

    def execute(self, ctx: Context) -> ClosureView:
        with _for_principal(ctx):
            case = _case(ctx, self.ref)
            if ended := settled(ctx.session, case, self.request):
                return view_of(ctx.session, case, ended)
            asked = pending_request(ctx.session, case)
            if ctx.actor is not None and (asked is None or asked.requested_by_id != ctx.actor.id):
                raise Refused(
                    f"closure_request: only its requester's waiting run, or the scheduler, "
                    f"records that request {self.request} of case {case.case_ref} expired"
                )
            expire_closure_request(
                ctx.session,
                case=case,
                actor=ctx.actor,
                waited_seconds=self.waited_seconds,
                now=ctx.now,
            )
            return view_of(ctx.session, case, "expired")


@dataclass(frozen=True)
class WaitingRequest:
    """A pending request on a case that may still close, and the run waiting for it."""

    case_ref: str
    request_id: int
    reason: str | None
    flow_run_id: str | None


@dataclass(frozen=True)
class PendingClosures(Command[list[WaitingRequest]]):
    """Every pending closure request, across organisations (the scheduler, for ``homeward up``)."""

    name = "closures pending"
    writes = False

    def execute(self, ctx: Context) -> list[WaitingRequest]:
        ctx.ensure_service("listing every pending closure request")
        with system_scope(ctx.session):
            return [
                WaitingRequest(case.case_ref, found.event_id, found.reason, found.flow_run_id)
                for case, found in all_pending(ctx.session)
                if "close" in allowed_triggers(case)  # else nothing is left to wait for
            ]


@dataclass(frozen=True)
class RenewClosure(OneCase, Command[ClosureView]):
    """Request ``request`` now waits in Prefect run ``flow_run_id`` (recorded in the case's
    history as ``closure_request_renewed``, by the scheduler)."""

    ref: str
    request: int
    flow_run_id: str
    name = "closure renew"

    def execute(self, ctx: Context) -> ClosureView:
        ctx.ensure_service("renewing a closure request's run")
        with _for_principal(ctx):
            case = _case(ctx, self.ref)
            if settled(ctx.session, case, self.request) is None:
                renew_request(
                    ctx.session, case=case, flow_run_id=self.flow_run_id, now=ctx.now, actor=None
                )
            return view_of(ctx.session, case, "renewed", pending_request(ctx.session, case))

"""Closure requests: a coordinator asks for a closure; a supervisor of the case's owner
organisation who did not ask decides it (``statemachines.approvals`` keeps both rules).

Three edges run these commands. The CLI (``homeward case request-closure``, ``approve-closure``,
``reject-closure``) for the signed-in person. The ``advance-case`` flow: it records the request
for the person its assertion proves, pauses, and runs the decision for the supervisor whose own
assertion (``homeward assertion --flow approve-closure``) the form brings back, bound to that
run. And ``homeward up``, which acts as the scheduler (``Service("scheduler")``) to give a
pending request whose run is gone a new run: the requester was proven when the request was
recorded, so nobody's identity is taken on for the renewal.

A decision names the request it answers (``request``: its event id); one decided meanwhile
elsewhere is left as it is and the view says how it ended.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from sqlmodel import Session, select

from homeward.base.db import system_scope
from homeward.base.errors import NotFound, Refused
from homeward.base.models import Case
from homeward.commands.case_views import OneCase, org_kind
from homeward.commands.runner import Command, Context
from statemachines.approvals import (
    approve_closure,
    closable,
    expire_closure_request,
    reject_closure,
)
from statemachines.cases import allowed_triggers, get_case
from statemachines.closure_requests import (
    ClosureRequest,
    all_pending,
    latest_request,
    pending_request,
    renew_request,
    request_closure,
)
from statemachines.steps import ClosureReason, ClosureRejection

SUPERSEDED = "superseded"  # a newer request replaced the one a decision answers


@dataclass(frozen=True)
class ClosureView:
    """A case and its closure request: ``decision`` is what the command did (``requested``,
    ``pending``, ``approved``, ``rejected``, ``expired``), or, for a request decided elsewhere
    meanwhile, how it ended; ``request_id`` the request's event id; ``waiting_run`` the
    Prefect run waiting for its answer."""

    case_ref: str
    state: str
    org_kind: str
    decision: str
    from_state: str | None = None
    request_id: int | None = None
    waiting_run: str | None = None


def _view(
    session: Session, case: Case, decision: str, request: ClosureRequest | None = None
) -> ClosureView:
    return ClosureView(
        case.case_ref,
        case.state,
        org_kind(session, case),
        decision,
        request_id=request.event_id if request else None,
        waiting_run=request.flow_run_id if request else None,
    )


def _settled(session: Session, case: Case, request: int | None) -> str | None:
    """How request ``request`` ended if it is no longer pending; None while it waits (or when
    no request is named: the decision takes whichever is pending)."""
    if request is None:
        return None
    latest = latest_request(session, case)
    if latest is None or latest.event_id != request:
        return SUPERSEDED
    return None if latest.status == "pending" else latest.status


@contextmanager
def _for_principal(ctx: Context) -> Iterator[None]:
    """A person acts for their organisation (the runner set it); a service for the system."""
    if ctx.actor is not None:
        yield
        return
    with system_scope(ctx.session):
        yield


def _scheduler_only(ctx: Context, what: str) -> None:
    """Refuse a person: ``what`` spans organisations, which only the scheduler may."""
    if ctx.actor is not None:
        raise Refused(f"session: {what} is done by `homeward up` (the scheduler), not by staff")


def _case(ctx: Context, ref: str) -> Case:
    """The case as the principal sees it (a service: any case, inside ``_for_principal``)."""
    if ctx.actor is not None:
        return get_case(ctx.session, case_ref=ref, actor=ctx.actor)
    case = ctx.session.exec(select(Case).where(Case.case_ref == ref)).first()
    if case is None:
        raise NotFound(f"case {ref} not found; see `homeward case list`")
    return case


@dataclass(frozen=True)
class RequestClosure(OneCase, Command[ClosureView]):
    """Ask for a case's closure (``flow_run_id``: the Prefect run that waits for the answer;
    such a run takes over a request already pending, whose own run is gone)."""

    ref: str
    reason: ClosureReason | None = None
    flow_run_id: str | None = None
    name = "case request-closure"

    def execute(self, ctx: Context) -> ClosureView:
        session, now = ctx.session, ctx.now
        case = closable(session, case_ref=self.ref, actor=ctx.staff)
        found = pending_request(session, case)
        if found is not None and self.flow_run_id is not None:
            renew_request(
                session, case=case, flow_run_id=self.flow_run_id, now=now, actor=ctx.staff
            )
        else:
            reason, run_id = self.reason, self.flow_run_id
            request_closure(
                session, case=case, actor=ctx.staff, reason=reason, flow_run_id=run_id, now=now
            )
        return _view(session, case, "requested", pending_request(session, case))


@dataclass(frozen=True)
class ClosureStatus(OneCase, Command[ClosureView]):
    """Whether the case may close for the reader, and its pending request, if any."""

    ref: str
    name = "case closure"
    writes = False

    def execute(self, ctx: Context) -> ClosureView:
        case = closable(ctx.session, case_ref=self.ref, actor=ctx.staff)
        found = pending_request(ctx.session, case)
        return _view(ctx.session, case, "pending" if found else "none", found)


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
                    f"{self.request}; to ask again, start advance-case close with an assertion"
                )
            return _view(ctx.session, case, "pending", found)


@dataclass(frozen=True)
class ApproveClosure(OneCase, Command[ClosureView]):
    """The acting supervisor approves the pending request (``reason``: default the requested
    one): the case closes. ``request``: the request this answers (see the module)."""

    ref: str
    reason: ClosureReason | None = None
    request: int | None = None
    name = "case approve-closure"
    view = ClosureView

    def execute(self, ctx: Context) -> ClosureView:
        case = get_case(ctx.session, case_ref=self.ref, actor=ctx.staff)
        if settled := _settled(ctx.session, case, self.request):
            return _view(ctx.session, case, settled)
        from_state, asked = case.state, pending_request(ctx.session, case)
        closed = approve_closure(
            ctx.session, case_ref=self.ref, actor=ctx.staff, reason=self.reason, now=ctx.now
        )
        return replace(_view(ctx.session, closed, "approved", asked), from_state=from_state)


@dataclass(frozen=True)
class RejectClosure(OneCase, Command[ClosureView]):
    """The acting supervisor does not approve the pending request; the case stays. The
    requester may reject (withdraw) their own."""

    ref: str
    rejection: ClosureRejection
    request: int | None = None
    name = "case reject-closure"
    view = ClosureView

    def execute(self, ctx: Context) -> ClosureView:
        case = get_case(ctx.session, case_ref=self.ref, actor=ctx.staff)
        if settled := _settled(ctx.session, case, self.request):
            return _view(ctx.session, case, settled)
        asked = pending_request(ctx.session, case)
        reject_closure(
            ctx.session, case_ref=self.ref, actor=ctx.staff, rejection=self.rejection, now=ctx.now
        )
        return _view(ctx.session, case, "rejected", asked)


@dataclass(frozen=True)
class ExpireClosure(OneCase, Command[ClosureView]):
    """Nobody decided request ``request`` within ``waited_seconds``: record that (the case
    stays). Run by the waiting run's principal: the requester, or the scheduler."""

    ref: str
    request: int
    waited_seconds: int
    name = "case expire-closure"

    def execute(self, ctx: Context) -> ClosureView:
        with _for_principal(ctx):
            case = _case(ctx, self.ref)
            if settled := _settled(ctx.session, case, self.request):
                return _view(ctx.session, case, settled)
            expire_closure_request(
                ctx.session,
                case=case,
                actor=ctx.actor,
                waited_seconds=self.waited_seconds,
                now=ctx.now,
            )
            return _view(ctx.session, case, "expired")


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
        _scheduler_only(ctx, "listing every pending closure request")
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
        _scheduler_only(ctx, "renewing a closure request's run")
        with _for_principal(ctx):
            case = _case(ctx, self.ref)
            if _settled(ctx.session, case, self.request) is None:
                renew_request(
                    ctx.session, case=case, flow_run_id=self.flow_run_id, now=ctx.now, actor=None
                )
            return _view(ctx.session, case, "renewed", pending_request(ctx.session, case))

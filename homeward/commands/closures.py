"""Closure requests: a coordinator asks for a closure; a supervisor of the case's owner
organisation who did not ask decides it (``statemachines.approvals`` keeps both rules).

Three edges run these commands. The CLI (``homeward case request-closure``, ``approve-closure``,
``reject-closure``) for the signed-in person. The ``advance-case`` flow: it records the request
for the person its assertion proves, pauses, and runs the decision for the supervisor whose own
assertion (``homeward assertion --flow approve-closure``) the form brings back, bound to that
run. And ``homeward up``, which acts as the scheduler (``Service("scheduler")``) to give a
pending request whose run is gone a new run (``homeward.commands.closure_runs``): the requester
was proven when the request was recorded, so nobody's identity is taken on for the renewal.

A decision names the request it answers (``request``: its event id); one decided meanwhile
elsewhere is left as it is and the view says how it ended.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlmodel import Session

from homeward.base.models import Case
from homeward.commands.case_views import OneCase, org_kind
from homeward.commands.runner import Command, Context
from statemachines.approvals import (
    approve_closure,
    closable,
    reject_closure,
)
from statemachines.cases import get_case
from statemachines.closure_requests import (
    ClosureRequest,
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
    meanwhile, how it ended; ``request_id`` the request's event id, ``waiting_run`` the
    Prefect run waiting for its answer and ``reason`` the requested reason code."""

    case_ref: str
    state: str
    org_kind: str
    decision: str
    from_state: str | None = None
    request_id: int | None = None
    waiting_run: str | None = None
    reason: str | None = None


def view_of(
    session: Session, case: Case, decision: str, request: ClosureRequest | None = None
) -> ClosureView:
    """The view of ``case`` after a command, with ``request`` (the one it acted on) if any."""
    return ClosureView(
        case.case_ref,
        case.phase,
        org_kind(session, case),
        decision,
        request_id=request.event_id if request else None,
        waiting_run=request.flow_run_id if request else None,
        reason=request.reason if request else None,
    )


def settled(session: Session, case: Case, request: int | None) -> str | None:
    """How request ``request`` ended if it is no longer pending; None while it waits (or when
    no request is named: the decision takes whichever is pending)."""
    if request is None:
        return None
    latest = latest_request(session, case)
    if latest is None or latest.event_id != request:
        return SUPERSEDED
    return None if latest.status == "pending" else latest.status


@dataclass(frozen=True)
class RequestClosure(OneCase, Command[ClosureView]):
    """Ask for a case's closure (``flow_run_id``: the Prefect run that waits for the answer;
    such a run takes over a request already pending, whose own run is gone)."""

    ref: str
    reason: ClosureReason | None = None
    flow_run_id: str | None = None
    name = "case request-closure"
    view = ClosureView

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
        return view_of(session, case, "requested", pending_request(session, case))


@dataclass(frozen=True)
class ClosureStatus(OneCase, Command[ClosureView]):
    """Whether the case may close for the reader, and its pending request, if any."""

    ref: str
    name = "case closure"
    writes = False

    def execute(self, ctx: Context) -> ClosureView:
        case = closable(ctx.session, case_ref=self.ref, actor=ctx.staff)
        found = pending_request(ctx.session, case)
        return view_of(ctx.session, case, "pending" if found else "none", found)


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
        if ended := settled(ctx.session, case, self.request):
            return view_of(ctx.session, case, ended)
        from_state, asked = case.phase, pending_request(ctx.session, case)
        closed = approve_closure(
            ctx.session, case_ref=self.ref, actor=ctx.staff, reason=self.reason, now=ctx.now
        )
        return replace(view_of(ctx.session, closed, "approved", asked), from_state=from_state)


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
        if ended := settled(ctx.session, case, self.request):
            return view_of(ctx.session, case, ended)
        asked = pending_request(ctx.session, case)
        reject_closure(
            ctx.session, case_ref=self.ref, actor=ctx.staff, rejection=self.rejection, now=ctx.now
        )
        return view_of(ctx.session, case, "rejected", asked)

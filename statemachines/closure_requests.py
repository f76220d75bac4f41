"""A closure request as a durable record: it lives in the case history, not in Prefect.

A coordinator asks for a closure (``closure_requested``: who, the proposed reason code, when,
and the Prefect run waiting for the answer, if any). The request stays *pending* until a
decision ends it: the ``close`` transition (approved), ``closure_rejected`` or
``closure_request_expired``. A paused Prefect run is only one way to answer it; when that run
is gone (``homeward up`` stopped), a new run takes it over (``closure_request_renewed``) or a
supervisor decides from the CLI. The events hold ids and codes only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from homeward.base import models
from homeward.base.errors import Conflict
from homeward.base.models import Case, StaffMember
from homeward.records.audit import record_event

if TYPE_CHECKING:
    from homeward.base.models import CaseEvent

REQUESTED = "closure_requested"
RENEWED = "closure_request_renewed"
# What ends a pending request, and the status it leaves.
OUTCOMES: dict[str, str] = {
    "close": "approved",
    "closure_rejected": "rejected",
    "closure_request_expired": "expired",
}
_TRIGGERS = [REQUESTED, RENEWED, *OUTCOMES]


@dataclass(frozen=True)
class ClosureRequest:
    """One closure request, as the case history tells it."""

    case_id: int
    event_id: int
    requested_by_id: int | None
    reason: str | None
    requested_at: datetime
    flow_run_id: str | None
    status: str = "pending"


def _fold(requests: ClosureRequest | None, event: CaseEvent) -> ClosureRequest | None:
    """The request after ``event``: a new one, its run renewed, or its decision."""
    assert event.id is not None  # noqa: S101 (read from the database)
    if event.trigger == REQUESTED:
        return ClosureRequest(
            case_id=event.case_id,
            event_id=event.id,
            requested_by_id=event.actor_id,
            reason=event.reason,
            requested_at=event.at,
            flow_run_id=event.data.get("flow_run_id"),
        )
    if requests is None or requests.status != "pending":
        return requests  # a direct close (no request) or a late event: nothing to update
    if event.trigger == RENEWED:
        return replace(requests, flow_run_id=event.data.get("flow_run_id"))
    return replace(requests, status=OUTCOMES[event.trigger])


def _events(session: Session, case_id: int | None = None) -> list[CaseEvent]:
    events = models.CaseEvent  # defined here, when first read (not by every command, issue 19)
    query = select(events).where(col(events.trigger).in_(_TRIGGERS))
    if case_id is not None:
        query = query.where(events.case_id == case_id)
    return list(session.exec(query.order_by(col(events.id))))


def latest_request(session: Session, case: Case) -> ClosureRequest | None:
    """The case's latest closure request, whatever its status; None if never asked."""
    found: ClosureRequest | None = None
    for event in _events(session, case.id):
        found = _fold(found, event)
    return found


def pending_request(session: Session, case: Case) -> ClosureRequest | None:
    """The case's closure request still waiting for a decision, if any."""
    found = latest_request(session, case)
    return found if found and found.status == "pending" else None


def requester_id(session: Session, case: Case) -> int | None:
    """Who asked for the pending closure (they may not approve it); None if nothing pending."""
    found = pending_request(session, case)
    return found.requested_by_id if found else None


def request_closure(
    session: Session,
    *,
    case: Case,
    actor: StaffMember,
    reason: str | None,
    flow_run_id: str | None,
    now: datetime,
) -> ClosureRequest:
    """Record a new closure request; refused while another one is pending."""
    if pending_request(session, case) is not None:
        raise Conflict(
            f"a closure of case {case.case_ref} is already requested; a supervisor decides it "
            f"with `homeward case approve-closure {case.case_ref}` or `reject-closure`"
        )
    record_event(
        session,
        case=case,
        trigger=REQUESTED,
        at=now,
        actor=actor,
        reason=reason,
        data={"flow_run_id": flow_run_id},
    )
    found = pending_request(session, case)
    assert found is not None  # noqa: S101 (just recorded)
    return found


def renew_request(
    session: Session, *, case: Case, flow_run_id: str, now: datetime, actor: StaffMember | None
) -> None:
    """Record that a new Prefect run now waits for the pending request's answer."""
    found = pending_request(session, case)
    if found is None or found.flow_run_id == flow_run_id:
        return
    record_event(
        session,
        case=case,
        trigger=RENEWED,
        at=now,
        actor=actor,
        data={"flow_run_id": flow_run_id, "replaces": found.flow_run_id},
    )


def all_pending(session: Session) -> list[tuple[Case, ClosureRequest]]:
    """Every pending closure request, across organisations (for ``homeward up``; call it in
    ``homeward.base.db.system_scope`` where row security applies)."""
    by_case: dict[int, ClosureRequest | None] = {}
    for event in _events(session):
        by_case[event.case_id] = _fold(by_case.get(event.case_id), event)
    pending = [r for r in by_case.values() if r and r.status == "pending"]
    return [(session.get_one(Case, r.case_id), r) for r in pending]

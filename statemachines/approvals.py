"""Supervisor decisions on a closure request (``statemachines.closure_requests``): approval is
the ``close`` trigger itself (its step data names the approver); a refusal is recorded here as
a ``closure_rejected`` event, a request nobody answered as ``closure_request_expired``.

A decision needs someone the permission table lets decide it (``Action.DECIDE_CLOSURE``: the
owner organisation's supervisors), who, to approve, did not ask for the closure; and a case the
``close`` trigger is allowed from, so a decision taken on a stale form is refused instead of
recorded. The decider is the proven person acting (``homeward.commands.closures``), never an
address typed in.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from homeward.base.errors import Refused
from homeward.base.models import Case, StaffMember
from homeward.protection.permissions import Action, ensure
from homeward.records.audit import record_event
from statemachines.cases import allowed_triggers, fire, get_case
from statemachines.closure_requests import ClosureRequest, pending_request, requester_id
from statemachines.steps import ClosureReason, ClosureRejection

SELF_APPROVAL = (
    "the staff member who asked for the closure of case {ref} cannot approve it; "
    "another supervisor of its owner organisation decides"
)


def closable(
    session: Session, *, case_ref: str, actor: StaffMember, action: Action = Action.FIRE_TRIGGER
) -> Case:
    """The case, if the actor may do ``action`` on it (by default: steer it, as a requester
    does) and its stage allows ``close`` (guards aside)."""
    case = get_case(session, case_ref=case_ref, actor=actor)
    ensure(session, actor, action, case)
    if "close" not in allowed_triggers(case):
        allowed = ", ".join(allowed_triggers(case)) or "none"
        raise Refused(
            f"cannot close case {case.case_ref} in stage {case.phase}; allowed here: {allowed}"
        )
    return case


def decider(session: Session, case: Case, actor: StaffMember) -> StaffMember:
    """``actor``, if the permission table lets them decide ``case``'s closure requests (the
    owner organisation's supervisors: ``Action.DECIDE_CLOSURE``)."""
    ensure(session, actor, Action.DECIDE_CLOSURE, case)
    return actor


def approver_for(session: Session, case: Case, approver: StaffMember) -> StaffMember:
    """``approver``, if they may decide ``case``'s closure and did not ask for it themself."""
    decider(session, case, approver)
    if approver.id == requester_id(session, case):
        raise Refused(SELF_APPROVAL.format(ref=case.case_ref))
    return approver


def pending(session: Session, case: Case) -> ClosureRequest:
    """The case's pending closure request; refused when there is none to decide."""
    request = pending_request(session, case)
    if request is None:
        raise Refused(
            f"no closure of case {case.case_ref} is waiting for a decision; "
            "see `homeward case history`"
        )
    return request


def approve_closure(
    session: Session,
    *,
    case_ref: str,
    actor: StaffMember,
    reason: ClosureReason | None,
    now: datetime,
) -> Case:
    """A supervisor (the actor) approves the pending request: the case closes."""
    case = closable(session, case_ref=case_ref, actor=actor, action=Action.DECIDE_CLOSURE)
    request = pending(session, case)
    approver = approver_for(session, case, actor)
    chosen = reason or request.reason
    step = {"reason": chosen, "approved_by": approver.email}
    return fire(session, case_ref=case.case_ref, trigger="close", actor=actor, data=step, now=now)


def reject_closure(
    session: Session,
    *,
    case_ref: str,
    actor: StaffMember,
    rejection: ClosureRejection,
    now: datetime,
) -> Case:
    """A supervisor (the actor) does not approve the pending request; the case stays where it
    is. The requester may reject (withdraw) their own request."""
    case = closable(session, case_ref=case_ref, actor=actor, action=Action.DECIDE_CLOSURE)
    request = pending(session, case)
    approver = decider(session, case, actor)
    record_event(
        session,
        case=case,
        trigger="closure_rejected",
        at=now,
        actor=actor,
        reason=str(rejection),
        data={"approver_id": approver.id, "rejection": str(rejection), "request": request.event_id},
    )
    return case


def expire_closure_request(
    session: Session, *, case: Case, actor: StaffMember | None, waited_seconds: int, now: datetime
) -> Case:
    """Record that nobody decided a pending closure request in time; the case stays.

    The history then shows the unanswered request, so a coordinator knows to ask again. A
    request decided meanwhile (from the CLI) is left as it is. ``actor`` None: the scheduler
    (a run renewed for the request) records it.
    """
    if pending_request(session, case) is None:
        return case
    record_event(
        session,
        case=case,
        trigger="closure_request_expired",
        at=now,
        actor=actor,
        reason=f"no decision within {waited_seconds} s",
        data={"waited_seconds": waited_seconds},
    )
    return case

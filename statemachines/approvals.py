"""Supervisor decisions on a closure request (``statemachines.closure_requests``): approval is
the ``close`` trigger itself (its step data names the approver); a refusal is recorded here as
a ``closure_rejected`` event, a request nobody answered as ``closure_request_expired``.

A decision needs a supervisor of the case's owner organisation who did not ask for the closure,
and a case the ``close`` trigger is allowed from, so a decision taken on a stale form is refused
instead of recorded. Messages name fields, never the email that was typed.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from homeward.base.errors import Refused
from homeward.base.models import Case, StaffMember, StaffRole
from homeward.protection.permissions import Action, ensure
from homeward.records.audit import record_event
from statemachines.cases import allowed_triggers, fire, get_case
from statemachines.closure_requests import ClosureRequest, pending_request
from statemachines.steps import ClosureReason, ClosureRejection

SELF_APPROVAL = (
    "the staff member who asked for the closure of case {ref} cannot approve it; "
    "another supervisor of its owner organisation decides"
)


def closable(session: Session, *, case_ref: str, actor: StaffMember) -> Case:
    """The case, if the actor may steer it and its stage allows ``close`` (guards aside)."""
    case = get_case(session, case_ref=case_ref, actor=actor)
    ensure(session, actor, Action.FIRE_TRIGGER, case)
    if "close" not in allowed_triggers(case):
        allowed = ", ".join(allowed_triggers(case)) or "none"
        raise Refused(
            f"cannot close case {case.case_ref} in stage {case.state}; allowed here: {allowed}"
        )
    return case


def owner_supervisor(session: Session, case: Case, email: str) -> StaffMember:
    """The active staff member with ``email``, if a supervisor of the case's owner organisation."""
    query = select(StaffMember).where(StaffMember.email == email.strip().lower())
    approver = session.exec(query).first()
    if (
        approver is None
        or not approver.active
        or approver.role != StaffRole.SUPERVISOR
        or approver.org_id != case.owner_org_id
    ):
        raise Refused(
            f"closure of case {case.case_ref} must be decided by a supervisor of its owner "
            "organisation; give their email in approver_email"
        )
    return approver


def approver_for(
    session: Session, case: Case, email: str, *, acting: StaffMember | None = None
) -> StaffMember:
    """The supervisor approving ``case``'s closure: not who requested it, nor who acts for it."""
    approver = owner_supervisor(session, case, email)
    request = pending_request(session, case)
    requesters = {request.requested_by_id if request else None, acting.id if acting else None}
    if approver.id in requesters:
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
    case = closable(session, case_ref=case_ref, actor=actor)
    request = pending(session, case)
    approver = approver_for(session, case, actor.email)
    chosen = reason or request.reason
    step = {"reason": chosen, "approved_by": approver.email}
    return fire(session, case_ref=case.case_ref, trigger="close", actor=actor, data=step, now=now)


def reject_closure(
    session: Session,
    *,
    case_ref: str,
    actor: StaffMember,
    approver_email: str,
    rejection: ClosureRejection,
    now: datetime,
) -> Case:
    """Record that a supervisor did not approve closing the case; the case stays where it is."""
    case = closable(session, case_ref=case_ref, actor=actor)
    request = pending(session, case)
    approver = owner_supervisor(session, case, approver_email)
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
    session: Session, *, case_ref: str, actor: StaffMember, waited_seconds: int, now: datetime
) -> Case:
    """Record that nobody decided a pending closure request in time; the case stays.

    The history then shows the unanswered request, so a coordinator knows to ask again. A
    request decided meanwhile (from the CLI) is left as it is.
    """
    case = get_case(session, case_ref=case_ref, actor=actor)
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

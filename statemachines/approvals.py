"""Supervisor decisions on a closure: approval is the ``close`` trigger itself (its step data
names the approver); a refusal is recorded here as a ``closure_rejected`` event.

Both need a supervisor of the case's owner organisation, and a case the ``close`` trigger is
allowed from, so a decision taken on a stale form is refused instead of recorded.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from homeward.audit import record_event
from homeward.directory import get_staff
from homeward.errors import Refused
from homeward.models import Case, StaffMember, StaffRole
from homeward.permissions import Action, ensure
from statemachines.cases import allowed_triggers, get_case
from statemachines.steps import ClosureRejection


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
    """The staff member with ``email``, if a supervisor of the case's owner organisation."""
    approver = get_staff(session=session, email=email)
    if approver.role != StaffRole.SUPERVISOR or approver.org_id != case.owner_org_id:
        raise Refused(
            f"closure of case {case.case_ref} must be decided by a supervisor of its owner "
            "organisation; give their email in approver_email"
        )
    return approver


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
    approver = owner_supervisor(session, case, approver_email)
    record_event(
        session,
        case=case,
        trigger="closure_rejected",
        at=now,
        actor=actor,
        reason=str(rejection),
        data={"approver_id": approver.id, "rejection": str(rejection)},
    )
    return case


def expire_closure_request(
    session: Session, *, case_ref: str, actor: StaffMember, waited_seconds: int, now: datetime
) -> Case:
    """Record that nobody decided a closure request in time; the case stays where it is.

    The history then shows the unanswered request, so a coordinator knows to ask again.
    """
    case = get_case(session, case_ref=case_ref, actor=actor)
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

"""What a case's move does to checklist items it does not create: items of a stage left behind
are cancelled, and follow-up visits move when contact returns. Both write rows and a history
entry in the caller's transaction, and both are idempotent (a second call finds nothing to do).

Leaving a stage needs its blocking items done or skipped, so what is still open there is
non-blocking work whose moment has passed (a medical escort once the person has travelled,
transit assistance once they have arrived): it is cancelled with the reason ``stage_left``
(shown as ``cancelled (stage_left)``), so it stops being reminded and escalated.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from homeward.base.clock import local_date, local_noon
from homeward.base.models import Case, ChecklistItem, ItemStatus, StaffMember
from homeward.base.settings import get_settings
from homeward.records.audit import record_event
from tasks.catalog import ADHOC_PREFIX, SERVICE_PREFIX, RegainedContact, load_catalog
from tasks.checklist import _revoke_pending_handoffs, open_stage_items

STAGE_LEFT = "stage_left"
# Items added outside the catalog's stages: ad-hoc items and a plan's services.
OUTSIDE_STAGES = (ADHOC_PREFIX, SERVICE_PREFIX)
REGAINED_CONTACT = "regained_contact"


def _open_items(case: Case) -> Any:
    return select(ChecklistItem).where(
        ChecklistItem.case_id == case.id, ChecklistItem.status == ItemStatus.OPEN
    )


def cancel_left_behind(
    session: Session,
    *,
    case: Case,
    stage: str,
    actor: StaffMember | None,
    now: datetime,
    left_open: list[ChecklistItem] | None = None,
) -> list[ChecklistItem]:
    """Cancel the open catalog items of ``stage``, which the case has just left for good (an
    appointment or a plan's service is not the stage's work: it stays until done or cancelled).
    ``left_open``: the stage's open items as the move's guard read them in this transaction
    (``checklist.open_stage_items``), not read again; any since closed are passed over.

    The reason (``stage_left``) is kept as the item's outcome; one ``items_cancelled`` event
    lists them in the case history.
    """
    if left_open is None:
        left_open = open_stage_items(session, case, stage)
    items = [
        item
        for item in left_open
        if item.status == ItemStatus.OPEN and not item.code.startswith(OUTSIDE_STAGES)
    ]
    for item in items:
        item.status, item.completed_at, item.outcome = ItemStatus.CANCELLED, now, STAGE_LEFT
        _revoke_pending_handoffs(session, item, actor, now)
    if items:
        record_event(
            session,
            case=case,
            trigger="items_cancelled",
            at=now,
            actor=actor,
            reason=STAGE_LEFT,
            data={"stage": stage, "items": [{"item_id": i.id, "code": i.code} for i in items]},
        )
    return items


def reschedule_after_regained_contact(
    session: Session, *, case: Case, actor: StaffMember | None, now: datetime
) -> list[ChecklistItem]:
    """Move the case's open follow-up visits so the first falls due as the catalog says after
    today (``regained_contact.first_due``) and the others keep their spacing.

    Visits only ever move later: a visit due after that day stays put, and so do the rest. The
    overdue marks are cleared (the moved visit is a new obligation) and one
    ``follow_ups_rescheduled`` event records each move.
    """
    plan = load_catalog(case.process_version).regained_contact
    if plan is None or not plan.reschedule:
        return []
    query = _open_items(case).where(col(ChecklistItem.code).in_(plan.reschedule))
    visits = list(session.exec(query.order_by(col(ChecklistItem.due_at), col(ChecklistItem.id))))
    shift = _shift_days(plan, visits, now)
    if shift <= 0:
        return []
    moves = [_move(item, shift) for item in visits]
    session.flush()
    record_event(
        session,
        case=case,
        trigger="follow_ups_rescheduled",
        at=now,
        actor=actor,
        reason=REGAINED_CONTACT,
        data={"shift_days": shift, "items": moves},
    )
    return visits


def _shift_days(plan: RegainedContact, visits: list[ChecklistItem], now: datetime) -> int:
    """Days the first visit must move to fall due on the plan's day (0: it is not behind)."""
    if not visits:
        return 0
    tz = get_settings().tz
    wanted = plan.first_due.apply(local_noon(local_date(now)))
    return (wanted.date() - visits[0].due_at.astimezone(tz).date()).days


def _move(item: ChecklistItem, days: int) -> dict[str, Any]:
    """Move ``item`` ``days`` later, at the same local time of day (whatever DST does)."""
    local = item.due_at.astimezone(get_settings().tz)
    before = local.date()
    moved = datetime.combine(before + timedelta(days=days), local.timetz())
    item.due_at, item.escalated_at = moved, None
    return {"item_id": item.id, "code": item.code, "from": str(before), "to": str(moved.date())}

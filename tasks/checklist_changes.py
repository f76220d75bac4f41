"""Second thoughts on checklist items: reopening a done or skipped item, moving a due date, and
items dated from a departure that moved.

Each change by a person carries a reason (free text, so stored encrypted in ``item_change``),
moves the case's version, and appends a ``CaseEvent`` (and so an audit entry) naming only the
item, its code and the change's id. Who may: the item's organisation, or the coordinators and
supervisors of the case's owner organisation (``permissions.ensure_item``, as recording it).

Limits (``REOPEN_RULES``): a case that is closed or whose consent was withdrawn has no work to
reopen; a blocking item of a stage the case has left stays as it was, since the case left the
stage on its strength; a cancelled item stays cancelled (its work ended with a consent or the
case). A due date moves to today or later, at most ``MAX_DUE_AHEAD`` ahead.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from homeward.base import models
from homeward.base.clock import local_date, local_noon
from homeward.base.errors import InvalidInput, Refused
from homeward.base.models import (
    ENDED,
    Case,
    ChecklistItem,
    ItemChangeKind,
    ItemStatus,
    StaffMember,
)
from homeward.protection import vault
from homeward.protection.permissions import Action, ensure_item
from homeward.records.audit import record_event
from tasks.catalog import DueAnchor, load_catalog
from tasks.checklist import SKIP_REASON_MIN, anchor_time, lock_case, visible_item

if TYPE_CHECKING:
    from homeward.base.models import ItemChange

MAX_DUE_AHEAD = timedelta(days=366)


def _current_stages(case: Case) -> set[str]:
    """The stage the case is in, and (paused) the status it is in, whose items are current."""
    return {case.state, case.phase}


def _reopen_problem(case: Case, item: ChecklistItem) -> str | None:
    """Why ``item`` cannot be reopened on ``case`` now, or None."""
    if case.status in ENDED:
        return f"case {case.case_ref} is {case.status}; there is no work to reopen"
    if item.status == ItemStatus.OPEN:
        return "it is open already"
    if item.status == ItemStatus.CANCELLED:
        return "cancelled items stay cancelled (their work ended with the case or a consent)"
    if item.blocking and item.stage not in _current_stages(case):
        return (
            f"it is a blocking item of stage {item.stage}, which the case has left on its "
            "strength; only items of the current stage, or non-blocking ones, can be reopened"
        )
    return None


def checked_reason(reason: str, what: str) -> str:
    text = reason.strip()
    if len(text) < SKIP_REASON_MIN:
        raise InvalidInput(f"reason: say why the {what} ({SKIP_REASON_MIN}+ characters)")
    return text


def item_for_change(
    session: Session, item_id: int, actor: StaffMember, expected_version: int | None
) -> tuple[ChecklistItem, Case]:
    item, case = visible_item(session, item_id, actor, for_update=True)
    lock_case(session, case, expected_version, item)
    ensure_item(session, actor, Action.RECORD_OWN_ITEM, case, item)
    return item, case


def record_change(
    session: Session,
    *,
    case: Case,
    item: ChecklistItem,
    kind: str,
    actor: StaffMember,
    reason: str,
    due_before: datetime,
    status_before: str,
    now: datetime,
) -> ItemChange:
    assert case.id is not None and item.id is not None and actor.id is not None  # noqa: S101
    change = models.ItemChange(
        case_id=case.id,
        item_id=item.id,
        kind=kind,
        actor_id=actor.id,
        at=now,
        status_before=status_before,
        due_before=due_before,
        due_after=item.due_at,
    )
    session.add(change)
    session.flush()  # the row's id binds the encrypted reason to it
    assert change.id is not None  # noqa: S101
    change.reason = vault.protect_text(
        session,
        case=case,
        table="item_change",
        column="reason",
        row_id=change.id,
        text=reason,
        now=now,
    )
    session.add(change)
    record_event(
        session,
        case=case,
        trigger=f"item_{kind}",
        at=now,
        actor=actor,
        data={
            "item_id": item.id,
            "code": item.code,
            "change_id": change.id,
            "was": status_before,
            "due_on": local_date(item.due_at),
        },
    )
    return change


def reopen_item(
    session: Session,
    *,
    item_id: int,
    actor: StaffMember,
    reason: str,
    now: datetime,
    expected_version: int | None = None,
) -> ChecklistItem:
    """Open a done or skipped item again (its outcome cleared), with a reason."""
    text = checked_reason(reason, "item is reopened")
    item, case = item_for_change(session, item_id, actor, expected_version)
    problem = _reopen_problem(case, item)
    if problem:
        raise Refused(f"cannot reopen item #{item_id} ({item.code}): {problem}")
    status_before = item.status
    item.status, item.outcome = ItemStatus.OPEN, None
    item.completed_by_id = item.completed_at = item.escalated_at = None
    session.add(item)
    record_change(
        session,
        case=case,
        item=item,
        kind=ItemChangeKind.REOPENED,
        actor=actor,
        reason=text,
        due_before=item.due_at,
        status_before=status_before,
        now=now,
    )
    return item


def _checked_due_day(on: date, now: datetime) -> date:
    today = local_date(now)
    if on < today:
        raise InvalidInput(f"on: {on} is in the past; give today ({today}) or a later day")
    if on > today + MAX_DUE_AHEAD:
        latest = today + MAX_DUE_AHEAD
        raise InvalidInput(f"on: {on} is more than a year ahead; give a day up to {latest}")
    return on


def change_due(
    session: Session,
    *,
    item_id: int,
    actor: StaffMember,
    on: date,
    reason: str,
    now: datetime,
    expected_version: int | None = None,
) -> ChecklistItem:
    """Move an open item's due date to ``on`` (a local day, today or later), with a reason."""
    text = checked_reason(reason, "due date changes")
    day = _checked_due_day(on, now)
    item, case = item_for_change(session, item_id, actor, expected_version)
    if case.status in ENDED or item.status != ItemStatus.OPEN:
        raise Refused(
            f"cannot change the due date of item #{item_id} ({item.code}): it is "
            f"{item.status}; only open items of an open case have a due date to move"
        )
    due_before = item.due_at
    item.due_at, item.escalated_at = local_noon(day), None
    session.add(item)
    record_change(
        session,
        case=case,
        item=item,
        kind=ItemChangeKind.DUE_CHANGED,
        actor=actor,
        reason=text,
        due_before=due_before,
        status_before=item.status,
        now=now,
    )
    return item


def follow_new_departure(
    session: Session, *, case: Case, now: datetime
) -> tuple[list[ChecklistItem], list[ChecklistItem]]:
    """Items of the case's stage dated from the departure, after new travel was arranged.

    Open ones are due again from the new departure; done or skipped ones the catalog marks
    ``renew_on_new_departure`` (a fit-to-travel check, the pre-arrival notice) are owed again,
    as a new open item, since they were done for the old dates. Returns (moved, renewed).
    """
    catalog = load_catalog(case.process_version)
    query = select(ChecklistItem).where(
        ChecklistItem.case_id == case.id, ChecklistItem.stage == case.state
    )
    latest = {item.code: item for item in session.exec(query.order_by(col(ChecklistItem.id)))}
    moved, renewed = [], []
    for code, item in latest.items():
        spec = catalog.spec(code)
        if spec.due.anchor is not DueAnchor.DEPARTURE:
            continue
        due = spec.due.apply(anchor_time(case, DueAnchor.DEPARTURE, now))
        if item.status == ItemStatus.OPEN:
            item.due_at, item.escalated_at = due, None
            moved.append(item)
        elif item.status != ItemStatus.CANCELLED and spec.renew_on_new_departure:
            renewed.append(_renewal(item, due, now))
    session.add_all([*moved, *renewed])
    session.flush()
    return moved, renewed


def _renewal(item: ChecklistItem, due: datetime, now: datetime) -> ChecklistItem:
    return ChecklistItem(
        case_id=item.case_id,
        stage=item.stage,
        code=item.code,
        title_key=item.title_key,
        owner_org_id=item.owner_org_id,
        assignee_id=item.assignee_id,
        due_at=due,
        blocking=item.blocking,
        created_at=now,
    )

"""Read-side queries over checklist items: what is open, whose, what is overdue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, or_, select

from homeward.base.errors import InvalidInput
from homeward.base.models import Case, ChecklistItem, ItemStatus, StaffMember
from homeward.protection.access import case_org_ids


@dataclass(frozen=True)
class ItemFilter:
    """What ``homeward items list`` asks for."""

    case_id: int | None = None
    mine: bool = False
    overdue: bool = False
    org_id: int | None = None
    status: str | None = ItemStatus.OPEN


def list_items(
    session: Session, *, actor: StaffMember, now: datetime, filters: ItemFilter
) -> list[tuple[ChecklistItem, Case]]:
    """Items visible to the actor, soonest due first.

    Visible means: owned by the actor's organisation, or on a case the organisation takes part in.
    """
    if filters.status and filters.status not in set(ItemStatus):
        raise InvalidInput(f"status: use one of {', '.join(ItemStatus)}")
    query = select(ChecklistItem, Case).where(ChecklistItem.case_id == Case.id)
    if filters.status:
        query = query.where(ChecklistItem.status == filters.status)
    if filters.case_id is not None:
        query = query.where(ChecklistItem.case_id == filters.case_id)
    if filters.mine:
        query = query.where(
            or_(ChecklistItem.assignee_id == actor.id, ChecklistItem.owner_org_id == actor.org_id)
        )
    if filters.org_id is not None:
        query = query.where(ChecklistItem.owner_org_id == filters.org_id)
    if filters.overdue:
        query = query.where(ChecklistItem.due_at < now, ChecklistItem.status == ItemStatus.OPEN)
    query = query.order_by(col(ChecklistItem.due_at), col(ChecklistItem.id))
    rows = list(session.exec(query))
    seen: dict[int, bool] = {}
    visible = []
    for item, case in rows:
        assert case.id is not None  # noqa: S101
        if case.id not in seen:
            seen[case.id] = actor.org_id in case_org_ids(session, case)
        if seen[case.id]:
            visible.append((item, case))
    return visible

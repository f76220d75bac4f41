"""Checklist items handed between organisations, and items reopened or given a new due date.

Defined when first named (``homeward.base.models``' ``__getattr__``), never by a command that does
not use them (issue 19); apart from ``items``: ``homeward case show`` lists a case's items without
reading their handoffs or changes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlmodel import Field

# the tables its foreign keys point at, defined with it: a flush sorts tables by them
import homeward.base.models.cases  # noqa: F401
import homeward.base.models.directory  # noqa: F401
import homeward.base.models.items  # noqa: F401
from homeward.base.models import (
    _PENDING_HANDOFF,
    ROW_ID,
    AwareDateTime,
    HandoffStatus,
    TableModel,
    _when,
)


class Handoff(TableModel, table=True):
    """A checklist item (or a whole case at a stage) handed from one organisation to another."""

    __tablename__ = "handoff"
    __table_args__ = (_PENDING_HANDOFF,)

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    case_id: int = Field(foreign_key="return_case.id", index=True, sa_type=ROW_ID)
    item_id: int | None = Field(
        default=None, foreign_key="checklist_item.id", index=True, sa_type=ROW_ID
    )
    stage: str = Field(sa_type=String(32))
    from_org_id: int = Field(foreign_key="organisation.id")
    to_org_id: int = Field(foreign_key="organisation.id", index=True)
    status: str = Field(default=HandoffStatus.PROPOSED, sa_type=String(16))
    reason: str | None = Field(default=None, sa_type=Text)  # encrypted (homeward.protection.vault)
    proposed_by_id: int = Field(foreign_key="staff_member.id")
    proposed_at: datetime = Field(sa_type=AwareDateTime)
    decided_by_id: int | None = Field(default=None, foreign_key="staff_member.id")
    decided_at: datetime | None = _when(nullable=True)


class ItemChange(TableModel, table=True):
    """A checklist item reopened or its due date moved: who, when, and why (the reason is free
    text, so it is stored encrypted; events name only the change's id)."""

    __tablename__ = "item_change"

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    case_id: int = Field(foreign_key="return_case.id", index=True, sa_type=ROW_ID)
    item_id: int = Field(foreign_key="checklist_item.id", index=True, sa_type=ROW_ID)
    kind: str = Field(sa_type=String(16))  # ItemChangeKind
    actor_id: int = Field(foreign_key="staff_member.id")
    at: datetime = Field(sa_type=AwareDateTime)
    status_before: str = Field(sa_type=String(16))
    due_before: datetime = Field(sa_type=AwareDateTime)
    due_after: datetime = Field(sa_type=AwareDateTime)
    reason: str | None = Field(default=None, sa_type=Text)  # encrypted (homeward.protection.vault)

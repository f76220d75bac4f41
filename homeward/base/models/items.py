"""Checklist items, their handoffs between organisations and their changes.

Defined when first named (``homeward.base.models``' ``__getattr__``), never by a command that does
not use them (issue 19)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlmodel import Field

# the tables its foreign keys point at, defined with it: a flush sorts tables by them
import homeward.base.models.cases  # noqa: F401
import homeward.base.models.directory  # noqa: F401
from homeward.base.models import (
    _PENDING_HANDOFF,
    AwareDateTime,
    HandoffStatus,
    ItemStatus,
    TableModel,
    _when,
    utcnow,
)


class ChecklistItem(TableModel, table=True):
    """A dated piece of work in a stage, owned by one organisation."""

    __tablename__ = "checklist_item"
    __table_args__ = (
        Index("ix_checklist_item_open_due", "status", "due_at"),
        # My work: an organisation's and a person's open items, soonest due first (0016).
        Index("ix_checklist_item_owner_open", "owner_org_id", "status", "due_at"),
        Index("ix_checklist_item_assignee_open", "assignee_id", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="return_case.id", index=True)
    stage: str = Field(sa_type=String(32))
    code: str = Field(sa_type=String(64))
    title_key: str = Field(sa_type=String(96))
    owner_org_id: int = Field(foreign_key="organisation.id", index=True)
    assignee_id: int | None = Field(default=None, foreign_key="staff_member.id")
    due_at: datetime = Field(sa_type=AwareDateTime)
    blocking: bool = True
    status: str = Field(default=ItemStatus.OPEN, sa_type=String(16))
    outcome: str | None = Field(default=None, sa_type=String(64))
    completed_by_id: int | None = Field(default=None, foreign_key="staff_member.id")
    completed_at: datetime | None = _when(nullable=True)
    note: str | None = Field(default=None, sa_type=Text)  # encrypted (homeward.protection.vault)
    created_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)
    escalated_at: datetime | None = _when(nullable=True)
    # The participant role this item waits for while the case owner holds it (no partner
    # with sharing consent yet, or the partner's consent was withdrawn).
    partner_needed: str | None = Field(default=None, sa_type=String(16))
    # An ad-hoc item (a court hearing, a medical appointment): its own title, encrypted, and
    # the appointment's start; catalog items leave both empty.
    title: str | None = Field(default=None, sa_type=Text)  # encrypted (homeward.protection.vault)
    starts_at: datetime | None = _when(nullable=True)
    # The family member (``case_person.id``) an item is about (a child's best-interests
    # assessment), if not the case's primary person. No foreign key (migration 0017).
    person_id: int | None = None


class Handoff(TableModel, table=True):
    """A checklist item (or a whole case at a stage) handed from one organisation to another."""

    __tablename__ = "handoff"
    __table_args__ = (_PENDING_HANDOFF,)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="return_case.id", index=True)
    item_id: int | None = Field(default=None, foreign_key="checklist_item.id", index=True)
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

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="return_case.id", index=True)
    item_id: int = Field(foreign_key="checklist_item.id", index=True)
    kind: str = Field(sa_type=String(16))  # ItemChangeKind
    actor_id: int = Field(foreign_key="staff_member.id")
    at: datetime = Field(sa_type=AwareDateTime)
    status_before: str = Field(sa_type=String(16))
    due_before: datetime = Field(sa_type=AwareDateTime)
    due_after: datetime = Field(sa_type=AwareDateTime)
    reason: str | None = Field(default=None, sa_type=Text)  # encrypted (homeward.protection.vault)

"""Checklist items (their handoffs and changes: ``handoffs``).

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
    ROW_ID,
    AwareDateTime,
    ItemStatus,
    TableModel,
    _when,
    utcnow,
)


class ChecklistItem(TableModel, table=True):
    """A dated piece of work in a stage, owned by one organisation."""

    __tablename__ = "checklist_item"
    __table_args__ = (
        # The sweep's pages in their order, and which items may fire, from the index alone (0040).
        Index("ix_checklist_item_open_due", "status", "due_at", "id", "escalated_at", "case_id"),
        # My work: an organisation's and a person's open items, soonest due first (0016).
        Index("ix_checklist_item_owner_open", "owner_org_id", "status", "due_at"),
        Index("ix_checklist_item_assignee_open", "assignee_id", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    case_id: int = Field(foreign_key="return_case.id", index=True, sa_type=ROW_ID)
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
    person_id: int | None = Field(default=None, sa_type=ROW_ID)

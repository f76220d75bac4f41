"""A case's append-only history.

Defined when first named (``homeward.base.models``' ``__getattr__``), never by a command that does
not use them (issue 19)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlmodel import Column, Field

# the tables its foreign keys point at, defined with it: a flush sorts tables by them
import homeward.base.models.cases  # noqa: F401
import homeward.base.models.directory  # noqa: F401
from homeward.base.models import (
    ROW_ID,
    AwareDateTime,
    TableModel,
)


class CaseEvent(TableModel, table=True):
    """Append-only history of a case: every transition, item change and handoff decision."""

    __tablename__ = "case_event"
    # My work: the cases with a closure request, without reading every event (0016).
    __table_args__ = (Index("ix_case_event_trigger", "trigger", "case_id"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    case_id: int = Field(foreign_key="return_case.id", index=True, sa_type=ROW_ID)
    actor_id: int | None = Field(default=None, foreign_key="staff_member.id")
    at: datetime = Field(sa_type=AwareDateTime)
    trigger: str = Field(sa_type=String(64))
    from_state: str | None = Field(default=None, sa_type=String(32))
    to_state: str | None = Field(default=None, sa_type=String(32))
    reason: str | None = Field(default=None, sa_type=String(500))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # How the actor proved who they were (``homeward.protection.identity``): "session 3f9c2a1b",
    # "run 1c7e... for session 3f9c2a1b", "service scheduler". Never an email or a name.
    proof: str | None = Field(default=None, sa_type=String(120))

"""Reintegration plans, their goals and services.

Case data of the casework depth (issue 16, migration 0017): row security shows a row to
the organisations that see its case, each row is sealed (``homeward.records.seals``) and its
free text is encrypted under the case's key (``homeward.protection.vault``) and destroyed by
the purge (``homeward.protection.retention``).

Defined when first named (``homeward.base.models``' ``__getattr__``), never by a command that does
not use them (issue 19)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlmodel import Field

# the tables its foreign keys point at, defined with it: a flush sorts tables by them
import homeward.base.models.cases  # noqa: F401
import homeward.base.models.directory  # noqa: F401
import homeward.base.models.items  # noqa: F401
from homeward.base.models import (
    ROW_ID,
    AwareDateTime,
    TableModel,
    _when,
)


class ReintegrationPlan(TableModel, table=True):
    """One version of a case's reintegration plan: drafted, submitted, approved by a supervisor
    of the owner organisation (not who submitted it), superseded by the next version."""

    __tablename__ = "reintegration_plan"
    __table_args__ = (UniqueConstraint("case_id", "version"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    case_id: int = Field(foreign_key="return_case.id", index=True, sa_type=ROW_ID)
    version: int
    status: str = Field(sa_type=String(16))  # draft, submitted, approved, rejected, superseded
    summary: str | None = Field(default=None, sa_type=Text)  # encrypted
    created_by_id: int = Field(foreign_key="staff_member.id")
    created_at: datetime = Field(sa_type=AwareDateTime)
    submitted_by_id: int | None = Field(default=None, foreign_key="staff_member.id")
    submitted_at: datetime | None = _when(nullable=True)
    decided_by_id: int | None = Field(default=None, foreign_key="staff_member.id")
    decided_at: datetime | None = _when(nullable=True)
    decision_note: str | None = Field(default=None, sa_type=Text)  # encrypted
    review_due_on: date | None = None


class PlanGoal(TableModel, table=True):
    """A goal of a plan version, on one sustainability dimension."""

    __tablename__ = "plan_goal"

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    case_id: int = Field(foreign_key="return_case.id", index=True, sa_type=ROW_ID)
    plan_id: int = Field(foreign_key="reintegration_plan.id", index=True, sa_type=ROW_ID)
    dimension: str = Field(sa_type=String(16))  # economic, social, psychosocial
    text: str | None = Field(default=None, sa_type=Text)  # encrypted; emptied by the purge
    status: str = Field(default="open", sa_type=String(16))  # open, achieved, dropped


class PlanService(TableModel, table=True):
    """A service of a plan version: type, provider, dates, budget and cost (minor units)."""

    __tablename__ = "plan_service"

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    case_id: int = Field(foreign_key="return_case.id", index=True, sa_type=ROW_ID)
    plan_id: int = Field(foreign_key="reintegration_plan.id", index=True, sa_type=ROW_ID)
    goal_id: int | None = Field(default=None, foreign_key="plan_goal.id", sa_type=ROW_ID)
    service_type: str = Field(sa_type=String(32))
    provider_org_id: int = Field(foreign_key="organisation.id", index=True)
    status: str = Field(sa_type=String(16))  # planned, approved, in_progress, delivered, cancelled
    planned_start_on: date | None = None
    planned_end_on: date | None = None
    actual_start_on: date | None = None
    actual_end_on: date | None = None
    budget_minor: int | None = None
    cost_minor: int | None = None
    currency: str = Field(default="EUR", sa_type=String(3))
    item_id: int | None = Field(default=None, foreign_key="checklist_item.id", sa_type=ROW_ID)
    note: str | None = Field(default=None, sa_type=Text)  # encrypted

"""Programmes (grants), their targets and enrolments; imported cases.

Defined when first named (``homeward.base.models``' ``__getattr__``), never by a command that does
not use them (issue 19)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import String, UniqueConstraint
from sqlmodel import Field

# the tables its foreign keys point at, defined with it: a flush sorts tables by them
import homeward.base.models.cases  # noqa: F401
import homeward.base.models.directory  # noqa: F401
from homeward.base.models import (
    ROW_ID,
    AwareDateTime,
    TableModel,
    utcnow,
)


class Programme(TableModel, table=True):
    """A funded programme (a grant): its donor, its period and the organisation running it."""

    __tablename__ = "programme"

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    code: str = Field(sa_type=String(40), unique=True, index=True)
    name: str = Field(sa_type=String(200))
    donor: str = Field(sa_type=String(200))
    org_id: int = Field(foreign_key="organisation.id", index=True)
    starts_on: date
    ends_on: date
    created_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)


class ProgrammeTarget(TableModel, table=True):
    """A programme's target for one indicator (``homeward.reporting.indicators.INDICATORS``)."""

    __tablename__ = "programme_target"
    __table_args__ = (UniqueConstraint("programme_id", "indicator"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    programme_id: int = Field(foreign_key="programme.id", index=True, sa_type=ROW_ID)
    indicator: str = Field(sa_type=String(32))
    target: int


class Enrolment(TableModel, table=True):
    """A case counted towards a programme."""

    __tablename__ = "enrolment"
    __table_args__ = (UniqueConstraint("programme_id", "case_id"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    programme_id: int = Field(foreign_key="programme.id", index=True, sa_type=ROW_ID)
    case_id: int = Field(foreign_key="return_case.id", index=True, sa_type=ROW_ID)
    enrolled_on: date
    enrolled_by_id: int | None = Field(default=None, foreign_key="staff_member.id")


class ImportedCase(TableModel, table=True):
    """Which row of an organisation's spreadsheet became which case: makes imports idempotent.

    ``external_id`` is the organisation's own reference for the row (never a name).
    """

    __tablename__ = "imported_case"
    __table_args__ = (UniqueConstraint("org_id", "external_id"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    external_id: str = Field(sa_type=String(64))
    case_id: int = Field(foreign_key="return_case.id", index=True, sa_type=ROW_ID)
    imported_at: datetime = Field(sa_type=AwareDateTime)

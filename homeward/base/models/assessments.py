"""Structured assessments.

Case data of the casework depth (issue 16, migration 0017): row security shows a row to
the organisations that see its case, each row is sealed (``homeward.records.seals``) and its
free text is encrypted under the case's key (``homeward.protection.vault``) and destroyed by
the purge (``homeward.protection.retention``).

Defined when first named (``homeward.base.models``' ``__getattr__``), never by a command that does
not use them (issue 19)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, String, Text
from sqlmodel import Column, Field

# the tables its foreign keys point at, defined with it: a flush sorts tables by them
import homeward.base.models.cases  # noqa: F401
import homeward.base.models.directory  # noqa: F401
from homeward.base.models import (
    ROW_ID,
    AwareDateTime,
    TableModel,
    _when,
)


class Assessment(TableModel, table=True):
    """A structured assessment (risk, needs and skills, family): answers encrypted; the level
    and the needs found as codes, which steer review, suspension and proposed services."""

    __tablename__ = "assessment"

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    case_id: int = Field(foreign_key="return_case.id", index=True, sa_type=ROW_ID)
    kind: str = Field(sa_type=String(16))  # risk, needs, family
    level: str | None = Field(default=None, sa_type=String(16))  # low, medium, high
    needs: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    answers: str | None = Field(default=None, sa_type=Text)  # encrypted JSON
    assessed_on: date
    assessed_by_id: int = Field(foreign_key="staff_member.id")
    recorded_at: datetime = Field(sa_type=AwareDateTime)
    reviewed_by_id: int | None = Field(default=None, foreign_key="staff_member.id")
    reviewed_at: datetime | None = _when(nullable=True)
    review: str | None = Field(default=None, sa_type=String(16))  # agreed, changed

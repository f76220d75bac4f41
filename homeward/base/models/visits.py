"""Follow-up visits.

Case data of the casework depth (issue 16, migration 0017): row security shows a row to
the organisations that see its case, each row is sealed (``homeward.records.seals``) and its
free text is encrypted under the case's key (``homeward.protection.vault``) and destroyed by
the purge (``homeward.protection.retention``).

Defined when first named (``homeward.base.models``' ``__getattr__``), never by a command that does
not use them (issue 19)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import String, Text
from sqlmodel import Field

# the tables its foreign keys point at, defined with it: a flush sorts tables by them
import homeward.base.models.cases  # noqa: F401
import homeward.base.models.directory  # noqa: F401
import homeward.base.models.items  # noqa: F401
from homeward.base.models import (
    ROW_ID,
    AwareDateTime,
    TableModel,
)


class Visit(TableModel, table=True):
    """A follow-up visit's monitoring form: when, how, who, safety, progress and the
    reintegration sustainability scores (0..1 per dimension; answers encrypted)."""

    __tablename__ = "visit"

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    case_id: int = Field(foreign_key="return_case.id", index=True, sa_type=ROW_ID)
    item_id: int | None = Field(default=None, foreign_key="checklist_item.id", sa_type=ROW_ID)
    org_id: int = Field(foreign_key="organisation.id")
    visited_on: date
    mode: str = Field(sa_type=String(16))  # home, office, phone
    attended: str | None = Field(default=None, sa_type=Text)  # encrypted
    safety_concern: bool = False
    safety_note: str | None = Field(default=None, sa_type=Text)  # encrypted
    plan_progress: str | None = Field(default=None, sa_type=String(16))
    progress_note: str | None = Field(default=None, sa_type=Text)  # encrypted
    answers: str | None = Field(default=None, sa_type=Text)  # encrypted JSON
    economic_score: float | None = None
    social_score: float | None = None
    psychosocial_score: float | None = None
    composite_score: float | None = None
    recorded_by_id: int = Field(foreign_key="staff_member.id")
    recorded_at: datetime = Field(sa_type=AwareDateTime)

"""The person's consents.

Defined when first named (``homeward.base.models``' ``__getattr__``), never by a command that does
not use them (issue 19)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import String
from sqlmodel import Field

# the tables its foreign keys point at, defined with it: a flush sorts tables by them
import homeward.base.models.cases  # noqa: F401
import homeward.base.models.directory  # noqa: F401
from homeward.base.models import (
    ROW_ID,
    AwareDateTime,
    TableModel,
)


class Consent(TableModel, table=True):
    """One consent of the person, per purpose (and per organisation for sharing)."""

    __tablename__ = "consent"

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    case_id: int = Field(foreign_key="return_case.id", index=True, sa_type=ROW_ID)
    purpose: str = Field(sa_type=String(32))
    org_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    method: str = Field(sa_type=String(16))
    language: str = Field(sa_type=String(8))
    interpreter: bool = False
    given_on: date
    recorded_by_id: int = Field(foreign_key="staff_member.id")
    recorded_at: datetime = Field(sa_type=AwareDateTime)
    withdrawn_on: date | None = None
    withdrawn_by_id: int | None = Field(default=None, foreign_key="staff_member.id")
    # A minor's consent: the capacity of the guardian or legal representative who gave it
    # (``homeward.protection.consent.RepresentativeCapacity``), a code; never their name.
    representative: str | None = Field(default=None, sa_type=String(32))

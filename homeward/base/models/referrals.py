"""NRM referrals.

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
from homeward.base.models import (
    ROW_ID,
    AwareDateTime,
    TableModel,
)


class NrmReferral(TableModel, table=True):
    """The National Referral Mechanism referral of a case (ANITP's record number encrypted)."""

    __tablename__ = "nrm_referral"

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    case_id: int = Field(foreign_key="return_case.id", unique=True, sa_type=ROW_ID)
    record_no: str | None = Field(default=None, sa_type=Text)  # encrypted
    referred_on: date
    referring_body: str = Field(sa_type=String(32))
    recorded_by_id: int = Field(foreign_key="staff_member.id")
    recorded_at: datetime = Field(sa_type=AwareDateTime)

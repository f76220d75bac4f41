"""The directory's tables: organisations and their staff.

Defined when first named (``homeward.base.models``' ``__getattr__``), never by a command that does
not use them (issue 19)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlmodel import Field

from homeward.base.models import (
    AwareDateTime,
    TableModel,
    utcnow,
)


class Organisation(TableModel, table=True):
    """An organisation taking part in returns: IOM missions, consulates, NGOs, agencies."""

    __tablename__ = "organisation"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(sa_type=String(40), unique=True, index=True)
    name: str = Field(sa_type=String(200))
    # The name's Romanian genitive-dative form ("Asociației ADPARE"), for emails that say whose
    # items they list; None: they name it after a declined noun ("organizației ADPARE").
    name_genitive: str | None = Field(default=None, sa_type=String(200))
    kind: str = Field(sa_type=String(32))
    country: str = Field(sa_type=String(2))
    email: str | None = Field(default=None, sa_type=String(254))
    created_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)


class StaffMember(TableModel, table=True):
    """A person working for an organisation, who acts on cases and receives reminders."""

    __tablename__ = "staff_member"

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    name: str = Field(sa_type=String(200))
    email: str = Field(sa_type=String(254), unique=True, index=True)
    role: str = Field(sa_type=String(32))
    language: str = Field(default="en", sa_type=String(8))
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)

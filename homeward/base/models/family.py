"""The other people of a family case (a child, a partner), encrypted like the person's data.

Defined when first named (``homeward.base.models``' ``__getattr__``), never by a command that does
not use them (issue 19); apart from ``personal``: a case's page lists its family members' labels
without defining the person's own tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlmodel import Field

# the tables its foreign keys point at, defined with it: a flush sorts tables by them
import homeward.base.models.cases  # noqa: F401
from homeward.base.models import (
    ROW_ID,
    AwareDateTime,
    TableModel,
    _when,
)


class CasePerson(TableModel, table=True):
    """Another person of a family case (a child, a partner): encrypted like ``Beneficiary``."""

    __tablename__ = "case_person"

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    case_id: int = Field(foreign_key="return_case.id", index=True, sa_type=ROW_ID)
    relation: str = Field(sa_type=String(16))  # child, partner, parent, sibling, other
    is_minor: bool = False
    given_name: str | None = Field(default=None, sa_type=Text)
    family_name: str | None = Field(default=None, sa_type=Text)
    birth_date: str | None = Field(default=None, sa_type=Text)
    sex: str | None = Field(default=None, sa_type=Text)
    match_index: str | None = Field(default=None, sa_type=String(64), index=True)
    name_index: str | None = Field(default=None, sa_type=String(64), index=True)
    created_at: datetime = Field(sa_type=AwareDateTime)
    removed_at: datetime | None = _when(nullable=True)

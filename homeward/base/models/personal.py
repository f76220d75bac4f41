"""The person's encrypted data and the case's data key (the family members: ``family``).

Defined when first named (``homeward.base.models``' ``__getattr__``), never by a command that does
not use them (issue 19): ``homeward case show`` reads neither, only through ``--personal``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String, Text
from sqlmodel import Field

# the tables its foreign keys point at, defined with it: a flush sorts tables by them
import homeward.base.models.cases  # noqa: F401
from homeward.base.models import (
    ROW_ID,
    AwareDateTime,
    TableModel,
    _when,
)


class Beneficiary(TableModel, table=True):
    """The person's identity and story: every field AES-GCM encrypted under the case's data key.

    Read and written only through ``homeward.protection.vault``; ``match_index`` is a keyed HMAC of
    the
    normalised name and birth date, to spot a possible duplicate without decrypting.
    """

    __tablename__ = "beneficiary"

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    case_id: int = Field(foreign_key="return_case.id", unique=True, sa_type=ROW_ID)
    given_name: str | None = Field(default=None, sa_type=Text)
    family_name: str | None = Field(default=None, sa_type=Text)
    birth_date: str | None = Field(default=None, sa_type=Text)
    sex: str | None = Field(default=None, sa_type=Text)
    phone: str | None = Field(default=None, sa_type=Text)
    home_address: str | None = Field(default=None, sa_type=Text)
    notes: str | None = Field(default=None, sa_type=Text)
    exploitation_form: str | None = Field(default=None, sa_type=Text)
    match_index: str | None = Field(default=None, sa_type=String(64), index=True)
    # A keyed blind index of the normalised full name alone, for finding a case by name.
    name_index: str | None = Field(default=None, sa_type=String(64), index=True)


class CaseKey(TableModel, table=True):
    """A case's data key, wrapped by a master key; deleting ``wrapped`` crypto-shreds the case."""

    __tablename__ = "case_key"

    case_id: int = Field(foreign_key="return_case.id", primary_key=True, sa_type=ROW_ID)
    master_key_id: str = Field(sa_type=String(32), index=True)
    wrapped: bytes | None = Field(default=None, sa_type=LargeBinary)
    created_at: datetime = Field(sa_type=AwareDateTime)
    destroyed_at: datetime | None = _when(nullable=True)

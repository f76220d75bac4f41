"""The case journal's notes and the case's documents.

Case data of the casework depth (issue 16, migration 0017): row security shows a row to
the organisations that see its case, each row is sealed (``homeward.records.seals``) and its
free text is encrypted under the case's key (``homeward.protection.vault``) and destroyed by
the purge (``homeward.protection.retention``).

Defined when first named (``homeward.base.models``' ``__getattr__``), never by a command that does
not use them (issue 19)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String, Text
from sqlmodel import Field

# the tables its foreign keys point at, defined with it: a flush sorts tables by them
import homeward.base.models.cases  # noqa: F401
import homeward.base.models.directory  # noqa: F401
from homeward.base.models import (
    ROW_ID,
    AwareDateTime,
    TableModel,
    _when,
)


class CaseNote(TableModel, table=True):
    """An entry of the case journal: who wrote it, when, for whom (owner only or shared)."""

    __tablename__ = "case_note"

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    case_id: int = Field(foreign_key="return_case.id", index=True, sa_type=ROW_ID)
    author_id: int = Field(foreign_key="staff_member.id")
    org_id: int = Field(foreign_key="organisation.id")
    at: datetime = Field(sa_type=AwareDateTime)
    visibility: str = Field(sa_type=String(16))  # owner, shared
    body: str | None = Field(default=None, sa_type=Text)  # encrypted; emptied by the purge


class CaseDocument(TableModel, table=True):
    """An attached document, encrypted under the case key (content and file name)."""

    __tablename__ = "case_document"

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    case_id: int = Field(foreign_key="return_case.id", index=True, sa_type=ROW_ID)
    kind: str = Field(sa_type=String(32))
    media_type: str = Field(sa_type=String(64))  # sniffed from the content
    size: int
    filename: str | None = Field(default=None, sa_type=Text)  # encrypted
    content: bytes | None = Field(default=None, sa_type=LargeBinary)  # encrypted
    visibility: str = Field(default="owner", sa_type=String(16))  # owner, shared
    uploaded_by_id: int = Field(foreign_key="staff_member.id")
    org_id: int = Field(foreign_key="organisation.id")
    uploaded_at: datetime = Field(sa_type=AwareDateTime)
    removed_at: datetime | None = _when(nullable=True)

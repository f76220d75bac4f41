"""The tamper-evident audit log, its head and the row seals.

Defined when first named (``homeward.base.models``' ``__getattr__``), never by a command that does
not use them (issue 19)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlmodel import Field

# the tables its foreign keys point at, defined with it: a flush sorts tables by them
import homeward.base.models.directory  # noqa: F401
from homeward.base.models import (
    ROW_ID,
    AwareDateTime,
    TableModel,
)


class AuditEntry(TableModel, table=True):
    """Who did or read what, when: field names only, never values; HMAC-chained row to row."""

    __tablename__ = "audit_entry"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime = Field(sa_type=AwareDateTime)
    actor_id: int | None = Field(default=None, foreign_key="staff_member.id")
    action: str = Field(sa_type=String(48))
    case_ref: str | None = Field(default=None, sa_type=String(16), index=True)
    fields: str = Field(default="", sa_type=String(500))
    prev_mac: str = Field(sa_type=String(64))
    mac: str = Field(sa_type=String(64))


class AuditHead(TableModel, table=True):
    """The chain's last link (one row): catches deletion of the newest entries.

    It also sums up the row seals (``RowSeal``): their count and the XOR of their MACs, so a
    row deleted with its seal, or an older row put back with its older seal, shows. ``mac``
    (keyed, ``homeward.records.seals``) covers all four, so none can be edited to match."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    last_id: int = 0
    last_mac: str = Field(default="0" * 64, sa_type=String(64))
    seal_count: int = 0
    seal_state: str = Field(default="0" * 64, sa_type=String(64))
    mac: str | None = Field(default=None, sa_type=String(64))


class RowSeal(TableModel, table=True):
    """A keyed MAC of one case-data row as Homeward last wrote it (``homeward.records.seals``).

    It binds the row's every column (ciphertexts included) to its table, row id, case id and
    ``version`` (bumped at each change), so an edit, a swap between rows or cases, a nulled
    field or a replayed older value shows; a row without a seal was inserted behind
    Homeward's back, a seal without a row marks a deletion."""

    __tablename__ = "row_seal"

    tbl: str = Field(primary_key=True, sa_type=String(32))
    row_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False}, sa_type=ROW_ID)
    case_id: int = Field(index=True, sa_type=ROW_ID)
    version: int = 1
    mac: str = Field(sa_type=String(64))

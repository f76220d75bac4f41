"""Staff sessions: what every signed-in command proves itself with.

Defined when first named (``homeward.base.models``' ``__getattr__``), never by a command that does
not use them (issue 19)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlmodel import Field

# the tables its foreign keys point at, defined with it: a flush sorts tables by them
import homeward.base.models.directory  # noqa: F401
from homeward.base.models import (
    AwareDateTime,
    TableModel,
    _when,
)


class StaffSession(TableModel, table=True):
    """A signed-in staff member: the token's hash (never the token), its expiry and revocation."""

    __tablename__ = "staff_session"

    id: str = Field(primary_key=True, sa_type=String(32))
    staff_id: int = Field(foreign_key="staff_member.id", index=True)
    token_hash: str = Field(sa_type=String(64), unique=True, index=True)
    label: str = Field(default="", sa_type=String(80))
    created_at: datetime = Field(sa_type=AwareDateTime)
    expires_at: datetime = Field(sa_type=AwareDateTime)
    revoked_at: datetime | None = _when(nullable=True)

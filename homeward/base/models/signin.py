"""Sign-in codes and the requests for them.

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
    _when,
)


class LoginChallenge(TableModel, table=True):
    """A one-time sign-in code sent to a staff member's email: only its keyed hash is kept.

    Short-lived, single use, a few wrong tries at most (``homeward.protection.identity``)."""

    __tablename__ = "login_challenge"

    id: str = Field(primary_key=True, sa_type=String(32))
    staff_id: int = Field(foreign_key="staff_member.id", index=True)
    code_hash: str = Field(sa_type=String(64))
    created_at: datetime = Field(sa_type=AwareDateTime, index=True)
    expires_at: datetime = Field(sa_type=AwareDateTime)
    attempts: int = 0
    used_at: datetime | None = _when(nullable=True)
    channel: str = Field(default="cli", sa_type=String(16))


class LoginRequest(TableModel, table=True):
    """A sign-in code asked for, to a staff address or not: a keyed hash of the address only.

    The hourly limit counts these, so it treats every address alike and does not tell who is
    staff; rows older than an hour are deleted as new ones come (``homeward.protection.identity``).
    """

    __tablename__ = "login_request"

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    address_tag: str = Field(sa_type=String(64), index=True)
    at: datetime = Field(sa_type=AwareDateTime, index=True)

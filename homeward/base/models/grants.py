"""Run grants: a Prefect run's assertion, bound to the session that signed it.

Defined when first named (``homeward.base.models``' ``__getattr__``), never by a command that does
not use them (issue 19)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlmodel import Field

# the tables its foreign keys point at, defined with it: a flush sorts tables by them
import homeward.base.models.directory  # noqa: F401
import homeward.base.models.sessions  # noqa: F401
from homeward.base.models import (
    AwareDateTime,
    TableModel,
)


class RunGrant(TableModel, table=True):
    """A signed assertion issued to a signed-in staff member for one Prefect run of one flow.

    The run that first presents it binds it (``flow_run_id``); any other run is refused."""

    __tablename__ = "run_grant"

    id: str = Field(primary_key=True, sa_type=String(32))
    session_id: str = Field(foreign_key="staff_session.id", index=True)
    staff_id: int = Field(foreign_key="staff_member.id")
    flow: str = Field(sa_type=String(64))
    issued_at: datetime = Field(sa_type=AwareDateTime)
    expires_at: datetime = Field(sa_type=AwareDateTime)
    flow_run_id: str | None = Field(default=None, sa_type=String(40))

"""The service directory (directory data, not case data: every signed-in organisation
may read it).

Defined when first named (``homeward.base.models``' ``__getattr__``), never by a command that does
not use them (issue 19)."""

from __future__ import annotations

from sqlalchemy import String, UniqueConstraint
from sqlmodel import Field

# the tables its foreign keys point at, defined with it: a flush sorts tables by them
import homeward.base.models.directory  # noqa: F401
from homeward.base.models import (
    ROW_ID,
    TableModel,
)


class ProviderService(TableModel, table=True):
    """The service directory: an organisation offers a service type in a county, with capacity.

    Directory data, not case data: every signed-in organisation may read it."""

    __tablename__ = "provider_service"
    __table_args__ = (UniqueConstraint("org_id", "service_type", "county"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    service_type: str = Field(sa_type=String(32))
    county: str = Field(sa_type=String(6), index=True)
    capacity: int | None = None
    active: bool = True

"""The keyring the database is bound to.

Defined when first named (``homeward.base.models``' ``__getattr__``), never by a command that does
not use them (issue 19)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlmodel import Field

from homeward.base.models import (
    AwareDateTime,
    TableModel,
)


class KeyringBinding(TableModel, table=True):
    """The one keyring this database is sealed with: its fingerprint (never a key).

    One row, written with the database's first write; the app role may insert it, never
    change it (``homeward.crypt.binding``)."""

    __tablename__ = "keyring_binding"

    id: int = Field(default=1, primary_key=True)
    fingerprint: str = Field(sa_type=String(64))
    bound_at: datetime = Field(sa_type=AwareDateTime)

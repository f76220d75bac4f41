"""Idempotency keys of requests.

Defined when first named (``homeward.base.models``' ``__getattr__``), never by a command that does
not use them (issue 19)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlmodel import Column, Field

# the tables its foreign keys point at, defined with it: a flush sorts tables by them
import homeward.base.models.cases  # noqa: F401
import homeward.base.models.directory  # noqa: F401
from homeward.base.models import (
    ROW_ID,
    AwareDateTime,
    TableModel,
)


class RequestKey(TableModel, table=True):
    """A request's idempotency key, claimed in the transaction of the change it names
    (``homeward.records.idempotency``): a retry with the key returns ``result`` instead of
    acting again.

    ``fingerprint`` is a hash of the command, the actor and the request's non-personal
    arguments; ``result`` holds codes and ids only (case_ref, stage, item and handoff ids).
    """

    __tablename__ = "request_key"

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    key: str = Field(sa_type=String(100), unique=True, index=True)
    command: str = Field(sa_type=String(48))
    fingerprint: str = Field(sa_type=String(64))
    actor_id: int | None = Field(default=None, foreign_key="staff_member.id")
    case_id: int | None = Field(
        default=None, foreign_key="return_case.id", index=True, sa_type=ROW_ID
    )
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_type=AwareDateTime)

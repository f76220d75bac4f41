"""Return cases and the organisations taking part in each.

Defined when first named (``homeward.base.models``' ``__getattr__``), never by a command that does
not use them (issue 19)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy import case as sql_case
from sqlmodel import Column, Field

# the tables its foreign keys point at, defined with it: a flush sorts tables by them
import homeward.base.models.directory  # noqa: F401
from homeward.base.models import (
    _CURRENT_ROLE,
    ROW_ID,
    AwareDateTime,
    CaseStatus,
    ParticipantStatus,
    TableModel,
    _when,
)

_case_version = Column("version", Integer, nullable=False, default=1)


class Case(TableModel, table=True):
    """One assisted return. ``state`` is its stage, ``status`` whether it is being worked
    (``CaseStatus``); ``phase`` says both in one word, as the history and reports do. The row
    is wrapped, never the machine model.

    ``version`` is SQLAlchemy's optimistic lock: a write based on a stale read fails whole.
    """

    __tablename__ = "return_case"
    __mapper_args__ = {"version_id_col": _case_version}  # noqa: RUF012

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    case_ref: str = Field(sa_type=String(16), unique=True, index=True)
    state: str = Field(sa_type=String(32), index=True)
    status: str = Field(
        default=CaseStatus.ACTIVE,
        sa_type=String(20),
        index=True,
        sa_column_kwargs={"server_default": CaseStatus.ACTIVE.value},
    )
    # when the case last changed phase: entered its stage, or its status if not active
    stage_entered_at: datetime = Field(sa_type=AwareDateTime)
    process_version: str = Field(sa_type=String(16))
    is_minor: bool = False
    owner_org_id: int = Field(foreign_key="organisation.id", index=True)
    host_country: str = Field(sa_type=String(2))
    destination_country: str = Field(default="RO", sa_type=String(2))
    # ``return`` (identified abroad, travels home) or ``internal`` (identified in Romania: no
    # travel stages); ``destination_county`` an ISO 3166-2 code (RO-CJ), for service providers.
    route: str = Field(
        default="return", sa_type=String(16), sa_column_kwargs={"server_default": "return"}
    )
    destination_county: str | None = Field(default=None, sa_type=String(6))
    opened_at: datetime = Field(sa_type=AwareDateTime)
    closed_at: datetime | None = _when(nullable=True)
    consent_method: str | None = Field(default=None, sa_type=String(16))
    consent_language: str | None = Field(default=None, sa_type=String(8))
    interpreter_used: bool = False
    travel_doc_kind: str | None = Field(default=None, sa_type=String(32))
    travel_doc_issued_on: date | None = None
    travel_doc_expires_on: date | None = None
    departure_on: date | None = None
    arrival_on: date | None = None
    closure_reason: str | None = Field(default=None, sa_type=String(32))
    closure_approved_by_id: int | None = Field(default=None, foreign_key="staff_member.id")
    legal_hold: bool = False
    purged_at: datetime | None = _when(nullable=True)
    version: int = Field(default=1, sa_column=_case_version)

    @property
    def phase(self) -> str:
        """The stage while the case is active, otherwise its status: what the case's history
        (``from_state``/``to_state``), its timeline and the caseload report call its state."""
        return self.state if self.status == CaseStatus.ACTIVE else self.status


def phase_column() -> Any:
    """``Case.phase`` as an SQL expression, to group or filter cases by it."""
    return sql_case((Case.status == CaseStatus.ACTIVE, Case.state), else_=Case.status)  # type: ignore[arg-type]


class CaseParticipant(TableModel, table=True):
    """Which organisation plays which part (``ParticipantRole``) in a case, and whether it
    takes part yet (``ParticipantStatus``): one current (not ended) organisation per role."""

    __tablename__ = "case_participant"
    __table_args__ = (_CURRENT_ROLE,)

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    case_id: int = Field(foreign_key="return_case.id", index=True, sa_type=ROW_ID)
    role: str = Field(sa_type=String(16))
    org_id: int = Field(foreign_key="organisation.id", index=True)
    status: str = Field(
        default=ParticipantStatus.LIVE,
        sa_type=String(16),
        sa_column_kwargs={"server_default": ParticipantStatus.LIVE.value},
    )

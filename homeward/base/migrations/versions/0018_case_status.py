"""a case's status kept apart from its stage (issue 16 point 0)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 18:30:00

``return_case.state`` held either a stage or one of suspended, lost contact, consent withdrawn
and closed, with ``resume_state`` remembering the stage a paused case would go back to (and
the machine a generated "return to the stage it left" row per stage). Now ``state`` is always
the stage and ``status`` (active, suspended, lost_contact, consent_withdrawn, closed) says
whether the case is worked. Existing rows: a paused case's stage is the one it remembered; an
ended case's is the last stage its history entered (else its route's first stage).
``resume_state`` goes. The history keeps its words (``from_state``/``to_state`` are the
case's phase, ``Case.phase``), so nothing in ``case_event`` changes.

Seals cover every column of a row: ``return_case`` rows are sealed again as they now stand.
"""

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext

import sqlalchemy as sa
from alembic import op
from sqlmodel import Session

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("suspended", "lost_contact", "consent_withdrawn", "closed")
STAGES = (
    "identified_abroad",
    "identified_in_romania",
    "consent_obtained",
    "assessed",
    "travel_arranged",
    "in_transit",
    "received",
    "reintegration",
)
_FIRST = "CASE WHEN route = 'internal' THEN 'identified_in_romania' ELSE 'identified_abroad' END"
_LAST_STAGE = (
    "(SELECT e.to_state FROM case_event e WHERE e.case_id = return_case.id "
    f"AND e.to_state IN ({', '.join(repr(s) for s in STAGES)}) ORDER BY e.id DESC LIMIT 1)"
)
_PAUSED = "('suspended', 'lost_contact')"


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column(
        "return_case",
        sa.Column("status", sa.String(length=20), nullable=False, server_default="active"),
    )
    op.create_index("ix_return_case_status", "return_case", ["status"])
    statuses = ", ".join(repr(s) for s in STATUSES)
    with _as_system(bind):
        op.execute(
            f"UPDATE return_case SET status = state, state = CASE WHEN state IN {_PAUSED} "
            f"THEN coalesce(resume_state, {_LAST_STAGE}, {_FIRST}) "
            f"ELSE coalesce({_LAST_STAGE}, {_FIRST}) END WHERE state IN ({statuses})"
        )
    op.drop_column("return_case", "resume_state")  # SQLite 3.35+ drops it in place
    _reseal(bind)


def _as_system(bind: sa.Connection) -> AbstractContextManager[None]:
    """Row security (PostgreSQL) lets the data step see every case."""
    from homeward.base.db import may_act_for_system, system_scope  # noqa: PLC0415

    return system_scope(bind) if may_act_for_system(bind) else nullcontext()


def _reseal(bind: sa.Connection) -> None:
    held = sum(
        bind.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one()
        for name in ("audit_entry", "return_case")
    )
    if held:
        from homeward.records.seals import reseal_all  # noqa: PLC0415 (needs keys only here)

        with Session(bind=bind) as session:
            reseal_all(session)


def downgrade() -> None:
    bind = op.get_bind()
    op.add_column("return_case", sa.Column("resume_state", sa.String(length=32), nullable=True))
    with _as_system(bind):
        op.execute(
            f"UPDATE return_case SET resume_state = CASE WHEN status IN {_PAUSED} THEN state "
            "END, state = status WHERE status != 'active'"
        )
    op.drop_index("ix_return_case_status", table_name="return_case")
    op.drop_column("return_case", "status")

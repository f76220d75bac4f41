"""The case history: append-only ``CaseEvent`` rows, written in the transaction of the change.

Events carry codes, states, dates and staff ids only; ``data`` must never hold personal values,
and ``reason`` only codes. Each event also appends to the tamper-evident audit log and is handed
to the listeners of ``homeward.base.hooks`` in the same transaction.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, text
from sqlmodel import Session, col, select

from homeward.base import models
from homeward.base.db import is_postgres
from homeward.base.hooks import emit
from homeward.records import seals
from homeward.records.auditlog import audit

if TYPE_CHECKING:
    from homeward.base.models import Case, CaseEvent, StaffMember

# ``CaseEvent`` is named where it is used (``models.CaseEvent``): a command that neither changes
# a case nor reads its history (``homeward case show``) never defines it (issue 19).
_NEXT_ID = text("SELECT nextval(pg_get_serial_sequence('case_event', 'id'))")


@cache
def _events() -> Table:
    return models.CaseEvent.__table__  # type: ignore[attr-defined,no-any-return]


def _insert(session: Session, row: dict[str, Any]) -> int:
    """Write the event; its id. PostgreSQL: the id drawn first and the row written without
    ``RETURNING``, which would also hold the new row to the table's read policy: an
    organisation that has just rejected a handoff writes the answer's event (its write policy
    lets it, 0023) but no longer reads the case's history."""
    conn, events = session.connection(), _events()
    if is_postgres(session):
        row["id"] = conn.execute(_NEXT_ID).scalar_one()
        conn.execute(events.insert(), row)
        return int(row["id"])
    return int(conn.execute(events.insert().returning(events.c.id), row).scalar_one())


def _jsonable(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def record_event(
    session: Session,
    *,
    case: Case,
    trigger: str,
    at: datetime,
    actor: StaffMember | None,
    from_state: str | None = None,
    to_state: str | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> CaseEvent:
    """Append one event to ``case``'s history (written, not committed) and tell the listeners.

    The event is written as a plain row (append-only: nothing changes it) and sealed at commit
    from the values written, not read back; the event handed back is not in the session."""
    assert case.id is not None  # noqa: S101 (cases are flushed before events)
    row: dict[str, Any] = {
        "case_id": case.id,
        "actor_id": actor.id if actor else None,
        "at": at,
        "trigger": trigger,
        "from_state": from_state,
        "to_state": to_state,
        "reason": reason,
        # as the JSON column gives it back (a tuple comes back a list): what the seal covers
        "data": json.loads(
            json.dumps({k: _jsonable(v) for k, v in (data or {}).items() if v is not None})
        ),
        # How the actor was proven: set on the session by the commands runner (identity.prove).
        "proof": session.info.get("proof"),
    }
    # Written before what the ORM still holds: the change the event records may take the
    # actor's own sight of the case away (a partner cancelling its last service item), and
    # the event is written in its name, under the same rule as a read.
    row["id"] = _insert(session, row)
    seals.written(session, "case_event", [row])
    event = models.CaseEvent(**row)
    audit(
        session,
        actor=actor,
        action=f"case:{trigger}",
        at=at,
        case_ref=case.case_ref,
        fields=sorted(event.data),
    )
    emit(session, case, event)
    return event


def history(session: Session, case: Case) -> list[CaseEvent]:
    """Every event of ``case``, oldest first."""
    events = models.CaseEvent
    query = select(events).where(events.case_id == case.id).order_by(col(events.id))
    return list(session.exec(query))

"""The case history: append-only ``CaseEvent`` rows, written in the transaction of the change.

Events carry codes, states, dates and staff ids only; ``data`` must never hold personal values,
and ``reason`` only codes. Each event also appends to the tamper-evident audit log and is handed
to the listeners of ``homeward.base.hooks`` in the same transaction.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table
from sqlmodel import Session, col, select

from homeward.base.hooks import emit
from homeward.base.models import Case, CaseEvent, StaffMember
from homeward.records import seals
from homeward.records.auditlog import audit

_EVENTS: Table = CaseEvent.__table__  # type: ignore[attr-defined]
_INSERT = _EVENTS.insert().returning(_EVENTS.c.id)


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
    session.flush()  # what the ORM holds goes first, as it would have
    row["id"] = session.connection().execute(_INSERT, row).scalar_one()
    seals.written(session, "case_event", [row])
    event = CaseEvent(**row)
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
    query = select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(col(CaseEvent.id))
    return list(session.exec(query))

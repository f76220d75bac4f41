"""The case history: append-only ``CaseEvent`` rows, written in the transaction of the change.

Events carry codes, states, dates and staff ids only; ``data`` must never hold personal values,
and ``reason`` only codes. Each event also appends to the tamper-evident audit log and is handed
to the listeners of ``homeward.base.hooks`` in the same transaction.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from homeward.base import models
from homeward.base.hooks import emit
from homeward.records.auditlog import audit

if TYPE_CHECKING:
    from homeward.base.models import Case, CaseEvent, StaffMember

# ``CaseEvent`` is named where it is used (``models.CaseEvent``): a command that neither changes
# a case nor reads its history (``homeward case show``) never defines it (issue 19).


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
    """Append one event to ``case``'s history (flushed, not committed) and tell the listeners."""
    assert case.id is not None  # noqa: S101 (cases are flushed before events)
    event = models.CaseEvent(
        case_id=case.id,
        actor_id=actor.id if actor else None,
        at=at,
        trigger=trigger,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        data={k: _jsonable(v) for k, v in (data or {}).items() if v is not None},
        # How the actor was proven: set on the session by the commands runner (identity.prove).
        proof=session.info.get("proof"),
    )
    session.add(event)
    session.flush()
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

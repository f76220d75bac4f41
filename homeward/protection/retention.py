"""Retention: a closed case's personal data is purged after the retention period.

Purging deletes the person's encrypted fields, the encrypted free text (item notes, handoff
reasons, the reasons items were reopened or rescheduled) and, last, the case's wrapped data
key. A case on legal hold is kept. The case_ref, stages and dates stay for statistics; the
audit log records the purge.

What still holds the wrapped key afterwards, and for how long:

- the database files, until ``homeward.protection.leftovers.scrub`` has run (after the
  purge commits); PostgreSQL's WAL, WAL archives and replicas, as long as they are kept.
- backups: sealed under backup keys (``homeward.crypt.backup_keys``), readable until the
  keys alive at the purge expire (``backup_keys.last_expiry``), then by nobody, whoever holds
  the keyring.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Table, update
from sqlmodel import Session, SQLModel, col, delete, select

from homeward.base.db import system_scope
from homeward.base.models import (
    Assessment,
    Beneficiary,
    Case,
    CaseDocument,
    CaseKey,
    CaseNote,
    CasePerson,
    CaseStatus,
    ChecklistItem,
    Handoff,
    ItemChange,
    NrmReferral,
    PlanGoal,
    PlanService,
    ReintegrationPlan,
    StaffMember,
    Visit,
)
from homeward.base.settings import get_settings
from homeward.protection.permissions import Action, ensure
from homeward.records import seals
from homeward.records.audit import record_event
from homeward.records.auditlog import audit


def due_for_purge(session: Session, *, now: datetime) -> list[Case]:
    """Closed cases past the retention period, not on legal hold, not yet purged."""
    cutoff = now - timedelta(days=get_settings().retention_days)
    query = select(Case).where(
        Case.status == CaseStatus.CLOSED,
        col(Case.closed_at) < cutoff,
        col(Case.legal_hold).is_(False),
        col(Case.purged_at).is_(None),
    )
    return list(session.exec(query.order_by(col(Case.closed_at))))


def _table(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


# Issue 16's case tables and their encrypted columns, emptied by the purge (the rows keep their
# codes, dates and amounts for the statistics; the family's other people are deleted whole).
CASEWORK_TEXT: dict[Table, tuple[str, ...]] = {
    _table(ReintegrationPlan): ("summary", "decision_note"),
    _table(PlanGoal): ("text",),
    _table(PlanService): ("note",),
    _table(Visit): ("attended", "safety_note", "progress_note", "answers"),
    _table(CaseNote): ("body",),
    _table(CaseDocument): ("filename", "content"),
    _table(NrmReferral): ("record_no",),
    _table(Assessment): ("answers",),
    _table(ChecklistItem): ("title",),
}


def purge_case(session: Session, *, case: Case, now: datetime, actor: StaffMember | None) -> None:
    """Destroy the case's personal data and its key (in the caller's transaction)."""
    session.exec(delete(Beneficiary).where(col(Beneficiary.case_id) == case.id))
    session.exec(
        update(ChecklistItem).where(col(ChecklistItem.case_id) == case.id).values(note=None)
    )
    session.exec(update(Handoff).where(col(Handoff.case_id) == case.id).values(reason=None))
    session.exec(update(ItemChange).where(col(ItemChange.case_id) == case.id).values(reason=None))
    for table, columns in CASEWORK_TEXT.items():  # issue 16's tables: their free text
        session.exec(update(table).where(table.c.case_id == case.id).values(dict.fromkeys(columns)))
    session.exec(delete(CasePerson).where(col(CasePerson.case_id) == case.id))
    seals.touch_cases(session, [case.id or 0])  # bulk statements: reseal its rows at commit
    key = session.get(CaseKey, case.id)
    if key is not None:
        key.wrapped, key.destroyed_at = None, now
        session.add(key)
    case.purged_at = now
    session.add(case)
    session.flush()
    audit(
        session,
        actor=actor,
        action="purge",
        case_ref=case.case_ref,
        at=now,
        fields=[
            "beneficiary",
            "checklist_item.note",
            "handoff.reason",
            "item_change.reason",
            *(
                f"{table.name}.{column}"
                for table, columns in CASEWORK_TEXT.items()
                for column in columns
            ),
            "case_person",
            "case_key",
        ],
    )


def purge_due(
    session: Session, *, now: datetime, dry_run: bool, actor: StaffMember | None
) -> list[Case]:
    """Purge (or, with ``dry_run``, list) every case due for purging."""
    with system_scope(session):
        cases = due_for_purge(session, now=now)
        if not dry_run:
            for case in cases:
                purge_case(session, case=case, now=now, actor=actor)
    return cases


def set_legal_hold(
    session: Session, *, case: Case, actor: StaffMember, hold: bool, now: datetime
) -> None:
    """Place (``hold``) or lift a legal hold: a held case's personal data is never purged."""
    ensure(session, actor, Action.LEGAL_HOLD, case)
    case.legal_hold = hold
    session.add(case)
    trigger = "legal_hold_placed" if hold else "legal_hold_lifted"
    record_event(session, case=case, trigger=trigger, at=now, actor=actor)

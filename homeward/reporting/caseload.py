"""What the caseload dashboard shows, read for the whole system: caseload by stage and owner,
overdue items by organisation, cases stuck in a stage, and one case's timeline.

Rows carry case_refs, stages, organisation slugs, dates and counts: never a person's data, and
nothing decrypted. The caller gives a session; every query here acts for the system (a sweep
over all organisations, as the reminders do).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, func, select

from homeward.base.clock import utc
from homeward.base.db import system_scope
from homeward.base.models import (
    OPEN_STATUSES,
    Case,
    CaseEvent,
    ChecklistItem,
    ItemStatus,
    StaffMember,
    phase_column,
)
from homeward.base.settings import get_settings
from homeward.protection.access import can_see
from homeward.records.audit import history
from homeward.records.directory import orgs_by_id
from homeward.reporting.indicators import STAGE_ORDER

Row = dict[str, Any]


def _slugs(session: Session) -> dict[int, str]:
    return {org_id: org.slug for org_id, org in orgs_by_id(session).items()}


def _local_day(moment: datetime) -> str:
    return f"{utc(moment).astimezone(get_settings().tz):%Y-%m-%d}"


def caseload_by_stage(session: Session) -> list[Row]:
    """Cases per stage and owner organisation (closed cases included, as their own stage)."""
    phase = phase_column()  # a stage, or a status when not active (as the history says)
    query = select(phase, Case.owner_org_id, func.count(col(Case.id))).group_by(
        phase, col(Case.owner_org_id)
    )
    with system_scope(session):
        counts = list(session.exec(query))
        slugs = _slugs(session)
    rows = [
        {"stage": state, "owner_org": slugs.get(org_id, "?"), "cases": n}
        for state, org_id, n in counts
    ]
    return sorted(rows, key=lambda r: (_stage_rank(r["stage"]), r["owner_org"]))


def _stage_rank(stage: str) -> int:
    return STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER)


def overdue_by_org(session: Session, *, now: datetime) -> list[Row]:
    """Open checklist items past due on open cases, per organisation owning the item."""
    query = (
        select(ChecklistItem.owner_org_id, ChecklistItem.case_id, ChecklistItem.escalated_at)
        .where(ChecklistItem.case_id == Case.id)
        .where(ChecklistItem.status == ItemStatus.OPEN, col(ChecklistItem.due_at) < now)
        .where(col(Case.status).in_(OPEN_STATUSES))
    )
    with system_scope(session):
        found = list(session.exec(query))
        slugs = _slugs(session)
    items, escalated = Counter[int](), Counter[int]()
    cases: dict[int, set[int]] = {}
    for org_id, case_id, escalated_at in found:
        items[org_id] += 1
        escalated[org_id] += escalated_at is not None
        cases.setdefault(org_id, set()).add(case_id)
    rows = [
        {
            "organisation": slugs.get(org_id, "?"),
            "overdue_items": items[org_id],
            "escalated": escalated[org_id],
            "cases": len(cases[org_id]),
        }
        for org_id in items
    ]
    return sorted(rows, key=lambda r: r["organisation"])


def stuck_cases(session: Session, *, now: datetime, days: int) -> list[Row]:
    """Open cases that entered their stage more than ``days`` days ago, longest first."""
    cutoff = now - timedelta(days=days)
    query = (
        select(Case)
        .where(col(Case.status).in_(OPEN_STATUSES))
        .where(col(Case.stage_entered_at) < cutoff)
        .order_by(col(Case.stage_entered_at), col(Case.id))
    )
    with system_scope(session):
        cases = list(session.exec(query))
        slugs = _slugs(session)
    return [
        {
            "case_ref": case.case_ref,
            "stage": case.phase,
            "owner_org": slugs.get(case.owner_org_id, "?"),
            "in_stage_since": _local_day(case.stage_entered_at),
            "days_in_stage": (now - utc(case.stage_entered_at)).days,
        }
        for case in cases
    ]


def seen_by(session: Session, actor: StaffMember, rows: list[Row]) -> list[Row]:
    """The rows whose case ``actor``'s organisation may see: a person's dashboard names no
    case_ref of another organisation's case (the counts above stay whole)."""
    refs = [row["case_ref"] for row in rows]
    with system_scope(session):
        cases = session.exec(select(Case).where(col(Case.case_ref).in_(refs)))
        seen = {case.case_ref for case in cases if can_see(session, actor, case)}
    return [row for row in rows if row["case_ref"] in seen]


def timeline(session: Session, case: Case) -> list[Row]:
    """The stages a case went through, each with the day it was entered and by which trigger."""
    with system_scope(session):
        return timeline_rows(history(session, case))


def timeline_rows(events: list[CaseEvent]) -> list[Row]:
    """Timeline rows from a case's history (events that changed its stage)."""
    return [
        {"stage": e.to_state, "entered_on": _local_day(e.at), "trigger": e.trigger}
        for e in events
        if e.to_state is not None
    ]


def timelines(session: Session, case_refs: list[str]) -> dict[str, list[Row]]:
    """The timelines of the cases named, by case_ref."""
    with system_scope(session):
        cases = session.exec(select(Case).where(col(Case.case_ref).in_(case_refs)))
        return {case.case_ref: timeline_rows(history(session, case)) for case in cases}

"""Follow-up visits of cases in reintegration: make sure they exist, and send each one's
calendar invitation once, ahead of the digest reminders.

The items come from the case's checklist catalog (``tasks.checklist.create_stage_items``,
idempotent). The invitation is a digest listing the visit under "coming due", with the same
calendar UID the daily reminders use (``item-<id>-<YYYYMMDD>``), so the reminders later update
the same calendar entry instead of adding one. The outbox key makes the invitation once per
visit, recipient and due date: a moved visit is invited again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from homeward.base.db import system_scope
from homeward.base.models import Case, CaseStatus, ChecklistItem, ItemStatus
from homeward.base.settings import get_settings
from homeward.records.locking import bump
from notifications.contexts import DigestContext, ItemLine, item_link
from notifications.i18n import item_title, stage_label
from notifications.outbox import enqueue
from notifications.recipients import Directory, Recipient
from notifications.rules import load_rules
from statemachines.return_case import State
from tasks import checklist


@dataclass(frozen=True)
class FollowUpReport:
    """What one pass did: cases looked at, visit items created, invitations queued."""

    cases: int = 0
    visits_created: int = 0
    invitations_queued: int = 0


def schedule_follow_ups(session: Session, *, now: datetime) -> FollowUpReport:
    """For every case in reintegration, create missing follow-up items and invite to visits.

    Idempotent: a second call the same day creates and queues nothing. Writes in ``session``.
    """
    created = queued = 0
    with system_scope(session):  # a sweep over every organisation's cases
        cases = list(
            session.exec(
                select(Case).where(
                    Case.state == State.REINTEGRATION, Case.status == CaseStatus.ACTIVE
                )
            )
        )
        directory = Directory(session)
        for case in cases:
            new = checklist.create_stage_items(session, case=case, stage=case.state, now=now)
            if new:  # new items change the case: a concurrent transition conflicts with us
                bump(session, case)
            created += sum(load_rules().is_visit(item.code) for item in new)
            queued += _invite(session, case, directory, now)
    return FollowUpReport(len(cases), created, queued)


def _open_visits(session: Session, case: Case) -> list[ChecklistItem]:
    query = select(ChecklistItem).where(
        ChecklistItem.case_id == case.id,
        ChecklistItem.status == ItemStatus.OPEN,
        col(ChecklistItem.code).in_(sorted(load_rules().calendar_items)),
    )
    return list(session.exec(query.order_by(col(ChecklistItem.due_at))))


def _invite(session: Session, case: Case, directory: Directory, now: datetime) -> int:
    tz, queued = get_settings().tz, 0
    today = now.astimezone(tz).date()
    for item in _open_visits(session, case):
        due_on = item.due_at.astimezone(tz).date()
        if due_on < today:
            continue  # overdue visits are the reminders' business, not an invitation's
        assignee = directory.member(item.assignee_id)
        for recipient in [assignee] if assignee else directory.audience(item.owner_org_id):
            line = _line(item, case, recipient, directory, due_on, (due_on - today).days)
            context = DigestContext(
                day=today,
                org_name=directory.org_name(recipient.org_id),
                coming_due=(line,),
                genitives=directory.genitives(recipient.org_id),
            )
            row = enqueue(
                session,
                key=f"visit:item-{item.id}:due-{due_on.isoformat()}:{recipient.key}",
                template="digest",
                to=[recipient.address],
                language=recipient.language,
                context=context,
                now=now,
                org_id=recipient.org_id,
            )
            queued += row is not None
    return queued


def _line(
    item: ChecklistItem,
    case: Case,
    recipient: Recipient,
    directory: Directory,
    due_on: date,
    days: int,
) -> ItemLine:
    return ItemLine(
        case_ref=case.case_ref,
        stage=stage_label(item.stage, recipient.language),
        item_number=item.id or 0,
        item_title=item_title(item.code, recipient.language, process_version=case.process_version),
        org_name=directory.org_name(item.owner_org_id),
        due_on=due_on,
        days=days,
        link=item_link(item.id or 0),
        calendar_uid=f"item-{item.id}-{due_on:%Y%m%d}",
    )

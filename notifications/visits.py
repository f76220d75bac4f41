"""Follow-up visits of cases in reintegration: make sure they exist, and invite to each one by
its own calendar email (``notifications.invitations``), ahead of the digest reminders.

The items come from the case's checklist catalog (``tasks.checklist.create_stage_items``,
idempotent). Each open visit due today or later gets one invitation per reader (template
``visit``: ``METHOD:REQUEST``, a UID naming the item, never its date); a visit moved, cancelled
or handed on since is updated (a higher SEQUENCE) or cancelled by the same comparison, which
also runs after every change of the case. The digests list visits among the other items and
attach nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from homeward.base.db import system_scope
from homeward.base.models import Case, CaseStatus
from homeward.records.locking import bump
from notifications.invitations import sync_case
from notifications.recipients import Directory
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
            created += sum(load_rules().is_visit(code) for code in new)
            queued += sync_case(session, case, now=now, directory=directory, invite_visits=True)
    return FollowUpReport(len(cases), created, queued)

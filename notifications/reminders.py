"""The daily reminder run: the rules of ``rules.json`` applied to every open checklist item of
every active case, one digest per staff member and escalations to supervisors, all queued in
the caller's transaction.

The run happens once per local day, at or after ``HOMEWARD_MAIL_DIGEST_HOUR`` (a
``ReminderRun`` row per day, inserted first, makes a second call that day, or a concurrent one,
a no-op). Each rule fires at most once per item and due date (a ``Reminder`` row each), so a
run missed yesterday is caught up today and nothing is said twice. Suspended, closed,
consent-withdrawn and lost-contact cases get no reminders.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import date, datetime

from sqlmodel import Session, col, select

from homeward.db import system_scope
from homeward.faults import crash_point
from homeward.models import Case, ChecklistItem, ItemStatus, Reminder, ReminderRun
from homeward.settings import get_settings
from notifications.contexts import (
    Context,
    DigestContext,
    EscalationContext,
    ItemLine,
    case_link,
)
from notifications.i18n import item_title, stage_label
from notifications.outbox import enqueue, insert_ignoring_duplicates
from notifications.recipients import Directory, Recipient, by_language
from notifications.rules import Firing, ReminderRules, Section, load_rules
from statemachines.return_case import ACTIVE

REMINDED_STAGES = tuple(str(stage) for stage in ACTIVE)


@dataclass(frozen=True)
class ReminderReport:
    """How many rules fired in a run, by kind, and how many emails it queued."""

    coming_due: int = 0
    due_today: int = 0
    overdue: int = 0
    escalated: int = 0
    queued: int = 0


def queue_reminders(session: Session, *, now: datetime) -> ReminderReport:
    """Apply the reminder rules for the local day of ``now`` and queue the emails.

    Idempotent: the first call on a day at or after the digest hour does the work; any other
    call returns an empty report. Writes in ``session``; the caller commits.

    Args:
        session: a write session.
        now: the moment of the run (aware); its local day and hour are what count.

    Returns:
        Counts of fired rules (coming due, due today, overdue, escalated) and queued emails.
    """
    settings = get_settings()
    local = now.astimezone(settings.tz)
    if local.hour < settings.mail_digest_hour or not _claim_day(session, local.date(), now):
        return ReminderReport()
    with system_scope(session):  # the sweep reads every organisation's items
        run = _Run(session, today=local.date(), now=now, rules=load_rules())
        for item, case in _open_items(session):
            crash_point("sweep-mid")
            run.consider(item, case)
        report = run.finish()
    _record_run(session, local.date(), report)
    return report


def _claim_day(session: Session, day: date, now: datetime) -> bool:
    table = ReminderRun.__table__  # type: ignore[attr-defined]
    return (
        insert_ignoring_duplicates(session, table, {"day": day, "ran_at": now}, ["day"]) is not None
    )


def _record_run(session: Session, day: date, report: ReminderReport) -> None:
    run = session.exec(select(ReminderRun).where(ReminderRun.day == day)).one()
    for name in (f.name for f in fields(report)):
        setattr(run, name, getattr(report, name))
    session.add(run)
    session.flush()


def _open_items(session: Session) -> list[tuple[ChecklistItem, Case]]:
    query = (
        select(ChecklistItem, Case)
        .where(ChecklistItem.case_id == Case.id)
        .where(ChecklistItem.status == ItemStatus.OPEN, col(Case.state).in_(REMINDED_STAGES))
        .order_by(col(ChecklistItem.due_at), col(ChecklistItem.id))
    )
    return list(session.exec(query))


class _Run:
    """One day's run: fires rules item by item, then queues one digest per recipient."""

    def __init__(self, session: Session, *, today: date, now: datetime, rules: ReminderRules):
        self.session, self.today, self.now, self.rules = session, today, now, rules
        self.directory = Directory(session)
        self.tz = get_settings().tz
        self.digests: dict[Recipient, dict[Section, list[ItemLine]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self.counts: dict[Section, int] = defaultdict(int)
        self.queued = 0

    def consider(self, item: ChecklistItem, case: Case) -> None:
        """Fire whatever the item's rule says for today (each rule once per due date)."""
        due_on = item.due_at.astimezone(self.tz).date()
        rule = self.rules.for_item(item.code)
        days_left = (due_on - self.today).days
        for firing in rule.firings(days_left=days_left, escalated=item.escalated_at is not None):
            recipients = self._recipients(item, firing)
            if recipients and self._fire(item, firing, due_on):
                self.counts[firing.section] += 1
                self._deliver(item, case, firing, recipients, due_on, days_left)

    def _recipients(self, item: ChecklistItem, firing: Firing) -> list[Recipient]:
        if firing.section is Section.ESCALATION:
            return self.directory.supervisors(item.owner_org_id)
        assignee = self.directory.member(item.assignee_id)
        return [assignee] if assignee else self.directory.audience(item.owner_org_id)

    def _fire(self, item: ChecklistItem, firing: Firing, due_on: date) -> bool:
        table = Reminder.__table__  # type: ignore[attr-defined]
        values = {"item_id": item.id, "rule": firing.rule, "due_on": due_on, "fired_at": self.now}
        unique = ["item_id", "rule", "due_on"]
        return insert_ignoring_duplicates(self.session, table, values, unique) is not None

    def _deliver(
        self,
        item: ChecklistItem,
        case: Case,
        firing: Firing,
        recipients: list[Recipient],
        due_on: date,
        days_left: int,
    ) -> None:
        if firing.section is Section.ESCALATION:
            self._escalate(item, case, recipients, due_on, -days_left)
            return
        for recipient in recipients:
            line = self._line(item, case, recipient.language, due_on, days_left)
            self.digests[recipient][firing.section].append(line)

    def _line(
        self, item: ChecklistItem, case: Case, language: str, due_on: date, days_left: int
    ) -> ItemLine:
        visit = self.rules.is_visit(item.code) and days_left >= 0
        return ItemLine(
            case_ref=case.case_ref,
            stage=stage_label(item.stage, language),
            item_number=item.id or 0,
            item_title=item_title(item.code, language, process_version=case.process_version),
            org_name=self.directory.org_name(item.owner_org_id),
            due_on=due_on,
            days=days_left,
            link=case_link(case.case_ref),
            calendar_uid=f"item-{item.id}-{due_on:%Y%m%d}" if visit else None,
        )

    def _escalate(
        self,
        item: ChecklistItem,
        case: Case,
        recipients: list[Recipient],
        due_on: date,
        days_late: int,
    ) -> None:
        item.escalated_at = self.now
        self.session.add(item)
        for language, group in by_language(recipients).items():
            context = EscalationContext(
                case_ref=case.case_ref,
                stage=stage_label(item.stage, language),
                item_number=item.id or 0,
                item_title=item_title(item.code, language, process_version=case.process_version),
                org_name=self.directory.org_name(item.owner_org_id),
                due_on=due_on,
                days=days_late,
                link=case_link(case.case_ref),
            )
            key = f"escalation:item-{item.id}:due-{due_on.isoformat()}:{language}"
            self._queue(key, "escalation", [r.address for r in group], language, context)

    def _queue(
        self, key: str, template: str, to: list[str], language: str, context: Context
    ) -> None:
        row = enqueue(
            self.session,
            key=key,
            template=template,
            to=to,
            language=language,
            context=context,
            now=self.now,
        )
        self.queued += row is not None

    def finish(self) -> ReminderReport:
        """Queue one digest per recipient and report the run."""
        for recipient, sections in sorted(self.digests.items(), key=lambda kv: kv[0].key):
            context = DigestContext(
                day=self.today,
                org_name=self.directory.org_name(recipient.org_id),
                overdue=tuple(sections[Section.OVERDUE]),
                due_today=tuple(sections[Section.DUE_TODAY]),
                coming_due=tuple(sections[Section.COMING_DUE]),
            )
            key = f"digest:{recipient.key}:{self.today.isoformat()}"
            self._queue(key, "digest", [recipient.address], recipient.language, context)
        self.session.flush()
        return ReminderReport(
            coming_due=self.counts[Section.COMING_DUE],
            due_today=self.counts[Section.DUE_TODAY],
            overdue=self.counts[Section.OVERDUE],
            escalated=self.counts[Section.ESCALATION],
            queued=self.queued,
        )

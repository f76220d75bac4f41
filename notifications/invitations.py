"""Calendar invitations kept true to their items: follow-up visits and appointments, each one
calendar event (one ``UID``) for its whole life, in its own email (template ``visit`` or
``appointment``), never inside a digest.

``CalendarEntry`` rows remember what each attendee's calendar was last sent about an item.
``sync_item`` compares that with what the item says now and sends only the difference:

| the item now                                | the reader's entry  | sent                  |
|---------------------------------------------|---------------------|-----------------------|
| open, its case at work, reader still its own | none               | REQUEST (if invited)  |
| same                                        | other start, or cancelled | REQUEST, SEQUENCE+1 |
| cancelled or skipped; case paused or ended; reader no longer its own | live | CANCEL, SEQUENCE+1 |
| done                                        | any                 | nothing (it happened) |

So a CANCEL follows from the item, however it was cancelled (consent withdrawn, case closed,
a stage left, a family member removed, skipped, lost contact), and a move from its start,
however it moved (a new due date, rescheduled, contact regained). ``on_case_event`` runs the
comparison for the case after every event of its history, in the change's transaction;
first invitations to visits come from the daily follow-up pass (``notifications.visits``),
to appointments as soon as they are added.

Each attendee gets their own message naming them as the only ``ATTENDEE``, with times in the
time zone of their organisation's country (``homeward.base.countries.country_zone``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, or_
from sqlmodel import Session, col, select

from homeward.base.clock import utc
from homeward.base.countries import country_zone
from homeward.base.hooks import subscribe
from homeward.base.models import (
    CalendarEntry,
    Case,
    CaseEvent,
    CaseStatus,
    ChecklistItem,
    ItemStatus,
)
from homeward.base.settings import get_settings
from notifications.contexts import AppointmentContext, VisitContext, item_link
from notifications.i18n import item_title, stage_label
from notifications.outbox import enqueue
from notifications.recipients import Directory
from notifications.rules import load_rules
from tasks import adhoc

TEMPLATES = {"visit": "visit", "appointment": "appointment"}
"""The email kind of each calendar kind (both their own, neither a digest)."""


def calendar_kind(item: ChecklistItem) -> str | None:
    """``appointment`` (an item with a start), ``visit`` (a follow-up visit) or None."""
    if item.starts_at is not None:
        return "appointment"
    return "visit" if load_rules().is_visit(item.code) else None


def at_work(case: Case) -> bool:
    """Whether the case's work goes on now: the cases the daily reminders cover. A paused
    case's visits leave the calendar, and come back (same UID) when it resumes."""
    return case.status == CaseStatus.ACTIVE


def uid_of(item: ChecklistItem, kind: str) -> str:
    """The item's calendar UID (before ``@domain``): the item, never a date."""
    return f"{kind}-item-{item.id}"


@dataclass(frozen=True)
class _Reader:
    address: str
    language: str
    tzid: str
    org_id: int  # whose working days and hours its mail waits for (``notifications.urgency``)


def _readers(directory: Directory, item: ChecklistItem) -> dict[str, _Reader]:
    """Who the item's calendar event is for: its assignee, else its organisation's working
    staff (as for its reminders), each in their organisation's time zone."""
    assignee = directory.member(item.assignee_id)
    found = {}
    for recipient in [assignee] if assignee else directory.audience(item.owner_org_id):
        org = directory.orgs.get(recipient.org_id)
        zone = (country_zone(org.country) if org else None) or get_settings().tz
        found[recipient.address] = _Reader(
            recipient.address, recipient.language, str(zone), recipient.org_id
        )
    return found


def sync_item(
    session: Session,
    *,
    item: ChecklistItem,
    case: Case,
    now: datetime,
    directory: Directory | None = None,
    invite: bool = False,
) -> int:
    """Send each attendee of ``item`` what changed since their last invitation (see the
    module's table); ``invite``: also invite when no one was yet. Returns the emails queued."""
    kind = calendar_kind(item)
    if kind is None or item.id is None or item.status == ItemStatus.DONE:
        return 0
    query = select(CalendarEntry).where(CalendarEntry.item_id == item.id)
    entries = {e.address: e for e in session.exec(query.order_by(col(CalendarEntry.id)))}
    start = utc(item.starts_at or item.due_at)
    live = item.status == ItemStatus.OPEN and at_work(case)
    if not entries and not (live and invite and start > now):
        return 0
    directory = directory or Directory(session)
    changes = _changes(entries, _readers(directory, item) if live else {}, start)
    if not changes:
        return 0
    first = _first_sequence(session, item)
    sequence = max((e.sequence + 1 for e in entries.values()), default=first)
    mail = _Mail(session, item, case, kind, directory, now, sequence)
    return sum(mail.send(entry, reader, start) for entry, reader in changes)


def _first_sequence(session: Session, item: ChecklistItem) -> int:
    """An appointment invited before entries were kept starts from its counted changes."""
    return adhoc.sequence(session, item) if item.starts_at is not None else 0


def _changes(
    entries: dict[str, CalendarEntry], wanted: dict[str, _Reader], start: datetime
) -> list[tuple[CalendarEntry | None, _Reader | None]]:
    """(entry, reader) pairs to send: reader None cancels the entry; entry None is new."""
    changes: list[tuple[CalendarEntry | None, _Reader | None]] = []
    for address, entry in entries.items():
        reader = wanted.get(address)
        if reader is None and not entry.cancelled:
            changes.append((entry, None))
        elif reader is not None and (entry.cancelled or utc(entry.starts_at) != start):
            changes.append((entry, reader))
    changes += [(None, reader) for address, reader in wanted.items() if address not in entries]
    return changes


@dataclass
class _Mail:
    """One sync's emails: all at the same new ``sequence``."""

    session: Session
    item: ChecklistItem
    case: Case
    kind: str
    directory: Directory
    now: datetime
    sequence: int

    def send(self, entry: CalendarEntry | None, reader: _Reader | None, start: datetime) -> int:
        """Queue one attendee's REQUEST (reader given) or CANCEL; remember what was sent."""
        entry = entry or self._new_entry(reader, start)
        cancelled = reader is None
        if reader is not None:
            entry.language, entry.tzid, entry.starts_at = reader.language, reader.tzid, start
        entry.sequence, entry.cancelled, entry.sent_at = self.sequence, cancelled, self.now
        self.session.add(entry)
        self.session.flush()
        row = enqueue(
            self.session,
            key=f"{TEMPLATES[self.kind]}:item-{self.item.id}:seq-{self.sequence}:entry-{entry.id}",
            template=TEMPLATES[self.kind],
            to=[entry.address],
            language=entry.language,
            context=self._context(entry),
            now=self.now,
            # a former reader's cancellation waits (if it may) for the item's organisation
            org_id=reader.org_id if reader is not None else self.item.owner_org_id,
        )
        return int(row is not None)

    def _new_entry(self, reader: _Reader | None, start: datetime) -> CalendarEntry:
        assert reader is not None and self.item.id is not None  # noqa: S101
        return CalendarEntry(
            item_id=self.item.id,
            address=reader.address,
            language=reader.language,
            tzid=reader.tzid,
            uid=uid_of(self.item, self.kind),
            starts_at=start,
            sent_at=self.now,
        )

    def _context(self, entry: CalendarEntry) -> AppointmentContext:
        item, language = self.item, entry.language
        assert item.id is not None  # noqa: S101
        start = utc(entry.starts_at)
        local = start.astimezone(ZoneInfo(entry.tzid))
        model = VisitContext if self.kind == "visit" else AppointmentContext
        return model(
            case_ref=self.case.case_ref,
            stage=stage_label(item.stage, language),
            item_number=item.id,
            item_title=item_title(item.code, language, process_version=self.case.process_version),
            org_name=self.directory.org_name(item.owner_org_id),
            due_on=local.date(),
            time=f"{local:%H:%M}",
            starts_at=start,
            sequence=self.sequence,
            cancelled=entry.cancelled,
            calendar_uid=entry.uid,
            link=item_link(item.id),
            tzid=entry.tzid,
            attendee=entry.address,
            genitives=self.directory.genitives(item.owner_org_id),
        )


@cache
def _calendar_items_query() -> Any:
    """``calendar_items``' statement, built once (every case event asks it)."""
    sent = select(CalendarEntry.item_id)
    query = select(ChecklistItem).where(
        ChecklistItem.case_id == bindparam("case_id"),
        or_(
            col(ChecklistItem.id).in_(sent),
            (col(ChecklistItem.status) == ItemStatus.OPEN)
            & or_(
                col(ChecklistItem.starts_at).is_not(None),
                col(ChecklistItem.code).in_(sorted(load_rules().calendar_items)),
            ),
        ),
    )
    return query.order_by(col(ChecklistItem.due_at), col(ChecklistItem.id))


def calendar_items(session: Session, case: Case) -> list[ChecklistItem]:
    """The case's items that have, or may get, a calendar event: open visits and
    appointments, and any item an attendee's calendar already shows."""
    return list(session.exec(_calendar_items_query(), params={"case_id": case.id}))


def sync_case(
    session: Session,
    case: Case,
    *,
    now: datetime,
    directory: Directory | None = None,
    invite_visits: bool = False,
) -> int:
    """``sync_item`` for every calendar item of ``case``: appointments are invited as soon as
    they exist, visits only when ``invite_visits`` (the daily follow-up pass). Returns the
    emails queued."""
    items = calendar_items(session, case)
    if items and directory is None:
        directory = Directory(session)  # loaded once for the case's items, only when needed
    queued = 0
    for item in items:
        invite = invite_visits or item.starts_at is not None
        queued += sync_item(
            session, item=item, case=case, now=now, directory=directory, invite=invite
        )
    return queued


@subscribe
def on_case_event(session: Session, case: Case, event: CaseEvent) -> None:
    """After any change to a case: its calendars follow its items (in the same transaction)."""
    sync_case(session, case, now=event.at)

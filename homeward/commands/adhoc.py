"""Ad-hoc items and appointments as commands: add one outside the catalog, reschedule it,
cancel it, and list a case's (``tasks.adhoc`` holds the rules and who may).

Free text (the item's own title, a reason) stays out of request fingerprints (``private``) and
is shown only through ``tasks.notes``/``tasks.adhoc.read_title`` (audited by the vault). An
appointment (an item with a start) gets a calendar invitation by email when it is added, moved
or cancelled (template ``appointment``: the kind's generic title, the case_ref and the time,
never the free title), to the item's assignee, else its organisation's working staff.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlmodel import Session

from homeward.base.clock import utc
from homeward.base.errors import InvalidInput
from homeward.base.models import Case, ChecklistItem
from homeward.base.settings import get_settings
from homeward.commands.items import ItemChanged, ItemCommand, changed, stored_id
from homeward.commands.runner import Command, Context
from homeward.records.directory import get_org, get_staff, orgs_by_id
from statemachines.cases import get_case
from tasks import adhoc


def parse_time(value: str | None) -> time | None:
    """``HH:MM`` (24-hour) as a time, None for nothing; else one line naming ``at``."""
    if value is None or not value.strip():
        return None
    try:
        hours, minutes = value.strip().split(":")
        if len(hours) != 2 or len(minutes) != 2:  # noqa: PLR2004 (HH:MM)
            raise ValueError
        return time(int(hours), int(minutes))
    except ValueError:
        raise InvalidInput("at: not a time; give HH:MM, e.g. 09:30") from None


def invite(session: Session, item: ChecklistItem, case: Case, now: datetime) -> int:
    """Bring the calendars of an appointment's readers up to date: an invitation when added,
    an update (a higher SEQUENCE, same UID) when moved, a cancellation when cancelled
    (``notifications.invitations``, which the case history's listener also runs); returns how
    many emails were queued. Items without a start get none."""
    if item.starts_at is None:
        return 0
    from notifications import invitations  # the mail package loads only for a write that mails

    return invitations.sync_item(session, item=item, case=case, now=now, invite=True)


@dataclass(frozen=True)
class AddAdhocItem(ItemCommand):
    """Add an item outside the catalog to case ``ref``: ``kind`` (``tasks.adhoc``), owned by
    organisation ``owner`` (slug), due on ``on`` (at the local time ``at``, HH:MM, for an
    appointment, in the ``zone`` home or host), with an optional free ``title`` (encrypted)
    and ``assignee`` (email of the owner organisation's staff)."""

    ref: str
    kind: str
    owner: str
    on: date
    at: str | None = None
    zone: str = "home"
    title: str | None = None
    assignee: str | None = None
    expected_version: int | None = None
    name = "items add"
    private = ("title",)

    def execute(self, ctx: Context) -> ItemChanged:
        session = ctx.session
        start = parse_time(self.at)
        case = get_case(session, case_ref=self.ref, actor=ctx.staff)
        owner = get_org(session=session, slug=self.owner)
        assignee = get_staff(session=session, email=self.assignee) if self.assignee else None
        item = adhoc.add_item(
            session,
            case=case,
            actor=ctx.staff,
            kind=self.kind,
            owner=owner,
            on=self.on,
            at=start,
            zone=self.zone,
            title=self.title,
            assignee=assignee,
            now=ctx.now,
            expected_version=self.expected_version,
        )
        invite(session, item, case, ctx.now)
        return changed(session, stored_id(item), assignee.email if assignee else None)

    def args(self) -> Mapping[str, Any]:
        return {**super().args(), "on": self.on.isoformat()}


@dataclass(frozen=True)
class RescheduleItem(ItemCommand):
    """Move an open ad-hoc item to the day ``on`` (and local time ``at`` for an appointment),
    with a reason (encrypted)."""

    item_id: int
    on: date
    reason: str
    at: str | None = None
    zone: str = "home"
    expected_version: int | None = None
    name = "items reschedule"
    private = ("reason",)

    def execute(self, ctx: Context) -> ItemChanged:
        item = adhoc.reschedule(
            ctx.session,
            item_id=self.item_id,
            actor=ctx.staff,
            on=self.on,
            at=parse_time(self.at),
            zone=self.zone,
            reason=self.reason,
            now=ctx.now,
            expected_version=self.expected_version,
        )
        invite(ctx.session, item, _case(ctx.session, item), ctx.now)
        return changed(ctx.session, stored_id(item))

    def args(self) -> Mapping[str, Any]:
        return {**super().args(), "on": self.on.isoformat()}


@dataclass(frozen=True)
class CancelItem(ItemCommand):
    """Cancel an open ad-hoc item, with a reason (encrypted); an appointment's calendar entry
    is cancelled too."""

    item_id: int
    reason: str
    expected_version: int | None = None
    name = "items cancel"
    private = ("reason",)

    def execute(self, ctx: Context) -> ItemChanged:
        item = adhoc.cancel(
            ctx.session,
            item_id=self.item_id,
            actor=ctx.staff,
            reason=self.reason,
            now=ctx.now,
            expected_version=self.expected_version,
        )
        invite(ctx.session, item, _case(ctx.session, item), ctx.now)
        return changed(ctx.session, stored_id(item))


def _case(session: Session, item: ChecklistItem) -> Case:
    case = session.get(Case, item.case_id)
    assert case is not None  # noqa: S101 (the engine found it)
    return case


@dataclass(frozen=True)
class AdhocLine:
    """One ad-hoc item as its case's appointments page lists it. ``title``: its own title,
    for a reader who may read it (the read audited), else None; ``kind_title`` is generic."""

    item_id: int
    kind: str
    kind_title: str
    title: str | None
    owner: str
    owner_id: int
    assignee_id: int | None
    due_at: datetime
    starts_at: datetime | None
    status: str
    may_change: bool


@dataclass(frozen=True)
class AdhocView:
    """A case's ad-hoc items, and the organisations an item may be added for."""

    case_ref: str
    state: str
    lines: list[AdhocLine]
    owners: list[str]
    may_add: bool


@dataclass(frozen=True)
class ListAdhoc(Command[AdhocView]):
    """A case's ad-hoc items with their own titles where the reader may read them (a write:
    each title read is audited by the vault), soonest first."""

    ref: str
    language: str = "en"
    name = "items adhoc"

    def execute(self, ctx: Context) -> AdhocView:
        from notifications.i18n import item_title  # the mail package: not for every items command

        session, who = ctx.session, ctx.staff
        case = get_case(session, case_ref=self.ref, actor=who)
        orgs = orgs_by_id(session)
        lines = [
            AdhocLine(
                stored_id(item),
                adhoc.kind_of(item),
                item_title(item.code, self.language, process_version=case.process_version),
                adhoc.read_title(session, case, item, who, ctx.now),
                orgs[item.owner_org_id].slug,
                item.owner_org_id,
                item.assignee_id,
                item.due_at,
                item.starts_at,
                item.status,
                item.status == "open" and adhoc.may_change(session, who, case, item),
            )
            for item in adhoc.adhoc_items(session, case)
        ]
        owners = [orgs[org_id].slug for org_id in adhoc.owner_choices(session, case, who)]
        return AdhocView(case.case_ref, case.phase, lines, owners, bool(owners))


def local_time(moment: datetime) -> str:
    """A start as ``YYYY-MM-DD HH:MM`` in HOMEWARD_TIMEZONE."""
    return f"{utc(moment).astimezone(get_settings().tz):%Y-%m-%d %H:%M}"

"""Checklist items as commands: list, show (with its notes), done, skip, assign, reopen, due;
their handoffs are in ``homeward.commands.handoffs``.

Each command calls the engine (``tasks``) as the proven staff member; the engine checks the
permission table, the case's version and the procedure. Free text (notes and reasons) is kept
out of request fingerprints, and shown only through ``tasks.notes.read`` (audited by the vault).
Write commands return ``ItemChanged``, flat enough for a request key to keep.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from sqlmodel import Session

from homeward.base.clock import local_date
from homeward.base.db import widest_scope
from homeward.base.models import ChecklistItem, Organisation
from homeward.commands.runner import Command, Context
from homeward.commands.texts import TextLine
from homeward.records.directory import get_org, get_staff, orgs_by_id
from statemachines.cases import get_case
from tasks import checklist, checklist_changes, notes
from tasks.catalog import load_catalog
from tasks.queries import ItemFilter, list_items


@dataclass(frozen=True)
class ItemChanged:
    """An item after a change: its number and code, its due day, and its case as flows name
    it (case_ref, the case's stage, the owner organisation's kind). No names, no free text."""

    item_id: int
    code: str
    due_on: str
    case_ref: str
    stage: str
    org_kind: str
    assignee: str | None = None


def changed(session: Session, item_id: int, assignee: str | None = None) -> ItemChanged:
    """The view of an item after a change the engine allowed (read as the system: a rejected
    handoff may leave the case out of the actor's sight)."""
    with widest_scope(session):
        item, case = checklist.get_item(session, item_id)
        owner = session.get(Organisation, case.owner_org_id)
    return ItemChanged(
        item_id,
        item.code,
        local_date(item.due_at).isoformat(),
        case.case_ref,
        case.phase,
        str(owner.kind) if owner else "unknown",
        assignee,
    )


class ItemCommand(Command[ItemChanged]):
    """An item write: keyed commands keep their ``ItemChanged``; free text stays out of args."""

    view = ItemChanged
    private: ClassVar[tuple[str, ...]] = ()

    def args(self) -> Mapping[str, Any]:
        return {k: v for k, v in super().args().items() if k not in self.private}


@dataclass(frozen=True)
class DoneItem(ItemCommand):
    """Record an item as done (with its outcome, if it has outcomes; an optional note)."""

    item_id: int
    outcome: str | None = None
    note: str | None = None
    expected_version: int | None = None
    name = "items done"
    private = ("note", "expected_version")

    def execute(self, ctx: Context) -> ItemChanged:
        item = checklist.mark_done(
            ctx.session,
            item_id=self.item_id,
            actor=ctx.staff,
            now=ctx.now,
            outcome=self.outcome,
            note=self.note,
            expected_version=self.expected_version,
        )
        return changed(ctx.session, stored_id(item))


@dataclass(frozen=True)
class SkipItem(ItemCommand):
    """Record an item as skipped, with a reason (stored encrypted)."""

    item_id: int
    reason: str
    expected_version: int | None = None
    name = "items skip"
    private = ("reason", "expected_version")

    def execute(self, ctx: Context) -> ItemChanged:
        item = checklist.mark_skipped(
            ctx.session,
            item_id=self.item_id,
            actor=ctx.staff,
            now=ctx.now,
            reason=self.reason,
            expected_version=self.expected_version,
        )
        return changed(ctx.session, stored_id(item))


@dataclass(frozen=True)
class AssignItem(ItemCommand):
    """Give an item to one staff member (``to``: their email) of its owner organisation."""

    item_id: int
    to: str
    expected_version: int | None = None
    name = "items assign"

    def execute(self, ctx: Context) -> ItemChanged:
        assignee = get_staff(session=ctx.session, email=self.to)
        item = checklist.assign(
            ctx.session,
            item_id=self.item_id,
            assignee=assignee,
            actor=ctx.staff,
            now=ctx.now,
            expected_version=self.expected_version,
        )
        return changed(ctx.session, stored_id(item), assignee.email)


@dataclass(frozen=True)
class ReopenItem(ItemCommand):
    """Open a done or skipped item again, with a reason (stored encrypted)."""

    item_id: int
    reason: str
    expected_version: int | None = None
    name = "items reopen"
    private = ("reason",)

    def execute(self, ctx: Context) -> ItemChanged:
        item = checklist_changes.reopen_item(
            ctx.session,
            item_id=self.item_id,
            actor=ctx.staff,
            reason=self.reason,
            now=ctx.now,
            expected_version=self.expected_version,
        )
        return changed(ctx.session, stored_id(item))


@dataclass(frozen=True)
class ChangeDue(ItemCommand):
    """Move an open item's due date to the local day ``on``, with a reason (encrypted)."""

    item_id: int
    on: date
    reason: str
    expected_version: int | None = None
    name = "items due"
    private = ("reason",)

    def execute(self, ctx: Context) -> ItemChanged:
        item = checklist_changes.change_due(
            ctx.session,
            item_id=self.item_id,
            actor=ctx.staff,
            on=self.on,
            reason=self.reason,
            now=ctx.now,
            expected_version=self.expected_version,
        )
        return changed(ctx.session, stored_id(item))

    def args(self) -> Mapping[str, Any]:
        return {**super().args(), "on": self.on.isoformat()}


def stored_id(item: ChecklistItem) -> int:
    assert item.id is not None  # noqa: S101 (a stored row)
    return item.id


@dataclass(frozen=True)
class ItemLine:
    """One item as listed."""

    item_id: int
    case_ref: str
    stage: str
    title: str
    owner: str
    due_at: datetime
    status: str
    outcome: str | None
    partner_needed: str | None
    overdue: bool


@dataclass(frozen=True)
class ListItems(Command[list[ItemLine]]):
    """Checklist items the actor may see, soonest due first."""

    ref: str | None = None  # only this case
    mine: bool = False
    overdue: bool = False
    org: str | None = None
    status: str = "open"
    name = "items list"
    writes = False

    def execute(self, ctx: Context) -> list[ItemLine]:
        who, session = ctx.staff, ctx.session
        case = get_case(session, case_ref=self.ref, actor=who) if self.ref else None
        filters = ItemFilter(
            case_id=case.id if case else None,
            mine=self.mine,
            overdue=self.overdue,
            org_id=get_org(session=session, slug=self.org).id if self.org else None,
            status=None if self.status == "all" else self.status,
        )
        orgs = orgs_by_id(session)
        return [
            ItemLine(
                stored_id(item),
                case.case_ref,
                item.stage,
                load_catalog(case.process_version).spec(item.code).title,
                orgs[item.owner_org_id].slug,
                item.due_at,
                item.status,
                item.outcome,
                item.partner_needed,
                item.status == "open" and item.due_at < ctx.now,
            )
            for item, case in list_items(session, actor=who, now=ctx.now, filters=filters)
        ]


@dataclass(frozen=True)
class ItemShown:
    """One item with its note or skip reason and its handoffs' reasons."""

    item_id: int
    case_ref: str
    stage: str
    title: str
    owner: str
    due_at: datetime
    status: str
    outcome: str | None
    completed_at: datetime | None
    texts: list[TextLine]


@dataclass(frozen=True)
class ShowItem(Command[ItemShown]):
    """An item and its free texts (a write: each text read is audited by the vault)."""

    item_id: int
    name = "items show"

    def execute(self, ctx: Context) -> ItemShown:
        session, who = ctx.session, ctx.staff
        item, case = checklist.visible_item(session, self.item_id, who)
        texts = [
            TextLine(
                f"#{item.id}",
                t.label,
                notes.read(session, case=case, actor=who, text=t, now=ctx.now),
            )
            for t in notes.item_texts(session, item)
        ]
        return ItemShown(
            stored_id(item),
            case.case_ref,
            item.stage,
            load_catalog(case.process_version).spec(item.code).title,
            orgs_by_id(session)[item.owner_org_id].slug,
            item.due_at,
            item.status,
            item.outcome,
            item.completed_at,
            texts,
        )

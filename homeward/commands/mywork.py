"""My work: what waits for the signed-in person and their organisation, for the workspace's
first page. Pseudonymous lines only: case references, stages, item titles, organisations and
dates; never a word about the person a case is about.

Items: open checklist items their organisation owns or that are assigned to them, on cases the
organisation may see (``case_org_ids``, as everywhere), overdue first, then due today (the
person's calendar day), then coming up. Handoffs: items other organisations propose to hand to
theirs. Closures: for those who may decide them (supervisors of the owning organisation), the
closure requests waiting, their own requests marked (another supervisor decides those).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import union
from sqlmodel import Session, col, func, select

from homeward.base.clock import local_date, utc
from homeward.base.errors import InvalidInput
from homeward.base.models import (
    Case,
    CaseEvent,
    ChecklistItem,
    Handoff,
    HandoffStatus,
    ItemStatus,
    Organisation,
    StaffMember,
)
from homeward.commands.runner import Command, Context
from homeward.protection.access import cases_seen_by
from homeward.protection.permissions import Action, allowed
from homeward.records.directory import orgs_by_id
from notifications.i18n import item_title, locale, stage_label
from notifications.notices import handing_org
from statemachines.closure_requests import pending_request

MAX_LINES = 100  # items shown on a page (a phone screen's worth of scrolling); the rest counted
# The rest is counted up to here, then said as "more than": on PostgreSQL row security checks
# every row counted (~70 us each), and IOM Romania's 9,373 open items took 650 ms to count.
COUNT_CAP = 500
OWNERS = ("me", "unassigned", "others")  # assigned to me, to nobody, to a colleague


@dataclass(frozen=True)
class WorkLine:
    """One open item: which case, what, whose and when."""

    item_id: int
    case_ref: str
    stage: str
    stage_label: str
    title: str
    owner: str  # the owning organisation's slug
    assigned_to_me: bool
    assigned: bool
    due_at: datetime
    partner_needed: str | None


@dataclass(frozen=True)
class HandoffLine:
    """An item another organisation proposes to hand to the person's organisation."""

    item_id: int
    case_ref: str
    stage_label: str
    title: str
    from_org: str
    proposed_at: datetime


@dataclass(frozen=True)
class ClosureLine:
    """A closure request waiting for a supervisor of the case's owner."""

    case_ref: str
    stage_label: str
    reason: str | None  # a reason code
    requested_at: datetime
    asked_by_me: bool  # another supervisor decides it


@dataclass(frozen=True)
class MyWorkView:
    overdue: list[WorkLine]
    today: list[WorkLine]
    upcoming: list[WorkLine]
    more: int  # items beyond MAX_LINES not shown (at most: some may be on cases not visible)
    handoffs: list[HandoffLine]
    closures: list[ClosureLine]
    decides_closures: bool
    stages: list[tuple[str, str]] = field(default_factory=list)  # (stage, label): the filter
    more_than: bool = False  # ``more`` is a floor: the list was counted only up to COUNT_CAP


@dataclass(frozen=True)
class MyWork(Command[MyWorkView]):
    """The signed-in person's and their organisation's open work (filters: a case reference, a
    stage, an owner: ``me``, ``unassigned`` or ``others``)."""

    case: str | None = None
    stage: str | None = None
    owner: str | None = None
    name = "my work"
    writes = False

    def execute(self, ctx: Context) -> MyWorkView:
        me, session = ctx.staff, ctx.session
        if self.owner and self.owner not in OWNERS:
            raise InvalidInput(f"owner: choose one of {', '.join(OWNERS)}")
        language = me.language
        visible = _Visible(session, me)
        orgs = orgs_by_id(session)
        total, beyond = self._count(session, me)
        lines: list[WorkLine] = []
        scanned = 0
        while len(lines) < MAX_LINES and scanned < total:  # soonest due first, in pages
            rows = self._page(session, me, scanned, MAX_LINES)
            if not rows:
                break
            scanned += len(rows)
            visible.learn([case for _item, case in rows])
            lines += [
                _line(item, case, me, language, orgs[item.owner_org_id].slug)
                for item, case in rows
                if visible.case(case)
            ]
        today = local_date(ctx.now)
        groups: dict[str, list[WorkLine]] = {"overdue": [], "today": [], "upcoming": []}
        for line in lines[:MAX_LINES]:  # overdue, then today, then coming up
            if line.due_at < ctx.now:
                groups["overdue"].append(line)
            elif local_date(line.due_at) == today:
                groups["today"].append(line)
            else:
                groups["upcoming"].append(line)
        return MyWorkView(
            overdue=groups["overdue"],
            today=groups["today"],
            upcoming=groups["upcoming"],
            more=max(0, len(lines) - MAX_LINES) + (total - scanned),
            more_than=beyond,
            handoffs=_handoffs(session, me, visible, language, self.case),
            closures=_closures(session, me, language, self.case),
            decides_closures=_decides_closures(session, me),
            stages=[(stage, label) for stage, label in locale(language).stages.items()],
        )

    # Each side (the organisation's open items, the person's) is read from its own index in
    # due order (0016) and only as far as the page reaches: with an ``OR`` of the two, SQLite
    # walks every open item in the database, and PostgreSQL checks row security on every item
    # of the organisation before sorting them (bench/web_bench.py, bench/RESULTS.md).

    def _sides(self, me: StaffMember) -> list[Any]:
        return [ChecklistItem.owner_org_id == me.org_id, ChecklistItem.assignee_id == me.id]

    def _page(
        self, session: Session, me: StaffMember, offset: int, limit: int
    ) -> list[tuple[ChecklistItem, Case]]:
        """Rows ``offset`` to ``offset + limit`` of the person's list, soonest due first."""
        order = (col(ChecklistItem.due_at), col(ChecklistItem.id))
        sides = [
            select(col(ChecklistItem.id).label("id"), col(ChecklistItem.due_at).label("due_at"))
            .where(*self._conditions(me, side))
            .order_by(*order)
            .limit(offset + limit)
            .subquery()
            for side in self._sides(me)
        ]
        both = union(*(select(side.c.id, side.c.due_at) for side in sides)).subquery()
        ids = list(
            session.exec(
                select(both.c.id).order_by(both.c.due_at, both.c.id).offset(offset).limit(limit)
            )
        )
        if not ids:
            return []
        rows = session.exec(
            select(ChecklistItem, Case)
            .where(ChecklistItem.case_id == Case.id)
            .where(col(ChecklistItem.id).in_(ids))
        ).all()
        found = {item.id: (item, case) for item, case in rows}
        return [found[i] for i in ids if i in found]

    def _count(self, session: Session, me: StaffMember) -> tuple[int, bool]:
        """How many items the list holds, counted only up to ``COUNT_CAP`` (each side from its
        own index, as far as the cap); True when it holds more."""
        sides = [
            select(col(ChecklistItem.id).label("id"))
            .where(*self._conditions(me, side))
            .limit(COUNT_CAP + 1)
            .subquery()
            for side in self._sides(me)
        ]
        both = union(*(select(side.c.id) for side in sides)).subquery()
        found = int(session.exec(select(func.count()).select_from(both)).one())
        return min(found, COUNT_CAP), found > COUNT_CAP

    def _conditions(self, me: StaffMember, *sides: Any) -> list[Any]:
        """Open items on a case, on ``sides`` (the organisation's, assigned to the person),
        filtered. The case is joined only to filter by its reference: an item the reader may
        read is on a case they may read (row security asks it of the item)."""
        where: list[Any] = [ChecklistItem.status == ItemStatus.OPEN, *sides]
        if self.case:
            where += [ChecklistItem.case_id == Case.id, Case.case_ref == self.case.strip().upper()]
        if self.stage:
            where.append(ChecklistItem.stage == self.stage)
        if self.owner == "me":
            where.append(ChecklistItem.assignee_id == me.id)
        elif self.owner == "unassigned":
            where.append(col(ChecklistItem.assignee_id).is_(None))
        elif self.owner == "others":
            where += [
                col(ChecklistItem.assignee_id).is_not(None),
                ChecklistItem.assignee_id != me.id,
            ]
        return where


class _Visible:
    """Which cases the person's organisation may see (``cases_seen_by``: asked once per case,
    for a page of rows at a time)."""

    def __init__(self, session: Session, me: StaffMember) -> None:
        self.session, self.org_id, self.seen = session, me.org_id, dict[int, bool]()

    def learn(self, cases: list[Case]) -> None:
        new = [case for case in cases if case.id not in self.seen]
        seen = cases_seen_by(self.session, self.org_id, new)
        self.seen.update({case.id: case.id in seen for case in new if case.id is not None})

    def case(self, case: Case) -> bool:
        if case.id not in self.seen:
            self.learn([case])
        return self.seen.get(case.id or 0, False)


def _line(item: ChecklistItem, case: Case, me: StaffMember, language: str, owner: str) -> WorkLine:
    assert item.id is not None  # noqa: S101 (a stored row)
    return WorkLine(
        item_id=item.id,
        case_ref=case.case_ref,
        stage=item.stage,
        stage_label=stage_label(item.stage, language),
        title=item_title(item.code, language, process_version=case.process_version),
        owner=owner,
        assigned_to_me=item.assignee_id == me.id,
        assigned=item.assignee_id is not None,
        due_at=utc(item.due_at),
        partner_needed=item.partner_needed,
    )


def _handoffs(
    session: Session, me: StaffMember, visible: _Visible, language: str, case_ref: str | None
) -> list[HandoffLine]:
    query = (
        select(Handoff, ChecklistItem, Case, Organisation)
        .where(Handoff.to_org_id == me.org_id, Handoff.status == HandoffStatus.PROPOSED)
        .where(Handoff.item_id == ChecklistItem.id, Handoff.case_id == Case.id)
        .where(Handoff.from_org_id == Organisation.id)
        .order_by(col(Handoff.proposed_at), col(Handoff.id))
    )
    if case_ref:
        query = query.where(Case.case_ref == case_ref.strip().upper())
    rows = session.exec(query.limit(MAX_LINES)).all()
    visible.learn([case for _handoff, _item, case, _org in rows])
    return [
        HandoffLine(
            item_id=item.id or 0,
            case_ref=case.case_ref,
            stage_label=stage_label(item.stage, language),
            title=item_title(item.code, language, process_version=case.process_version),
            # who handed it over (the case owner's staff may hand on a partner's item)
            from_org=session.get_one(Organisation, handing_org(session, handoff)).name,
            proposed_at=utc(handoff.proposed_at),
        )
        for handoff, item, case, _held_by in rows
        if visible.case(case)
    ]


def _decides_closures(session: Session, me: StaffMember) -> bool:
    """Whether the person's role and organisation let them decide closures of its cases."""
    org = session.get_one(Organisation, me.org_id)
    return allowed(org.kind, me.role, Action.DECIDE_CLOSURE)  # on the cases it owns


def _closures(
    session: Session, me: StaffMember, language: str, case_ref: str | None
) -> list[ClosureLine]:
    """Pending closure requests of the cases the person's organisation owns (and so sees)."""
    if not _decides_closures(session, me):
        return []

    asked = (
        select(Case)
        .where(Case.owner_org_id == me.org_id, col(Case.closed_at).is_(None))
        .where(
            col(Case.id).in_(
                select(CaseEvent.case_id).where(CaseEvent.trigger == "closure_requested")
            )
        )
        .order_by(col(Case.id))
    )
    if case_ref:
        asked = asked.where(Case.case_ref == case_ref.strip().upper())
    lines = []
    for case in session.exec(asked).all():
        request = pending_request(session, case)
        if request is None:
            continue
        lines.append(
            ClosureLine(
                case_ref=case.case_ref,
                stage_label=stage_label(case.phase, language),
                reason=request.reason,
                requested_at=utc(request.requested_at),
                asked_by_me=request.requested_by_id == me.id,
            )
        )
    return sorted(lines, key=lambda x: x.requested_at)[:MAX_LINES]

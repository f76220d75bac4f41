"""Follow-up visits as commands: record one (with its monitoring form), list a case's, show one
with its texts and answers (each read audited by the vault).

The engine (``tasks.visits``) checks the dates, the codes, the permission and moves the
follow-up item; the sustainability scores come from ``tasks.sustainability``. Texts and answers
stay out of request fingerprints (``RecordVisit.private``); lists carry codes, days and scores
only, and the scores only for readers of the visit's texts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from sqlmodel import Session

from homeward.base.models import Case, ChecklistItem, StaffMember, Visit
from homeward.commands.runner import Command, Context
from homeward.commands.texts import TextLine
from homeward.protection.permissions import Action, permits_item
from homeward.records.directory import orgs_by_id
from statemachines.cases import get_case
from tasks import notes, sustainability
from tasks import visits as engine


@dataclass(frozen=True)
class VisitRecorded:
    """A visit as recorded: its number, case, the item it did, its composite score, and
    whether a safety concern was reported (the page then suggests a suspension)."""

    visit_id: int
    case_ref: str
    item_id: int | None
    item_code: str | None
    composite: str | None  # "0.72": a kept request result holds codes, ids and text only
    sustainable: bool | None
    safety_concern: bool


@dataclass(frozen=True)
class RecordVisit(Command[VisitRecorded]):
    """Record a follow-up visit with its monitoring form (``answers``: question key, code)."""

    ref: str
    visited_on: date
    mode: str
    attended: str | None = None
    safety_concern: bool = False
    safety_note: str | None = None
    progress: str | None = None
    progress_note: str | None = None
    answers: tuple[tuple[str, str], ...] = ()
    item_id: int | None = None
    expected_version: int | None = None
    name = "visit record"
    view = VisitRecorded
    private: ClassVar[tuple[str, ...]] = ("attended", "safety_note", "progress_note", "answers")

    def args(self) -> Mapping[str, Any]:
        kept = {k: v for k, v in super().args().items() if k not in self.private}
        return {**kept, "visited_on": self.visited_on.isoformat()}

    def execute(self, ctx: Context) -> VisitRecorded:
        case = get_case(ctx.session, case_ref=self.ref, actor=ctx.staff)
        visit_in = engine.VisitIn(
            visited_on=self.visited_on,
            mode=self.mode,
            attended=self.attended,
            safety_concern=self.safety_concern,
            safety_note=self.safety_note,
            progress=self.progress,
            progress_note=self.progress_note,
            answers=dict(self.answers),
            item_id=self.item_id,
        )
        visit = engine.record_visit(
            ctx.session,
            case=case,
            visit_in=visit_in,
            actor=ctx.staff,
            now=ctx.now,
            expected_version=self.expected_version,
        )
        item = ctx.session.get(ChecklistItem, visit.item_id) if visit.item_id else None
        scores = sustainability.Scores(None, None, None, visit.composite_score)
        return VisitRecorded(
            _id(visit),
            case.case_ref,
            visit.item_id,
            item.code if item else None,
            None if visit.composite_score is None else f"{visit.composite_score:.2f}",
            scores.sustainable,
            visit.safety_concern,
        )


def _id(row: Visit | ChecklistItem) -> int:
    assert row.id is not None  # noqa: S101 (a stored row)
    return row.id


@dataclass(frozen=True)
class VisitLine:
    """One visit as listed. ``readable`` False: progress and scores are not the reader's."""

    visit_id: int
    visited_on: date
    mode: str
    org: str
    item_code: str | None
    safety_concern: bool
    readable: bool
    progress: str | None
    economic: float | None
    social: float | None
    psychosocial: float | None
    composite: float | None
    recorded_at: datetime


@dataclass(frozen=True)
class FollowUp:
    """An open follow-up item the reader may record a visit against."""

    item_id: int
    code: str
    owner: str
    due_at: datetime


@dataclass(frozen=True)
class VisitsView:
    """A case's visits, latest first, and what the reader may record next."""

    case_ref: str
    version: int
    visits: list[VisitLine]
    follow_ups: list[FollowUp]
    may_record: bool
    safety_concern: bool  # the latest visit reported one: consider suspending the case


def _line(session: Session, visit: Visit, case: Case, reader: StaffMember) -> VisitLine:
    readable = engine.may_read(session, visit, case, reader)
    item = session.get(ChecklistItem, visit.item_id) if visit.item_id else None

    def shown(value: Any) -> Any:
        return value if readable else None

    return VisitLine(
        _id(visit),
        visit.visited_on,
        visit.mode,
        orgs_by_id(session)[visit.org_id].slug,
        item.code if item else None,
        visit.safety_concern,
        readable,
        shown(visit.plan_progress),
        shown(visit.economic_score),
        shown(visit.social_score),
        shown(visit.psychosocial_score),
        shown(visit.composite_score),
        visit.recorded_at,
    )


@dataclass(frozen=True)
class ListVisits(Command[VisitsView]):
    """The follow-up visits of case ``ref`` (codes, days and, for readers, scores)."""

    ref: str
    name = "visit list"
    writes = False

    def execute(self, ctx: Context) -> VisitsView:
        session, who = ctx.session, ctx.staff
        case = get_case(session, case_ref=self.ref, actor=who)
        lines = [_line(session, v, case, who) for v in engine.visits_of(session, case)]
        open_now = engine.accepts_visits(case)
        orgs = orgs_by_id(session)
        follow_ups = [
            FollowUp(_id(i), i.code, orgs[i.owner_org_id].slug, i.due_at)
            for i in engine.open_follow_ups(session, case)
            if open_now and permits_item(session, who, Action.RECORD_OWN_ITEM, case, i)
        ]
        alone = open_now and engine.may_record_alone(session, case, who)
        return VisitsView(
            case.case_ref,
            case.version,
            lines,
            follow_ups,
            bool(follow_ups) or alone,
            bool(lines) and lines[0].safety_concern,
        )


@dataclass(frozen=True)
class Answer:
    """One answer of the monitoring form, as its question and label."""

    key: str
    question: str
    answer: str


@dataclass(frozen=True)
class VisitShown:
    """One visit with its texts and answers (None where the reader may not read them)."""

    case_ref: str
    line: VisitLine
    texts: list[TextLine]
    answers: list[Answer] | None


@dataclass(frozen=True)
class ShowVisit(Command[VisitShown]):
    """A visit with its texts and answers (a write: each read is audited by the vault)."""

    visit_id: int
    name = "visit show"

    def execute(self, ctx: Context) -> VisitShown:
        session, who = ctx.session, ctx.staff
        visit, case = engine.visible_visit(session, self.visit_id, who)
        texts, answers = [], None
        for text in engine.visit_texts(session, visit, case):
            read = notes.read(session, case=case, actor=who, text=text, now=ctx.now)
            if text.column == "answers":
                answers = _answers(read) if read is not None else None
            else:
                texts.append(TextLine(f"visit {visit.id}", text.label, read))
        return VisitShown(case.case_ref, _line(session, visit, case, who), texts, answers)


def _answers(stored: str) -> list[Answer]:
    given: dict[str, str] = json.loads(stored)
    return [
        Answer(q.key, q.text, q.label_of(given[q.key]))
        for q in sustainability.QUESTIONS
        if q.key in given
    ]

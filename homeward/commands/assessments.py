"""Structured assessments as commands: questions, record (risk, needs, family), list, show
(answers, audited), review, and the services proposed for the case's county.

The engine is ``tasks.assessments`` (questions, scoring, review, the travel guard's rule) and
``tasks.providers`` (the directory). Answers are free text as far as fingerprints go: a request
key covers the case and the kind, never the answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from homeward.base.models import Assessment, Case, StaffMember
from homeward.commands.runner import Command, Context
from homeward.protection.access import can_see
from homeward.protection.permissions import Action, permits
from homeward.protection.vault import may_read_text
from statemachines.cases import get_case
from tasks import assessments, providers

SUSPEND_HINT = "consider suspending: homeward case advance {ref} suspend"


@dataclass(frozen=True)
class QuestionLine:
    key: str
    label: str
    values: list[str]  # empty: free text
    required: bool


@dataclass(frozen=True)
class Questions(Command[list[QuestionLine]]):
    """The questions of an assessment kind: keys, allowed values, labels."""

    kind: str
    name = "assess questions"
    writes = False

    def execute(self, ctx: Context) -> list[QuestionLine]:
        ctx.staff  # noqa: B018 (signed-in staff only)
        return [
            QuestionLine(q.key, q.label, list(q.values), q.required)
            for q in assessments.questions(self.kind)
        ]


@dataclass(frozen=True)
class AssessmentRecorded:
    """An assessment just recorded: its number, kind, level, needs and the item it completed;
    ``suggest`` says what to do about a high risk."""

    assessment_id: int
    case_ref: str
    kind: str
    level: str | None
    needs: str  # codes, comma-separated (a request key keeps flat values)
    item_done: str | None
    review_needed: bool
    suggest: str | None


def _steer(session: Session, case: Case) -> tuple[bool, str | None]:
    state = assessments.steering(session, case)
    if not state.review_needed:
        return False, None
    return True, assessments.travel_refusal(session, case)


@dataclass(frozen=True)
class RecordAssessment(Command[AssessmentRecorded]):
    """Record a risk, needs or family assessment (answers encrypted under the case's key)."""

    ref: str
    kind: str
    answers: Mapping[str, str] = field(default_factory=dict)
    name = "assess record"
    view = AssessmentRecorded

    def args(self) -> Mapping[str, Any]:
        return {"ref": self.ref, "kind": self.kind}  # never the answers

    def execute(self, ctx: Context) -> AssessmentRecorded:
        session, who = ctx.session, ctx.staff
        assessments.questions(self.kind)  # a bad kind is one line before anything is read
        case = get_case(session, case_ref=self.ref, actor=who, for_update=True)
        done = assessments.record(
            session, case=case, actor=who, kind=self.kind, answers=self.answers, now=ctx.now
        )
        row = done.assessment
        assert row.id is not None  # noqa: S101
        review, suggest = _steer(session, case)
        return AssessmentRecorded(
            row.id,
            case.case_ref,
            row.kind,
            row.level,
            ",".join(row.needs),
            done.item_code,
            review,
            suggest,
        )


@dataclass(frozen=True)
class AssessmentLine:
    """One assessment as listed: codes and dates, no answers."""

    assessment_id: int
    kind: str
    level: str | None
    needs: list[str]
    assessed_on: date
    assessed_by: str
    assessed_by_id: int
    review: str | None
    reviewed_by: str | None
    reviewed_at: datetime | None


@dataclass(frozen=True)
class AssessmentsView:
    """A case's assessments and what they steer: the effective risk, whether it waits for a
    review (and the suggestion), the destination county, and what the viewer may do."""

    case_ref: str
    stage: str
    county: str | None
    lines: list[AssessmentLine]
    risk_level: str | None
    review_needed: bool
    suggest: str | None
    may_record: bool
    may_review: bool
    may_set_county: bool
    viewer_id: int


def _line(session: Session, row: Assessment) -> AssessmentLine:
    def email(staff_id: int | None) -> str | None:
        staff = session.get(StaffMember, staff_id) if staff_id else None
        return staff.email if staff else None

    assert row.id is not None  # noqa: S101
    return AssessmentLine(
        row.id,
        row.kind,
        row.level,
        list(row.needs),
        row.assessed_on,
        email(row.assessed_by_id) or "?",
        row.assessed_by_id,
        row.review,
        email(row.reviewed_by_id),
        row.reviewed_at,
    )


@dataclass(frozen=True)
class ListAssessments(Command[AssessmentsView]):
    """A case's assessments, oldest first, with its effective risk."""

    ref: str
    name = "assess list"
    writes = False

    def execute(self, ctx: Context) -> AssessmentsView:
        session, who = ctx.session, ctx.staff
        case = get_case(session, case_ref=self.ref, actor=who)
        state = assessments.steering(session, case)
        review, suggest = _steer(session, case)
        assert who.id is not None  # noqa: S101
        return AssessmentsView(
            case.case_ref,
            case.phase,
            case.destination_county,
            [_line(session, row) for row in assessments.of_case(session, case)],
            state.level,
            review,
            suggest,
            permits(session, who, Action.ENTER_PERSON, case),
            permits(session, who, Action.REVIEW_RISK, case),
            permits(session, who, Action.FIRE_TRIGGER, case),
            who.id,
        )


@dataclass(frozen=True)
class AssessmentShown:
    line: AssessmentLine
    case_ref: str
    answers: dict[str, str] | None  # None: the reader may not read them


def _visible(session: Session, who: StaffMember, assessment_id: int) -> tuple[Assessment, Case]:
    """An assessment whose case the reader sees; otherwise "not found", as a missing one."""
    row = assessments.get(session, assessment_id)
    case = session.get(Case, row.case_id)
    if case is None or not can_see(session, who, case):
        raise assessments.not_found(assessment_id)
    return row, case


@dataclass(frozen=True)
class ShowAssessment(Command[AssessmentShown]):
    """One assessment with its answers, for who may read the case's free text (audited)."""

    assessment_id: int
    name = "assess show"

    def case_ref(self) -> str | None:
        return None

    def execute(self, ctx: Context) -> AssessmentShown:
        session, who = ctx.session, ctx.staff
        row, case = _visible(session, who, self.assessment_id)
        assessor = session.get(StaffMember, row.assessed_by_id)
        parties = (assessor.org_id,) if assessor else ()
        answers = None
        if permits(session, who, Action.READ_NOTES) and may_read_text(
            session, case=case, actor=who, parties=parties
        ):
            answers = assessments.read_answers(session, case=case, row=row, actor=who, now=ctx.now)
        return AssessmentShown(_line(session, row), case.case_ref, answers)


@dataclass(frozen=True)
class AssessmentReviewed:
    assessment_id: int
    case_ref: str
    level: str | None
    review: str | None


@dataclass(frozen=True)
class ReviewAssessment(Command[AssessmentReviewed]):
    """A supervisor's review of a risk assessment: agree (``level`` None) or set a level."""

    assessment_id: int
    level: str | None = None
    name = "assess review"
    view = AssessmentReviewed

    def case_ref(self) -> str | None:
        return None

    def execute(self, ctx: Context) -> AssessmentReviewed:
        session, who = ctx.session, ctx.staff
        row, case = _visible(session, who, self.assessment_id)
        row = assessments.review(
            session, case=case, row=row, actor=who, level=self.level, now=ctx.now
        )
        assert row.id is not None  # noqa: S101
        return AssessmentReviewed(row.id, case.case_ref, row.level, row.review)


@dataclass(frozen=True)
class ProviderLine:
    org: str
    org_name: str
    capacity: int | None


@dataclass(frozen=True)
class ProposedService:
    need: str
    providers: list[ProviderLine]


@dataclass(frozen=True)
class Proposals:
    case_ref: str
    county: str
    services: list[ProposedService]


@dataclass(frozen=True)
class ProposeServices(Command[Proposals]):
    """For each need the assessments found, the directory's providers in the case's county."""

    ref: str
    name = "assess propose"
    writes = False

    def execute(self, ctx: Context) -> Proposals:
        session, who = ctx.session, ctx.staff
        case = get_case(session, case_ref=self.ref, actor=who)
        found = providers.proposals(session, case)
        return Proposals(
            case.case_ref,
            case.destination_county or "",
            [
                ProposedService(
                    p.need,
                    [ProviderLine(org.slug, org.name, row.capacity) for row, org in p.providers],
                )
                for p in found
            ],
        )

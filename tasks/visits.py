"""Follow-up visits: the monitoring form of a case in reintegration, and who may record it.

A visit records when (a day, not in the future, not before the arrival or, on the internal
route, the case's opening), how (``MODES``), who attended, whether there is a safety concern,
how the plan progresses (``PROGRESS``) and the sustainability answers
(``tasks.sustainability``). Texts and answers are stored encrypted under the case key; the
four scores plainly, as numbers.

A visit is the work of a follow-up item (``FOLLOW_UPS``): recording it records that item done
through ``tasks.checklist.mark_done`` as the same actor, so the procedure moves on. Without an
item named, the visiting organisation's earliest open follow-up item is taken; with none open,
the visit stands alone (the owner's, or a visiting organisation's extra contact). Who may: as
for recording the item (``permissions.ensure_item`` with ``RECORD_OWN_ITEM``); a visit without
an item, the staff of the case's owner or of an organisation holding a follow-up item of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session, col, select

from homeward.base.clock import local_date
from homeward.base.errors import InvalidInput, NotFound, Refused
from homeward.base.models import (
    ENDED,
    Case,
    ChecklistItem,
    ItemStatus,
    Organisation,
    StaffMember,
    Visit,
)
from homeward.protection import vault
from homeward.protection.access import can_see
from homeward.protection.permissions import Action, allowed, owner_staff, who_text
from homeward.records.audit import record_event
from homeward.records.locking import bump
from tasks import checklist, plans, sustainability
from tasks.notes import FreeText

MODES = ("home", "office", "phone")
PROGRESS = ("on_track", "partly", "off_track", "no_plan")
FOLLOW_UPS = ("follow_up_2w", "follow_up_1m", "follow_up_3m", "follow_up_6m")
MAX_TEXT = 2_000
TEXTS = {"attended": "who attended", "safety_note": "safety note", "progress_note": "progress note"}


@dataclass(frozen=True)
class VisitIn:
    """A visit as recorded: codes and dates checked here, texts encrypted on storing."""

    visited_on: date
    mode: str
    attended: str | None = None
    safety_concern: bool = False
    safety_note: str | None = None
    progress: str | None = None
    progress_note: str | None = None
    answers: Mapping[str, str] = field(default_factory=dict)
    item_id: int | None = None


def visit_not_found(visit_id: int) -> NotFound:
    """The one answer for a visit that does not exist or whose case the caller may not see."""
    return NotFound(f"visit {visit_id} not found; see `homeward visit list CASE_REF`")


def _check(visit_in: VisitIn, case: Case, now: datetime) -> dict[str, str]:
    if visit_in.mode not in MODES:
        raise InvalidInput(f"mode: use one of {', '.join(MODES)}")
    if visit_in.progress is not None and visit_in.progress not in PROGRESS:
        raise InvalidInput(f"progress: use one of {', '.join(PROGRESS)}")
    for name in TEXTS:
        text = getattr(visit_in, name)
        if text is not None and len(text) > MAX_TEXT:
            raise InvalidInput(f"{name}: at most {MAX_TEXT} characters; shorten it")
    if visit_in.safety_note and not visit_in.safety_concern:
        raise InvalidInput("safety_note: a safety note needs --safety-concern")
    if visit_in.visited_on > local_date(now):
        raise InvalidInput("on: the visit's day is in the future; record it once it happened")
    start = start_day(case)
    if start is None:
        raise Refused(f"case {case.case_ref} has no arrival yet; follow-up visits start after it")
    if visit_in.visited_on < start:
        raise InvalidInput(f"on: the visit's day is before the case's start ({start.isoformat()})")
    if case.status in ENDED:  # the case ended, or processing stopped
        raise Refused(f"case {case.case_ref} is {case.status}; no visit can be recorded on it")
    return sustainability.checked_answers(visit_in.answers)


def start_day(case: Case) -> date | None:
    """The day follow-up counts from: the arrival (or, on the internal route, the opening)."""
    if case.arrival_on is not None:
        return case.arrival_on
    return local_date(case.opened_at) if case.route == "internal" else None


def accepts_visits(case: Case) -> bool:
    """Whether visits can be recorded on ``case`` now (after arrival, before it ended)."""
    return start_day(case) is not None and case.status not in ENDED


def _follow_ups(session: Session, case: Case, org_id: int | None = None) -> list[ChecklistItem]:
    query = select(ChecklistItem).where(
        ChecklistItem.case_id == case.id, col(ChecklistItem.code).in_(FOLLOW_UPS)
    )
    if org_id is not None:
        query = query.where(ChecklistItem.owner_org_id == org_id)
    return list(session.exec(query.order_by(col(ChecklistItem.due_at), col(ChecklistItem.id))))


def _item_for(
    session: Session, case: Case, actor: StaffMember, item_id: int | None
) -> ChecklistItem | None:
    """The follow-up item the visit records: the one named, or the visiting organisation's
    earliest open one (None: a visit without an item)."""
    if item_id is None:
        mine = _follow_ups(session, case, actor.org_id)
        return next((i for i in mine if i.status == ItemStatus.OPEN), None)
    item, item_case = checklist.visible_item(session, item_id, actor)
    if item_case.id != case.id:
        raise InvalidInput(f"item: #{item_id} is not an item of case {case.case_ref}")
    if item.code not in FOLLOW_UPS:
        raise InvalidInput(
            f"item: #{item_id} is not a follow-up visit; use one of {', '.join(FOLLOW_UPS)}"
        )
    return item


def may_record_alone(session: Session, case: Case, actor: StaffMember) -> bool:
    """Whether ``actor`` may record a visit without an item: staff (of the roles recording
    items) of the case's owner, or of an organisation holding a follow-up item of the case."""
    org = session.get(Organisation, actor.org_id)
    visiting = actor.org_id == case.owner_org_id or bool(_follow_ups(session, case, actor.org_id))
    return org is not None and visiting and allowed(org.kind, actor.role, Action.RECORD_OWN_ITEM)


def open_follow_ups(session: Session, case: Case) -> list[ChecklistItem]:
    """The case's open follow-up items, soonest due first."""
    return [i for i in _follow_ups(session, case) if i.status == ItemStatus.OPEN]


def _ensure_alone(session: Session, case: Case, actor: StaffMember) -> None:
    if may_record_alone(session, case, actor):
        return
    ask = owner_staff(session, case, Action.RECORD_OWN_ITEM)
    raise Refused(
        f"{who_text(session, actor)} cannot record a follow-up visit on case {case.case_ref}; "
        f"ask {ask}, or the organisation making the follow-up visits"
    )


def record_visit(
    session: Session,
    *,
    case: Case,
    visit_in: VisitIn,
    actor: StaffMember,
    now: datetime,
    expected_version: int | None = None,
) -> Visit:
    """Record a follow-up visit on ``case`` (seen by ``actor``), and its item done."""
    answers = _check(visit_in, case, now)
    item = _item_for(session, case, actor, visit_in.item_id)
    if item is not None:  # permission, the case's version and the item's state: the item's rules
        assert item.id is not None  # noqa: S101
        checklist.mark_done(
            session, item_id=item.id, actor=actor, now=now, expected_version=expected_version
        )
    else:
        _ensure_alone(session, case, actor)
        bump(session, case, expected_version)
    visit = _store(session, case, visit_in, answers, item, actor, now)
    _events(session, case, visit, item, actor, now)
    plan_review_due(session, case, now)
    return visit


def _store(
    session: Session,
    case: Case,
    visit_in: VisitIn,
    answers: dict[str, str],
    item: ChecklistItem | None,
    actor: StaffMember,
    now: datetime,
) -> Visit:
    assert case.id is not None and actor.id is not None  # noqa: S101
    scores = sustainability.score(answers)
    visit = Visit(
        case_id=case.id,
        item_id=item.id if item else None,
        org_id=actor.org_id,
        visited_on=visit_in.visited_on,
        mode=visit_in.mode,
        safety_concern=visit_in.safety_concern,
        plan_progress=visit_in.progress,
        economic_score=scores.economic,
        social_score=scores.social,
        psychosocial_score=scores.psychosocial,
        composite_score=scores.composite,
        recorded_by_id=actor.id,
        recorded_at=now,
    )
    session.add(visit)
    session.flush()
    assert visit.id is not None  # noqa: S101
    texts = {name: (getattr(visit_in, name) or "").strip() for name in TEXTS}
    if answers:
        texts["answers"] = json.dumps(answers, sort_keys=True)
    for column, text in texts.items():
        if text:
            sealed = vault.protect_text(
                session,
                case=case,
                table="visit",
                column=column,
                row_id=visit.id,
                text=text,
                now=now,
            )
            setattr(visit, column, sealed)
    session.add(visit)
    session.flush()
    return visit


def _events(
    session: Session,
    case: Case,
    visit: Visit,
    item: ChecklistItem | None,
    actor: StaffMember,
    now: datetime,
) -> None:
    """The history: the visit (codes only), and a safety concern as its own event (no text)."""
    data = {
        "visit_id": visit.id,
        "item_id": item.id if item else None,
        "code": item.code if item else None,
        "mode": visit.mode,
        "progress": visit.plan_progress,
    }
    record_event(session, case=case, trigger="visit_recorded", at=now, actor=actor, data=data)
    if visit.safety_concern:
        record_event(
            session,
            case=case,
            trigger="safety_concern_reported",
            at=now,
            actor=actor,
            data={"visit_id": visit.id},
        )


def plan_review_due(session: Session, case: Case, now: datetime) -> None:
    """After a visit the reintegration plan falls due for review (if the case has one), in the
    visit's transaction."""
    plans.mark_review_due(session, case, now)


def visits_of(session: Session, case: Case) -> list[Visit]:
    """The case's visits, latest first."""
    query = select(Visit).where(Visit.case_id == case.id)
    return list(session.exec(query.order_by(col(Visit.visited_on).desc(), col(Visit.id).desc())))


def visible_visit(session: Session, visit_id: int, actor: StaffMember) -> tuple[Visit, Case]:
    """A visit and its case, if the actor's organisation sees the case (else "not found")."""
    visit = session.get(Visit, visit_id)
    case = session.get(Case, visit.case_id) if visit else None
    if visit is None or case is None or not can_see(session, actor, case):
        raise visit_not_found(visit_id)
    return visit, case


def parties(session: Session, visit: Visit, case: Case) -> frozenset[int]:
    """The organisations a visit's texts concern: the visiting one, the one owning the
    follow-up item it recorded, and the case's owner."""
    item = session.get(ChecklistItem, visit.item_id) if visit.item_id else None
    return frozenset({visit.org_id, case.owner_org_id, *([item.owner_org_id] if item else [])})


def may_read(session: Session, visit: Visit, case: Case, actor: StaffMember) -> bool:
    """Whether ``actor`` may see the visit's progress, scores and (audited) texts."""
    return vault.may_read_text(
        session, case=case, actor=actor, parties=parties(session, visit, case)
    )


def visit_texts(session: Session, visit: Visit, case: Case) -> Iterator[FreeText]:
    """The visit's stored texts (who attended, the notes, the answers as JSON)."""
    assert visit.id is not None  # noqa: S101
    concerned = parties(session, visit, case)
    for column, label in (*TEXTS.items(), ("answers", "answers")):
        stored = getattr(visit, column)
        if stored:
            yield FreeText(label, "visit", column, visit.id, stored, concerned)

"""Structured assessments that steer (issue 16, point 7): risk, needs and skills, family.

Each assessment is a fixed set of questions with allowed answers (``QUESTIONS``); the answers
are stored encrypted under the case's key (``homeward.protection.vault``), and only what
steers the case is kept in the clear: a level (low, medium, high) and the needs found, as codes.

Risk scoring (``risk_level``), the documented rule:

* **high** if any red flag is answered ``yes``: the trafficker knows where the person will
  live (``trafficker_knows_home``), the family took part in the trafficking
  (``family_involved``), or threats were received (``threats_received``);
* otherwise points: 2 each for ``trafficker_contacts_family`` and ``network_in_destination``
  (the trafficker's reach), 1 each for ``debt``, ``no_income``, ``prior_trafficking``,
  ``substance_use``, and 1 for a health condition or a pregnancy (``health``);
  an ``unknown`` scores half of a ``yes`` (safety first: not knowing is not "no");
* **high** at 4 points or more, **medium** at 2 or more, or when a red flag is ``unknown``;
  **low** otherwise.

A family assessment's level: **high** when the family was involved in the trafficking (this
raises the case's risk to high for the travel guard, ``travel_refusal``), **medium** when it is
unknown, or return home is not (known to be) safe, or the family gives no support; **low**
otherwise. A needs assessment has no level; its needs are the service types answered ``yes``.

A high risk needs a supervisor's review before travel (``travel_refusal``): a supervisor of
the owner organisation who did not record it agrees or sets another level (``review``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from homeward.base.clock import local_date
from homeward.base.errors import InvalidInput, NotFound, Refused
from homeward.base.models import (
    Assessment,
    Case,
    CaseStatus,
    ChecklistItem,
    ItemStatus,
    StaffMember,
)
from homeward.protection import vault
from homeward.protection.permissions import (
    Action,
    owner_staff,
    permits,
    permits_item,
    who_text,
)
from homeward.records.audit import record_event
from homeward.records.locking import bump
from tasks import checklist

KINDS = ("risk", "needs", "family")
LEVELS = ("low", "medium", "high")
YES_NO = ("yes", "no", "unknown")
# The service types a needs assessment can find (the plan's types but "other").
NEED_CODES = (
    "medical",
    "psychological",
    "legal",
    "housing",
    "child_care",
    "education",
    "vocational_training",
    "job_placement",
    "income_generation",
    "family_mediation",
)
MAX_TEXT = 2_000
TEXT = ()  # a free-text answer: no fixed values


@dataclass(frozen=True)
class Question:
    """One question: its key, its label (English; the workspace translates it), its values."""

    key: str
    label: str
    values: tuple[str, ...]  # empty: free text (stored encrypted like every answer)
    required: bool = True

    @property
    def free(self) -> bool:
        return not self.values


QUESTIONS: dict[str, tuple[Question, ...]] = {
    "risk": (
        Question(
            "trafficker_knows_home", "The trafficker knows where the person will live", YES_NO
        ),
        Question("trafficker_contacts_family", "The trafficker contacts the family", YES_NO),
        Question(
            "network_in_destination", "An active trafficking network in the destination", YES_NO
        ),
        Question("family_involved", "The family took part in the trafficking", YES_NO),
        Question("threats_received", "Threats received (person or family)", YES_NO),
        Question("debt", "Debt (to the trafficker or others)", YES_NO),
        Question("no_income", "No income on return", YES_NO),
        Question("prior_trafficking", "Trafficked before", YES_NO),
        Question("substance_use", "Substance use", YES_NO),
        Question("health", "Health", ("none", "condition", "pregnant")),
        Question("notes", "Notes (encrypted)", TEXT, required=False),
    ),
    "needs": (
        *(
            Question(code, f"Needs {code.replace('_', ' ')}", ("yes", "no"), False)
            for code in NEED_CODES
        ),
        Question("education_level", "Education", ("none", "primary", "secondary", "higher"), False),
        Question("skills", "Skills and work experience (encrypted)", TEXT, required=False),
    ),
    "family": (
        Question("family_support", "The family supports the person", ("yes", "partly", "no")),
        Question("family_involved", "The family took part in the trafficking", YES_NO),
        Question("safe_to_return_home", "Safe to return home", YES_NO),
        Question("notes", "Notes (encrypted)", TEXT, required=False),
    ),
}
ITEM_FOR = {"risk": "risk_assessment", "needs": "needs_assessment", "family": "family_assessment"}
RISK_ITEMS = ("risk_assessment", "risk_reassessment")
QUESTION_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")  # how a question's key looks
RED_FLAGS = ("trafficker_knows_home", "family_involved", "threats_received")
POINTS = {
    "trafficker_contacts_family": 2,
    "network_in_destination": 2,
    "debt": 1,
    "no_income": 1,
    "prior_trafficking": 1,
    "substance_use": 1,
}


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidInput(f"kind: {kind!r} is not an assessment; use one of {', '.join(KINDS)}")
    return kind


def questions(kind: str) -> tuple[Question, ...]:
    """The questions of an assessment ``kind``."""
    return QUESTIONS[_kind(kind)]


def check_answers(kind: str, answers: Mapping[str, str]) -> dict[str, str]:
    """The answers, checked: every key known, every value allowed, every required one given
    (needs: a need left out is "no"). One line names the first problem and how to fix it."""
    asked = {q.key: q for q in questions(kind)}
    checked: dict[str, str] = {}
    for key, raw in answers.items():
        question = asked.get(key)
        if question is None:
            named = f" {key!r}" if QUESTION_KEY.match(key) else ""  # never free text
            raise InvalidInput(
                f"answer: question{named} is not one of the {kind} assessment; "
                f"see `homeward assess questions {kind}`"
            )
        value = str(raw).strip()
        if question.free:
            if len(value) > MAX_TEXT:
                raise InvalidInput(f"answer: {key} takes at most {MAX_TEXT} characters; shorten it")
            if value:
                checked[key] = value
            continue
        value = value.lower()
        if value not in question.values:
            raise InvalidInput(f"answer: {key} takes one of {', '.join(question.values)}")
        checked[key] = value
    missing = [q.key for q in asked.values() if q.required and q.key not in checked]
    if missing:
        raise InvalidInput(
            f"answer: the {kind} assessment needs {', '.join(missing)}; "
            f"give each as --answer KEY=VALUE (`homeward assess questions {kind}`)"
        )
    return checked


def risk_level(answers: Mapping[str, str]) -> str:
    """The risk level of checked risk answers (the rule is the module's docstring)."""
    if any(answers.get(flag) == "yes" for flag in RED_FLAGS):
        return "high"
    weight = {"yes": 1.0, "unknown": 0.5}
    points = sum(n * weight.get(answers.get(key, "no"), 0.0) for key, n in POINTS.items())
    points += 1 if answers.get("health") in ("condition", "pregnant") else 0
    if points >= 4:
        return "high"
    if points >= 2 or any(answers.get(flag) == "unknown" for flag in RED_FLAGS):
        return "medium"
    return "low"


def family_level(answers: Mapping[str, str]) -> str:
    """The family assessment's level (the module's docstring)."""
    if answers.get("family_involved") == "yes":
        return "high"
    if (
        answers.get("family_involved") == "unknown"
        or answers.get("safe_to_return_home") != "yes"
        or answers.get("family_support") == "no"
    ):
        return "medium"
    return "low"


def needs_found(kind: str, answers: Mapping[str, str]) -> list[str]:
    """The service types an assessment finds needed, as codes (in ``NEED_CODES`` order)."""
    if kind == "needs":
        return [code for code in NEED_CODES if answers.get(code) == "yes"]
    if kind == "family":
        found = set()
        if (
            answers.get("family_support") in ("partly", "no")
            and answers.get("family_involved") == "no"
        ):
            found.add("family_mediation")
        if answers.get("safe_to_return_home") != "yes":
            found.add("housing")
        return [code for code in NEED_CODES if code in found]
    return []


def level_of(kind: str, answers: Mapping[str, str]) -> str | None:
    if kind == "risk":
        return risk_level(answers)
    if kind == "family":
        return family_level(answers)
    return None


def _item_code(case: Case, kind: str) -> str:
    if kind == "risk" and case.status == CaseStatus.SUSPENDED:
        return "risk_reassessment"
    return ITEM_FOR[kind]


def _ensure_may_record(session: Session, actor: StaffMember, case: Case, kind: str) -> None:
    """The owner's staff who work on the case may record any assessment; another organisation
    may record the one its own checklist item asks for (a family assessment handed to an NGO)."""
    if permits(session, actor, Action.ENTER_PERSON, case):
        return
    item = checklist.latest_item(session, case, _item_code(case, kind))
    if item is not None and permits_item(session, actor, Action.RECORD_OWN_ITEM, case, item):
        return
    raise Refused(
        f"{who_text(session, actor)} cannot record a {kind} assessment on case {case.case_ref}; "
        f"ask {owner_staff(session, case, Action.ENTER_PERSON)}"
    )


@dataclass(frozen=True)
class Recorded:
    """An assessment just recorded, and the checklist item it completed (if any)."""

    assessment: Assessment
    item_code: str | None


def record(
    session: Session,
    *,
    case: Case,
    actor: StaffMember,
    kind: str,
    answers: Mapping[str, str],
    now: datetime,
) -> Recorded:
    """Record an assessment by ``actor`` now: answers encrypted, level and needs in the clear,
    a history event (codes only); the matching open checklist item (``risk_assessment``,
    ``risk_reassessment`` while suspended, ``needs_assessment``, ``family_assessment``) is
    recorded done by the same actor, a risk one with the level as its outcome."""
    checked = check_answers(kind, answers)
    _ensure_may_record(session, actor, case, kind)
    bump(session, case)
    row = Assessment(
        case_id=case.id,  # type: ignore[arg-type]
        kind=kind,
        level=level_of(kind, checked),
        needs=needs_found(kind, checked),
        assessed_on=local_date(now),
        assessed_by_id=actor.id,  # type: ignore[arg-type]
        recorded_at=now,
    )
    session.add(row)
    session.flush()
    assert row.id is not None  # noqa: S101 (flushed)
    row.answers = vault.protect_text(
        session,
        case=case,
        table="assessment",
        column="answers",
        row_id=row.id,
        text=json.dumps(checked, sort_keys=True),
        now=now,
    )
    session.add(row)
    record_event(
        session,
        case=case,
        trigger="assessment_recorded",
        at=now,
        actor=actor,
        data={"assessment_id": row.id, "kind": kind, "level": row.level, "needs": row.needs},
    )
    code = _item_code(case, kind)
    item = checklist.latest_item(session, case, code)
    done: str | None = None
    if (
        item is not None
        and item.status == ItemStatus.OPEN
        and permits_item(session, actor, Action.RECORD_OWN_ITEM, case, item)
    ):
        assert item.id is not None  # noqa: S101
        checklist.mark_done(
            session,
            item_id=item.id,
            actor=actor,
            now=now,
            outcome=row.level if kind == "risk" else None,
        )
        done = code
    return Recorded(row, done)


def get(session: Session, assessment_id: int) -> Assessment:
    """An assessment by its number ("not found" like a missing one: the caller checks sight)."""
    row = session.get(Assessment, assessment_id)
    if row is None:
        raise not_found(assessment_id)
    return row


def not_found(assessment_id: int) -> NotFound:
    return NotFound(
        f"assessment: #{assessment_id} not found; `homeward assess list REF` lists them"
    )


def review(
    session: Session,
    *,
    case: Case,
    row: Assessment,
    actor: StaffMember,
    level: str | None,
    now: datetime,
) -> Assessment:
    """A supervisor's review of a risk assessment: agree (``level`` None or the same) or set
    another level. Only a supervisor of the owner organisation who did not record it."""
    if row.kind != "risk":
        raise InvalidInput(
            f"assessment: #{row.id} is a {row.kind} assessment; only risk ones are reviewed"
        )
    if level is not None and level not in LEVELS:
        raise InvalidInput(f"level: use one of {', '.join(LEVELS)}")
    if not permits(session, actor, Action.REVIEW_RISK, case):
        raise Refused(
            f"{who_text(session, actor)} cannot review a risk assessment of case "
            f"{case.case_ref}; ask {owner_staff(session, case, Action.REVIEW_RISK)}"
        )
    if row.assessed_by_id == actor.id:
        raise Refused(
            f"assessment: #{row.id} was recorded by you; another supervisor of the owner "
            "organisation reviews it"
        )
    bump(session, case)
    before = row.level
    changed = level is not None and level != before
    row.level = level if changed else before
    row.review = "changed" if changed else "agreed"
    row.reviewed_by_id, row.reviewed_at = actor.id, now
    session.add(row)
    session.flush()
    record_event(
        session,
        case=case,
        trigger="assessment_reviewed",
        at=now,
        actor=actor,
        data={"assessment_id": row.id, "review": row.review, "from": before, "level": row.level},
    )
    return row


def of_case(session: Session, case: Case, kind: str | None = None) -> list[Assessment]:
    """A case's assessments, oldest first."""
    query = select(Assessment).where(Assessment.case_id == case.id)
    if kind:
        query = query.where(Assessment.kind == kind)
    return list(session.exec(query.order_by(col(Assessment.id))))


def latest(session: Session, case: Case, kind: str) -> Assessment | None:
    found = of_case(session, case, kind)
    return found[-1] if found else None


def _ticked_high(session: Session, case: Case) -> datetime | None:
    """When the case's latest done risk item (``risk_assessment``, ``risk_reassessment``) was
    recorded, if it was recorded high; else None."""
    query = (
        select(ChecklistItem)
        .where(
            ChecklistItem.case_id == case.id,
            col(ChecklistItem.code).in_(RISK_ITEMS),
            ChecklistItem.status == ItemStatus.DONE,
        )
        .order_by(col(ChecklistItem.completed_at).desc(), col(ChecklistItem.id).desc())
    )
    item = session.exec(query).first()
    if item is None or item.outcome != "high":
        return None
    return item.completed_at


@dataclass(frozen=True)
class Steering:
    """What the assessments say for the case now: the risk level the travel guard uses, and
    whether it still waits for a supervisor's review."""

    level: str | None
    review_needed: bool
    why: str  # "" or what raised it


def steering(session: Session, case: Case) -> Steering:
    """The case's effective risk: the latest risk assessment's level, raised to high by a later
    family assessment finding the family involved; a high one waits for a review of the latest
    risk assessment made after whatever raised it."""
    risk, family = latest(session, case, "risk"), latest(session, case, "family")
    level = risk.level if risk else None
    why = "risk assessment" if risk else ""
    ticked = _ticked_high(session, case)
    if ticked is not None and (risk is None or ticked > risk.recorded_at):
        # The item marked high by hand, with no structured assessment since: the same review.
        level, why = "high", "risk assessment item marked high"
    if family is not None and family.level == "high":
        level, why = "high", "family assessment: family involved"
    if level != "high":
        return Steering(level, False, "")
    raised = [a.recorded_at for a in (risk, family) if a is not None and a.level == "high"]
    raised_at = max([*raised, *([ticked] if ticked is not None else [])], default=None)
    reviewed = (
        risk is not None
        and risk.reviewed_at is not None
        and (raised_at is None or risk.reviewed_at >= raised_at)
    )
    if reviewed and risk is not None and risk.level != "high" and why.startswith("risk"):
        return Steering(risk.level, False, "")
    return Steering("high", not reviewed, why)


def travel_refusal(session: Session, case: Case) -> str | None:
    """Why the case may not travel yet for its risk (None: it may): a high risk without a
    supervisor's review."""
    state = steering(session, case)
    if not state.review_needed:
        return None
    risk = latest(session, case, "risk")
    if risk is None:
        return (
            f"the risk is high ({state.why}) and no risk assessment was recorded; record one "
            f"with `homeward assess risk {case.case_ref}` and have a supervisor review it; "
            f"consider suspending: homeward case advance {case.case_ref} suspend"
        )
    return (
        f"the risk is high ({state.why}) and needs a supervisor's review: "
        f"`homeward assess review {risk.id} --agree` (or --level LEVEL) by a supervisor who did "
        f"not record it; consider suspending: homeward case advance {case.case_ref} suspend"
    )


def read_answers(
    session: Session, *, case: Case, row: Assessment, actor: StaffMember, now: datetime
) -> dict[str, str]:
    """The answers for a reader the vault lets read the case's free text (audited); the
    assessor's organisation counts as concerned."""
    if not row.answers:
        return {}
    assessor = session.get(StaffMember, row.assessed_by_id)
    parties = (assessor.org_id,) if assessor is not None else ()
    assert row.id is not None  # noqa: S101
    text = vault.reveal_text(
        session,
        case=case,
        table="assessment",
        column="answers",
        row_id=row.id,
        stored=row.answers,
        actor=actor,
        now=now,
        parties=parties,
    )
    loaded: dict[str, str] = json.loads(text)
    return loaded

"""The form each trigger needs, read off the step models the engine validates with.

``steps.STEP_MODELS`` is the one source: the engine parses step data with those models
(``steps.parse_step``), and ``fields_for`` describes the same models field by field (a date, a
choice of codes with their labels, a yes/no, a short text), so a form (the web workspace, a
Prefect form) asks for exactly what ``fire`` will check, and nothing is typed twice. Labels
are English; an edge translates them (they are its message ids).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import Enum
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from statemachines import steps

TRIGGER_LABELS: dict[str, str] = {
    "record_consent": "Record the person's consent",
    "complete_assessment": "Complete the assessments",
    "arrange_travel": "Arrange travel",
    "rearrange_travel": "Arrange travel again",
    "depart": "Record the departure",
    "confirm_arrival": "Confirm the arrival",
    "start_reintegration": "Start reintegration",
    "start_assistance": "Start assistance (identified in Romania: no travel)",
    "close": "Close the case",
    "withdraw_consent": "Record that consent was withdrawn",
    "suspend": "Suspend the case",
    "resume": "Resume the case",
    "lose_contact": "Record lost contact",
    "regain_contact": "Record regained contact",
    "reopen": "Reopen the case",
}

FIELD_LABELS: dict[str, str] = {
    "method": "How consent was given",
    "language": "Language of the consent (ISO code, e.g. ro)",
    "interpreter": "An interpreter was used",
    "representative": "A minor's representative consented, as",
    "document_kind": "Travel document",
    "document_issued_on": "Document issued on",
    "document_expires_on": "Document expires on",
    "departure_on": "Departure on",
    "departed_on": "Departed on",
    "arrival_on": "Arrived on",
    "reason": "Reason",
    "approved_by": "Approving supervisor's email",
    "withdrawn_on": "Withdrawn on",
}

CHOICE_LABELS: dict[str, str] = {
    # consent methods
    "signed": "Signed",
    "oral": "Oral",
    "proxy": "By a guardian or representative (a minor)",
    # representative capacities
    "parent": "Parent",
    "legal_guardian": "Legal guardian",
    "dgaspc_guardian": "DGASPC as guardian",
    "special_representative": "Special representative",
    # travel documents
    "passport": "Passport",
    "identity_card": "Identity card",
    "emergency_travel_document": "Emergency travel document",
    # closure reasons
    "support_period_ended": "The support period ended",
    "no_longer_eligible": "No longer eligible",
    "person_chose_to_stop": "The person chose to stop",
    "moved_or_migrated": "Moved away or migrated again",
    "died": "Died",
    "funding_ended": "Funding ended",
    "security": "Security",
    "return_not_in_child_interest": "Return not in the child's interest (referral)",
    # suspension and reopening reasons
    "safety_incident": "Safety incident",
    "re_trafficking_suspected": "Re-trafficking suspected",
    "threat_received": "Threat received",
    "re_trafficking": "Re-trafficking",
    "needs_more_support": "Needs more support",
    # closure rejections
    "work_outstanding": "Work is outstanding",
    "support_still_needed": "Support is still needed",
    "wrong_reason": "Wrong reason",
    "records_incomplete": "Records are incomplete",
    # checklist item outcomes
    "low": "Low",
    "medium": "Medium",
    "high": "High",
    "return_in_interest": "Return in the child's interest",
    "return_not_in_interest": "Return not in the child's interest",
}

TRUE_WORDS = frozenset({"on", "true", "yes", "1"})


@dataclass(frozen=True)
class Choice:
    """One code a choice field takes, with its label."""

    code: str
    label: str


@dataclass(frozen=True)
class FieldSpec:
    """One field of a trigger's step data: ``kind`` is ``date``, ``choice``, ``bool``,
    ``email`` or ``text``; ``help`` is the model's own description."""

    name: str
    kind: str
    required: bool
    label: str
    help: str = ""
    choices: tuple[Choice, ...] = ()


def label_of(code: str) -> str:
    """A code's label (``identity_card`` -> "Identity card"), for choices and outcomes."""
    return CHOICE_LABELS.get(code, code.replace("_", " ").capitalize())


def choices(codes: Any) -> tuple[Choice, ...]:
    """Codes (an enum or a sequence of strings) as labelled choices, in their own order."""
    return tuple(
        Choice(str(getattr(c, "value", c)), label_of(str(getattr(c, "value", c)))) for c in codes
    )


def _kind(annotation: Any) -> tuple[str, tuple[Choice, ...]]:
    if get_origin(annotation) in (Union, UnionType):
        (annotation,) = [a for a in get_args(annotation) if a is not NoneType]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "choice", choices(annotation)
    if annotation is date:
        return "date", ()
    if annotation is bool:
        return "bool", ()
    if getattr(annotation, "__name__", "") == "EmailStr" or "EmailStr" in repr(annotation):
        return "email", ()
    return "text", ()


def model_fields(model: type[BaseModel]) -> tuple[FieldSpec, ...]:
    """The fields of a step model, in declaration order."""
    specs = []
    for name, info in model.model_fields.items():
        kind, options = _kind(info.annotation)
        specs.append(
            FieldSpec(
                name,
                kind,
                info.is_required(),
                FIELD_LABELS.get(name, name.replace("_", " ").capitalize()),
                info.description or "",
                options,
            )
        )
    return tuple(specs)


def fields_for(trigger: str) -> tuple[FieldSpec, ...]:
    """The fields ``trigger`` takes (none for a trigger without data)."""
    return model_fields(steps.STEP_MODELS.get(trigger, steps.NoData))


def step_data(trigger: str, form: Mapping[str, str]) -> dict[str, Any]:
    """A form's strings as ``trigger``'s step data: only its own fields, blanks left out (the
    engine's defaults apply), a ticked box as True; ``steps.parse_step`` still validates all."""
    data: dict[str, Any] = {}
    for spec in fields_for(trigger):
        raw = (form.get(spec.name) or "").strip()
        if spec.kind == "bool":
            data[spec.name] = raw.lower() in TRUE_WORDS
        elif raw:
            data[spec.name] = raw
    return data

"""The data each trigger takes (step data), as typed models: the CLI and flows build these.

Only case facts live here: methods, languages, document kinds, dates, codes. Never a name.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError, field_validator

from homeward.protection.consent import RepresentativeCapacity
from homeward.records.directory import first_error


class ConsentMethod(StrEnum):
    SIGNED = "signed"
    ORAL = "oral"
    PROXY = "proxy"  # a guardian's consent for a minor


class TravelDocKind(StrEnum):
    PASSPORT = "passport"
    IDENTITY_CARD = "identity_card"
    EMERGENCY = "emergency_travel_document"


class ClosureReason(StrEnum):
    """Why a case closes, from a fixed list (no free text): the support period ended; the
    person no longer meets the criteria, chose to stop, moved away or migrated again, or died;
    the funding ended; security. A supervisor of the owner organisation approves it."""

    SUPPORT_PERIOD_ENDED = "support_period_ended"
    NO_LONGER_ELIGIBLE = "no_longer_eligible"
    PERSON_CHOSE_TO_STOP = "person_chose_to_stop"
    MOVED_OR_MIGRATED = "moved_or_migrated"
    DIED = "died"
    FUNDING_ENDED = "funding_ended"
    SECURITY = "security"
    # A minor whose best-interests assessment found return not in the child's interest: the
    # case is referred to the host country's child protection (HTCDS ClosedReferred).
    RETURN_NOT_IN_CHILD_INTEREST = "return_not_in_child_interest"


REFERRAL_REASONS = frozenset({ClosureReason.RETURN_NOT_IN_CHILD_INTEREST})
"""Closure reasons that hand the person on to another service (HTCDS ClosedReferred)."""


class SuspendReason(StrEnum):
    SAFETY_INCIDENT = "safety_incident"
    RE_TRAFFICKING_SUSPECTED = "re_trafficking_suspected"
    THREAT_RECEIVED = "threat_received"


class ReopenReason(StrEnum):
    RE_TRAFFICKING = "re_trafficking"
    SAFETY_INCIDENT = "safety_incident"
    NEEDS_MORE_SUPPORT = "needs_more_support"


class ClosureRejection(StrEnum):
    """Why a supervisor does not approve a closure (codes only: no free text)."""

    WORK_OUTSTANDING = "work_outstanding"
    SUPPORT_STILL_NEEDED = "support_still_needed"
    WRONG_REASON = "wrong_reason"
    RECORDS_INCOMPLETE = "records_incomplete"


class Step(BaseModel):
    """Base of all step data: unknown fields are refused so typos do not pass silently."""

    # Each step's validator is built when first used (issue 19): a read never builds one.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class NoData(Step):
    """Triggers that take no data."""


class RecordConsent(Step):
    method: ConsentMethod = Field(description="signed, oral, or proxy (a minor's guardian)")
    language: str = Field(description="ISO 639-1 code of the language consent was given in")
    interpreter: bool = Field(default=False, description="an interpreter was used")
    representative: RepresentativeCapacity | None = Field(
        default=None,
        description="a minor's case: the capacity of the guardian or legal representative "
        "consenting for them (parent, legal_guardian, dgaspc_guardian, special_representative)",
    )

    @field_validator("language")
    @classmethod
    def _iso_language(cls, value: str) -> str:
        if not re.fullmatch(r"[a-zA-Z]{2,3}", value):
            raise ValueError("use an ISO 639 language code such as ro, en, it")
        return value.lower()


class ArrangeTravel(Step):
    document_kind: TravelDocKind
    document_issued_on: date | None = Field(
        default=None, description="required for an emergency travel document"
    )
    document_expires_on: date
    departure_on: date


class Depart(Step):
    departed_on: date | None = Field(default=None, description="defaults to today")


class ConfirmArrival(Step):
    arrival_on: date = Field(description="the date the person arrived in Romania")


class Close(Step):
    # (built when first used, as every step: its EmailStr imports email_validator)
    reason: ClosureReason
    approved_by: EmailStr = Field(description="email of the approving supervisor")


class WithdrawConsent(Step):
    withdrawn_on: date | None = Field(
        default=None, description="defaults to today; not in the future nor before a consent"
    )


class Suspend(Step):
    reason: SuspendReason


class Reopen(Step):
    reason: ReopenReason


STEP_MODELS: dict[str, type[Step]] = {
    "record_consent": RecordConsent,
    "arrange_travel": ArrangeTravel,
    "rearrange_travel": ArrangeTravel,
    "depart": Depart,
    "confirm_arrival": ConfirmArrival,
    "close": Close,
    "withdraw_consent": WithdrawConsent,
    "suspend": Suspend,
    "reopen": Reopen,
}


def parse_step(trigger: str, data: dict[str, object]) -> Step:
    """Validate ``data`` for ``trigger``; raise ``InvalidInput`` naming the first bad field."""
    model = STEP_MODELS.get(trigger, NoData)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise first_error(exc) from None

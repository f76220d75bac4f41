"""The forms that move a case through its stages: one deployment per kind of step, each asking
exactly what its step data needs (``statemachines.steps``), typed so the Prefect UI shows dates
as dates and codes as dropdowns.

Five small flows in one module, against the house habit of one flow per module: they are one
table of forms over the same path (``workflows.advance_case.advance``), and read best side by
side. Each run acts for the person whose run assertion (``homeward assertion --flow NAME``) it
was started with, and is named ``case-<case_ref>/<trigger>``.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any

from prefect import flow
from prefect.client.schemas.objects import State

from homeward.protection.consent import RepresentativeCapacity
from statemachines.steps import ConsentMethod, TravelDocKind
from workflows.advance_case import advance
from workflows.forms import (
    FORM,
    Assertion,
    CaseRef,
    Language,
    RequestId,
    checked,
    step_data,
    takes_codes,
)
from workflows.refusals import refusals_end_runs
from workflows.runtime import case_run_name

CONSENT, TRAVEL, DEPART, ARRIVE, MOVE = (
    "record-consent",
    "arrange-travel",
    "record-departure",
    "confirm-arrival",
    "move-stage",
)


@refusals_end_runs
@takes_codes
@flow(name=CONSENT, flow_run_name=case_run_name("record_consent"), **FORM)
async def record_consent(
    case_ref: CaseRef,
    method: ConsentMethod,
    language: Language,
    interpreter: bool = False,
    representative: RepresentativeCapacity | None = None,
    assertion: Assertion = "",
    request_id: RequestId | None = None,
) -> dict[str, Any] | State[Any]:
    """Record the person's informed consent to return: the case moves to ``consent_obtained``.

    Args:
        case_ref: the case's reference, as its page in the staff workspace shows it.
        method: how consent was given.
        language: the language consent was given in.
        interpreter: an interpreter was used.
        representative: a minor's case: who consented for them.
        assertion: who acts, proven: paste what `homeward assertion --flow record-consent`
            prints (it works for this one run).
        request_id: leave it empty (a retry of this run then records nothing twice).
    """
    await checked()
    data = step_data(
        method=method, language=language, interpreter=interpreter, representative=representative
    )
    return await advance(CONSENT, case_ref, "record_consent", assertion, data, request_id)


@refusals_end_runs
@takes_codes
@flow(name=TRAVEL, flow_run_name=case_run_name("arrange_travel"), **FORM)
async def arrange_travel(
    case_ref: CaseRef,
    document_kind: TravelDocKind,
    document_expires_on: date,
    departure_on: date,
    document_issued_on: date | None = None,
    again: bool = False,
    assertion: Assertion = "",
    request_id: RequestId | None = None,
) -> dict[str, Any] | State[Any]:
    """Arrange the travel home (or arrange it again: a lapsed document, a missed flight).

    Args:
        case_ref: the case's reference, as its page in the staff workspace shows it.
        document_kind: the travel document.
        document_expires_on: the day the document expires.
        departure_on: the planned day of departure (inside an emergency document's window).
        document_issued_on: required for an emergency travel document.
        again: travel was arranged before: a new document or new dates, same stage.
        assertion: who acts, proven: paste what `homeward assertion --flow arrange-travel`
            prints (it works for this one run).
        request_id: leave it empty (a retry of this run then records nothing twice).
    """
    await checked()
    trigger = "rearrange_travel" if again else "arrange_travel"
    data = step_data(
        document_kind=document_kind,
        document_issued_on=document_issued_on,
        document_expires_on=document_expires_on,
        departure_on=departure_on,
    )
    return await advance(TRAVEL, case_ref, trigger, assertion, data, request_id)


@refusals_end_runs
@takes_codes
@flow(name=DEPART, flow_run_name=case_run_name("depart"), **FORM)
async def record_departure(
    case_ref: CaseRef,
    departed_on: date | None = None,
    assertion: Assertion = "",
    request_id: RequestId | None = None,
) -> dict[str, Any] | State[Any]:
    """Record that the person departed: the case is in transit.

    Args:
        case_ref: the case's reference, as its page in the staff workspace shows it.
        departed_on: the day of departure (empty: today).
        assertion: who acts, proven: paste what `homeward assertion --flow record-departure`
            prints (it works for this one run).
        request_id: leave it empty (a retry of this run then records nothing twice).
    """
    await checked()
    data = step_data(departed_on=departed_on)
    return await advance(DEPART, case_ref, "depart", assertion, data, request_id)


@refusals_end_runs
@takes_codes
@flow(name=ARRIVE, flow_run_name=case_run_name("confirm_arrival"), **FORM)
async def confirm_arrival(
    case_ref: CaseRef,
    arrival_on: date,
    assertion: Assertion = "",
    request_id: RequestId | None = None,
) -> dict[str, Any] | State[Any]:
    """Confirm the person arrived in Romania: the reintegration clock starts that day.

    Args:
        case_ref: the case's reference, as its page in the staff workspace shows it.
        arrival_on: the day the person arrived.
        assertion: who acts, proven: paste what `homeward assertion --flow confirm-arrival`
            prints (it works for this one run).
        request_id: leave it empty (a retry of this run then records nothing twice).
    """
    await checked()
    data = step_data(arrival_on=arrival_on)
    return await advance(ARRIVE, case_ref, "confirm_arrival", assertion, data, request_id)


class StageMove(StrEnum):
    """The stage steps that take no data."""

    COMPLETE_ASSESSMENT = "complete_assessment"
    START_REINTEGRATION = "start_reintegration"
    START_ASSISTANCE = "start_assistance"


@refusals_end_runs
@takes_codes
@flow(name=MOVE, flow_run_name=case_run_name("move"), **FORM)
async def move_stage(
    case_ref: CaseRef,
    trigger: StageMove,
    assertion: Assertion = "",
    request_id: RequestId | None = None,
) -> dict[str, Any] | State[Any]:
    """Move a case on once its stage's work is done: assessments complete, reintegration
    starts, or (identified in Romania) assistance starts.

    Args:
        case_ref: the case's reference, as its page in the staff workspace shows it.
        trigger: the step.
        assertion: who acts, proven: paste what `homeward assertion --flow move-stage`
            prints (it works for this one run).
        request_id: leave it empty (a retry of this run then records nothing twice).
    """
    await checked()
    return await advance(MOVE, case_ref, str(trigger), assertion, {}, request_id)

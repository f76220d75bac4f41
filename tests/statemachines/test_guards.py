"""Every guard of the transition table, refusing and accepting.

A refusal must change nothing: each one is checked against the stored state, version, item and
event counts, and a snapshot of every table.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import func, select

from homeward.base.clock import SimulatedClock
from homeward.base.db import write_session
from homeward.base.errors import InvalidInput, NotFound, Refused
from homeward.base.models import Case, CaseEvent, ChecklistItem, ItemStatus
from homeward.records.directory import StaffIn, add_staff, validate
from statemachines.return_case import TRANSITIONS, State
from tasks import checklist
from tasks.catalog import load_catalog
from tests import factories as f

CATALOG = load_catalog("v1")
OTHER_SUPERVISOR = "sup@iom-ro.example.org"


@pytest.fixture
def seeded(db_url):
    f.seed()


def facts(case_ref: str) -> tuple[str, int, int, int]:
    with f.admin_read() as s:
        case = s.exec(select(Case).where(Case.case_ref == case_ref)).one()
        n_items = s.exec(select(func.count()).where(ChecklistItem.case_id == case.id)).one()
        n_events = s.exec(select(func.count()).where(CaseEvent.case_id == case.id)).one()
        return case.phase, case.version, n_items, n_events


def refused(
    case_ref: str,
    trigger: str,
    data: dict[str, Any],
    clock: SimulatedClock,
    *,
    error: type[Exception] = Refused,
    match: str | None = None,
) -> str:
    """Fire, expect ``error``, and prove the database did not change; return the message."""
    before, snapshot = facts(case_ref), f.db_snapshot()
    with pytest.raises(error, match=match) as exc:
        f.advance(case_ref, trigger, clock, data)
    assert facts(case_ref) == before
    assert f.db_snapshot() == snapshot
    return str(exc.value)


def day(clock: SimulatedClock, days: int = 0) -> str:
    return str(clock.now().date() + timedelta(days=days))


def finish(case_ref: str, clock: SimulatedClock, *, skip: str | None = None, **outcomes: str):
    """Record every open item of the current stage done, except ``skip`` (skipped, with reason)."""
    stage = f.load_case(case_ref).phase
    for item in f.items(case_ref, stage=stage, status=ItemStatus.OPEN):
        spec = CATALOG.spec(item.code)
        with write_session() as s:
            me, now = f.actor(s), clock.now()
            if item.code == skip:
                checklist.mark_skipped(
                    s, item_id=item.id, actor=me, now=now, reason="not possible here"
                )
            else:
                outcome = outcomes.get(item.code, spec.outcomes[0] if spec.outcomes else None)
                checklist.mark_done(s, item_id=item.id, actor=me, now=now, outcome=outcome)


def add_supervisor(org: str, email: str) -> None:
    with write_session() as s:
        add_staff(
            session=s,
            staff_in=validate(StaffIn, org=org, name="Staff sup", email=email, role="supervisor"),
        )


# --- record_consent ------------------------------------------------------------------------
@pytest.mark.parametrize("missing", ["method", "language"])
def test_consent_needs_method_and_language(seeded, clock, missing):
    ref = f.open_case(clock)
    f.complete_stage(ref, clock)
    data = {"method": "oral", "language": "it"}
    del data[missing]
    refused(ref, "record_consent", data, clock, error=InvalidInput, match=f"^{missing}: ")


def test_consent_language_must_be_a_code(seeded, clock):
    ref = f.open_case(clock)
    f.complete_stage(ref, clock)
    data = {"method": "oral", "language": "Italian"}
    refused(ref, "record_consent", data, clock, error=InvalidInput, match="^language: ")


@pytest.mark.parametrize(
    ("method", "minor", "representative"),
    [("signed", False, None), ("oral", False, None), ("proxy", True, "legal_guardian")],
)
def test_consent_with_method_and_language_is_stored(seeded, clock, method, minor, representative):
    # proxy is a minor's consent given by a representative (an adult's proxy is refused below)
    ref = f.open_case(clock, minor=minor)
    f.complete_stage(ref, clock)
    data = {"method": method, "language": "IT", "interpreter": True}
    f.advance(
        ref, "record_consent", clock, data | ({"representative": representative} if minor else {})
    )
    case = f.load_case(ref)
    assert case.phase == State.CONSENT_OBTAINED
    assert (case.consent_method, case.consent_language, case.interpreter_used) == (
        method,
        "it",
        True,
    )


# --- arrange_travel ------------------------------------------------------------------------
def assessed_case(clock: SimulatedClock) -> str:
    ref = f.open_case(clock)
    f.drive_to(ref, State.ASSESSED, clock)
    f.complete_stage(ref, clock)
    return ref


def test_travel_needs_the_risk_assessment_done_not_skipped(seeded, clock):
    ref = f.open_case(clock)
    f.drive_to(ref, State.CONSENT_OBTAINED, clock)
    finish(ref, clock, skip="risk_assessment")  # the stage may be left...
    f.advance(ref, "complete_assessment", clock)
    f.complete_stage(ref, clock)
    message = refused(ref, "arrange_travel", f.step_data("arrange_travel", clock), clock)
    assert "risk assessment is not done" in message  # ...but travel may not be arranged


def test_travel_is_arranged_once_the_risk_assessment_is_done(seeded, clock):
    ref = assessed_case(clock)
    f.advance(ref, "arrange_travel", clock)
    assert f.load_case(ref).phase == State.TRAVEL_ARRANGED


def travel(kind: str = "passport", issued: int | None = None, expires: int = 400, dep: int = 5):
    """Arrange-travel data in days from the clock's today (bound later by ``in_days``)."""
    return {"kind": kind, "issued": issued, "expires": expires, "dep": dep}


def in_days(spec: dict[str, Any], clock: SimulatedClock) -> dict[str, Any]:
    data = {
        "document_kind": spec["kind"],
        "document_expires_on": day(clock, spec["expires"]),
        "departure_on": day(clock, spec["dep"]),
    }
    if spec["issued"] is not None:
        data["document_issued_on"] = day(clock, spec["issued"])
    return data


EMERGENCY = "emergency_travel_document"
BAD_TRAVEL = [
    pytest.param(travel(expires=4, dep=5), "expires on .* before departure", id="expires-first"),
    pytest.param(travel(dep=-1), "is in the past", id="departure-in-the-past"),
    pytest.param(travel(EMERGENCY, 0, 31), "valid at most 30 days", id="emergency-31-days"),
    pytest.param(travel(EMERGENCY, None, 20), "document_issued_on is required", id="no-issue"),
    pytest.param(travel(EMERGENCY, 6, 20, 5), "before the document is issued", id="pre-issue"),
    pytest.param(travel(EMERGENCY, 0, 4, 5), "expires on .* before departure", id="emergency-exp"),
]
GOOD_TRAVEL = [
    pytest.param(travel(expires=5, dep=5), id="expires-on-departure-day"),
    pytest.param(travel(dep=0), id="departs-today"),
    pytest.param(travel("identity_card", dep=3), id="identity-card"),
    pytest.param(travel(EMERGENCY, 0, 30), id="emergency-exactly-30-days"),
    pytest.param(travel(EMERGENCY, 5, 30, 5), id="emergency-departs-on-issue-day"),
]


@pytest.mark.parametrize(("spec", "why"), BAD_TRAVEL)
def test_travel_document_must_cover_the_departure(seeded, clock, spec, why):
    ref = assessed_case(clock)
    refused(ref, "arrange_travel", in_days(spec, clock), clock, match=why)


@pytest.mark.parametrize("spec", GOOD_TRAVEL)
def test_travel_with_a_covering_document_is_stored(seeded, clock, spec):
    ref = assessed_case(clock)
    data = in_days(spec, clock)
    f.advance(ref, "arrange_travel", clock, data)
    case = f.load_case(ref)
    assert case.phase == State.TRAVEL_ARRANGED
    assert case.travel_doc_kind == data["document_kind"]
    assert str(case.travel_doc_expires_on) == data["document_expires_on"]
    assert str(case.departure_on) == data["departure_on"]
    assert case.travel_doc_issued_on == (
        date.fromisoformat(data["document_issued_on"]) if spec["issued"] is not None else None
    )


# --- minors --------------------------------------------------------------------------------
def minor_at_travel(clock: SimulatedClock, *, skip: str | None = None, bia: str = "") -> str:
    """A minor's case in ``assessed`` with all work done, except ``skip``; BIA outcome ``bia``."""
    ref = f.open_case(clock, minor=True)
    outcomes = {"best_interests_assessment": bia or "return_in_interest"}
    for trigger in ("record_consent", "complete_assessment", None):
        finish(ref, clock, skip=skip, **outcomes)
        if trigger:
            f.advance(ref, trigger, clock)
    return ref


BIA = "best-interests assessment finding return in the child's interest"
MINOR_REFUSALS = [
    pytest.param({"skip": "best_interests_assessment"}, [BIA], id="no-best-interests"),
    pytest.param({"bia": "return_not_in_interest"}, [BIA], id="return-not-in-interest"),
    pytest.param({"skip": "dgaspc_notified"}, ["DGASPC notified"], id="no-dgaspc-notified"),
    pytest.param({"skip": "escort_arranged"}, ["an escort arranged"], id="no-escort"),
]


@pytest.mark.parametrize(("how", "missing"), MINOR_REFUSALS)
def test_a_minor_cannot_travel_without_the_child_protection_steps(seeded, clock, how, missing):
    ref = minor_at_travel(clock, **how)
    message = refused(ref, "arrange_travel", f.step_data("arrange_travel", clock), clock)
    assert "a minor cannot travel without " + "; ".join(missing) in message
    way_out = f"homeward case request-closure {ref} --reason return_not_in_child_interest"
    assert (way_out in message) == (how.get("bia") == "return_not_in_interest")


def test_a_minor_travels_with_every_child_protection_step_done(seeded, clock):
    ref = minor_at_travel(clock)
    f.advance(ref, "arrange_travel", clock)
    assert f.load_case(ref).phase == State.TRAVEL_ARRANGED


# --- depart --------------------------------------------------------------------------------
def travel_arranged(clock: SimulatedClock, spec: dict[str, Any]) -> str:
    ref = assessed_case(clock)
    f.advance(ref, "arrange_travel", clock, in_days(spec, clock))
    f.complete_stage(ref, clock)
    return ref


@pytest.mark.parametrize("explicit_date", [False, True], ids=["today", "departed_on"])
def test_departure_after_the_document_expired_is_refused(seeded, clock, explicit_date):
    ref = travel_arranged(clock, travel(expires=10, dep=5))
    clock.advance(days=11)
    data = {"departed_on": day(clock)} if explicit_date else {}
    refused(ref, "depart", data, clock, match="travel document expired on")


def test_departure_before_the_emergency_document_is_issued_is_refused(seeded, clock):
    ref = travel_arranged(clock, travel(EMERGENCY, 2, 20, 5))
    clock.advance(days=1)
    refused(ref, "depart", {}, clock, match="before the document's issue")


@pytest.mark.parametrize(
    ("spec", "wait"),
    [(travel(expires=10, dep=5), 10), (travel(EMERGENCY, 2, 20, 5), 2)],
    ids=["on-the-expiry-day", "on-the-issue-day"],
)
def test_departure_inside_the_document_window_is_recorded(seeded, clock, spec, wait):
    ref = travel_arranged(clock, spec)
    clock.advance(days=wait)
    f.advance(ref, "depart", clock, {})
    case = f.load_case(ref)
    assert (case.phase, case.departure_on) == (State.IN_TRANSIT, clock.now().date())


def test_departure_cannot_be_dated_in_the_future(seeded, clock):
    ref = travel_arranged(clock, travel(dep=5))
    data = {"departed_on": day(clock, 1)}
    refused(ref, "depart", data, clock, error=InvalidInput, match="^departed_on: .* in the future")


# --- confirm_arrival -----------------------------------------------------------------------
def in_transit(clock: SimulatedClock) -> str:
    """A case that departed today (day 5 of the clock); its stage work done."""
    ref = f.open_case(clock)
    f.drive_to(ref, State.IN_TRANSIT, clock)
    f.complete_stage(ref, clock)
    return ref


def test_arrival_needs_its_date(seeded, clock):
    ref = in_transit(clock)
    refused(ref, "confirm_arrival", {}, clock, error=InvalidInput, match="^arrival_on: ")


@pytest.mark.parametrize(
    ("days", "why"),
    [(1, "^arrival_on: .* is in the future"), (-1, "^arrival_on: .* is before the departure")],
    ids=["future", "early"],
)
def test_arrival_date_must_lie_between_departure_and_today(seeded, clock, days, why):
    ref = in_transit(clock)
    clock.advance(days=max(0, -days))  # 'early': the day before departure, seen a day later
    arrival = str(f.load_case(ref).departure_on + timedelta(days=days))
    refused(ref, "confirm_arrival", {"arrival_on": arrival}, clock, error=InvalidInput, match=why)


@pytest.mark.parametrize("after", [0, 3])
def test_arrival_is_recorded(seeded, clock, after):
    ref = in_transit(clock)
    departed = f.load_case(ref).departure_on
    clock.advance(days=after + 1)
    arrival = departed + timedelta(days=after)
    f.advance(ref, "confirm_arrival", clock, {"arrival_on": str(arrival)})
    case = f.load_case(ref)
    assert (case.phase, case.arrival_on) == (State.RECEIVED, arrival)


def test_today_is_the_local_date_in_romania(seeded, clock):
    ref = in_transit(clock)
    clock.current = datetime.combine(clock.now().date(), datetime.min.time(), UTC) + timedelta(
        hours=23, minutes=30
    )  # 23:30 UTC is already tomorrow in Bucharest
    tomorrow = str(clock.now().date() + timedelta(days=1))
    f.advance(ref, "confirm_arrival", clock, {"arrival_on": tomorrow})
    assert str(f.load_case(ref).arrival_on) == tomorrow


# --- close ---------------------------------------------------------------------------------
def in_reintegration(clock: SimulatedClock, *, leave_open: str | None = None) -> str:
    ref = f.open_case(clock)
    f.drive_to(ref, State.REINTEGRATION, clock)
    for item in f.items(ref, stage=State.REINTEGRATION, status=ItemStatus.OPEN):
        if item.code != leave_open:
            with write_session() as s:
                checklist.mark_done(s, item_id=item.id, actor=f.actor(s), now=clock.now())
    return ref


def close_data(**overrides: str) -> dict[str, str]:
    return {"reason": "support_period_ended", "approved_by": f.SUPERVISOR, **overrides}


BAD_CLOSE = [
    pytest.param({"reason": None}, InvalidInput, "^reason: ", id="no-reason"),
    pytest.param({"reason": "bored"}, InvalidInput, "^reason: ", id="reason-not-listed"),
    pytest.param({"approved_by": None}, InvalidInput, "^approved_by: ", id="no-approver"),
    pytest.param({"approved_by": "x"}, InvalidInput, "^approved_by: ", id="approver-not-email"),
    pytest.param({"approved_by": f.COORD}, Refused, "approved by a supervisor", id="coordinator"),
    pytest.param(
        {"approved_by": OTHER_SUPERVISOR}, Refused, "of the case's owner", id="other-org-sup"
    ),
    pytest.param({"approved_by": "nobody@x.org"}, NotFound, "no active staff", id="unknown"),
]


@pytest.mark.parametrize(("change", "error", "why"), BAD_CLOSE)
def test_closure_needs_a_listed_reason_and_a_supervisor_of_the_owner(
    seeded, clock, change, error, why
):
    add_supervisor("iom-ro", OTHER_SUPERVISOR)
    ref = in_reintegration(clock)
    data = {k: v for k, v in close_data(**change).items() if v is not None}
    refused(ref, "close", data, clock, error=error, match=why)


@pytest.mark.parametrize("still_open", [s.code for s in CATALOG.stages["reintegration"]])
def test_support_period_cannot_end_with_follow_up_items_open(seeded, clock, still_open):
    ref = in_reintegration(clock, leave_open=still_open)
    message = refused(ref, "close", close_data(), clock, match="blocking items still open")
    assert still_open in message


def test_support_period_ended_applies_only_after_reintegration(seeded, clock):
    ref = f.open_case(clock)
    f.advance(ref, "suspend", clock)
    refused(ref, "close", close_data(), clock, match="only after reintegration")


def test_closure_is_stored_with_its_approver(seeded, clock):
    ref = in_reintegration(clock)
    f.advance(ref, "close", clock, close_data())
    case = f.load_case(ref)
    with f.admin_read() as s:
        approver = f.actor(s, f.SUPERVISOR)
    assert case.phase == State.CLOSED
    assert (case.closure_reason, case.closure_approved_by_id) == (
        "support_period_ended",
        approver.id,
    )
    assert case.closed_at == clock.now()


def test_another_reason_closes_with_follow_up_open_and_cancels_it(seeded, clock):
    ref = in_reintegration(clock, leave_open="follow_up_6m")
    f.advance(ref, "close", clock, close_data(reason="moved_or_migrated"))
    assert f.load_case(ref).phase == State.CLOSED
    assert [i.code for i in f.items(ref, status=ItemStatus.CANCELLED)] == ["follow_up_6m"]
    assert f.items(ref, status=ItemStatus.OPEN) == []


# --- resume --------------------------------------------------------------------------------
@pytest.mark.parametrize("reassessment", ["open", "skipped"])
def test_resume_needs_a_new_risk_assessment_done(seeded, clock, reassessment):
    ref = f.open_case(clock)
    f.drive_to(ref, State.CONSENT_OBTAINED, clock)
    f.advance(ref, "suspend", clock)
    if reassessment == "skipped":
        finish(ref, clock, skip="risk_reassessment")
    refused(ref, "resume", {}, clock, match="new risk assessment is needed")


def test_resume_after_the_risk_reassessment(seeded, clock):
    ref = f.open_case(clock)
    f.drive_to(ref, State.CONSENT_OBTAINED, clock)
    f.advance(ref, "suspend", clock)
    finish(ref, clock, risk_reassessment="high")
    f.advance(ref, "resume", clock, {})
    assert f.load_case(ref).phase == State.CONSENT_OBTAINED


# --- leaving a stage -----------------------------------------------------------------------
LEAVING_ROWS = [
    pytest.param(row["trigger"], State(row["source"]), spec.code, id=f"{row['source']}:{spec.code}")
    for row in TRANSITIONS
    if "stage_work_done" in row.get("conditions", []) and not isinstance(row["source"], list)
    for spec in CATALOG.items_for(row["source"], is_minor=False)
    if spec.blocking
]
NON_BLOCKING = [
    pytest.param(row["trigger"], State(row["source"]), spec.code, id=f"{row['source']}:{spec.code}")
    for row in TRANSITIONS
    if "stage_work_done" in row.get("conditions", []) and not isinstance(row["source"], list)
    for spec in CATALOG.items_for(row["source"], is_minor=False)
    if not spec.blocking
]


def at_stage_with_open(clock: SimulatedClock, stage: State, code: str) -> str:
    """A case in ``stage`` with every item of the stage done except ``code``."""
    ref = f.open_case(clock)
    f.drive_to(ref, stage, clock)
    for item in f.items(ref, stage=stage, status=ItemStatus.OPEN):
        if item.code != code:
            spec = CATALOG.spec(item.code)
            with write_session() as s:
                checklist.mark_done(
                    s,
                    item_id=item.id,
                    actor=f.actor(s),
                    now=clock.now(),
                    outcome=spec.outcomes[0] if spec.outcomes else None,
                )
    return ref


@pytest.mark.parametrize(("trigger", "stage", "code"), LEAVING_ROWS)
def test_an_open_blocking_item_holds_the_stage_until_skipped(seeded, clock, trigger, stage, code):
    ref = at_stage_with_open(clock, stage, code)
    message = refused(ref, trigger, f.step_data(trigger, clock), clock)
    assert f"blocking items still open in stage {stage}: {code} (#" in message

    finish(ref, clock, skip=code)
    f.advance(ref, trigger, clock)
    assert f.load_case(ref).phase != stage
    (skipped,) = f.items(ref, stage=stage, status=ItemStatus.SKIPPED)
    note = f.plain("checklist_item", "note", skipped.id, skipped.note)
    assert (skipped.code, note) == (code, "not possible here")


@pytest.mark.parametrize(("trigger", "stage", "code"), NON_BLOCKING)
def test_an_open_non_blocking_item_does_not_hold_the_stage(seeded, clock, trigger, stage, code):
    """...and once the stage is left, it is cancelled as ``stage_left`` (no more reminders)."""
    ref = at_stage_with_open(clock, stage, code)
    f.advance(ref, trigger, clock)
    assert f.load_case(ref).phase != stage
    assert f.items(ref, stage=stage, status=ItemStatus.OPEN) == []
    (left,) = f.items(ref, stage=stage, status=ItemStatus.CANCELLED)
    assert (left.code, left.outcome, left.completed_at) == (code, "stage_left", clock.now())


def test_a_suspension_keeps_the_open_items_of_its_stage(seeded, clock):
    """Suspended (or out of contact), the case comes back to this stage: nothing is cancelled."""
    ref = at_stage_with_open(clock, "consent_obtained", "family_assessment")
    f.advance(ref, "suspend", clock)
    assert [i.code for i in f.items(ref, stage="consent_obtained", status=ItemStatus.OPEN)] == [
        "family_assessment"
    ]

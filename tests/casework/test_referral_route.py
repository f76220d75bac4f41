"""The internal route: a person identified in Romania goes from identification and the NRM
referral straight to assistance and reintegration, with no travel stages, no consulate and no
sending mission; return cases keep their procedure unchanged."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from homeward.base.clock import SimulatedClock, local_date
from homeward.base.db import write_session
from homeward.base.errors import InvalidInput, Refused
from homeward.base.models import Case, CaseEvent, CaseParticipant, ChecklistItem, ItemStatus
from homeward.records.directory import StaffIn, add_staff, validate
from statemachines.cases import CaseIn, allowed_triggers, fire, start_case
from tasks import checklist
from tasks.catalog import load_catalog
from tests import factories as f

RO_COORD, RO_SUP = "coord@iom-ro.example.org", "sup@iom-ro.example.org"
TRAVEL_ITEMS = {
    "travel_document",
    "booking",
    "medical_escort_decided",
    "escort_arranged",
    "fit_to_travel",
    "pre_departure_counselling",
    "pre_arrival_notice",
    "transit_assistance",
    "met_on_arrival",
    "onward_transport",
    "anitp_informed",
    "victim_identified",
    "anitp_notified",
}


def seed_ro() -> None:
    """The test organisations, and a supervisor at IOM Romania (approves its closures)."""
    f.seed()
    with write_session() as s:
        add_staff(
            session=s,
            staff_in=validate(
                StaffIn, org="iom-ro", name="Staff sup", email=RO_SUP, role="supervisor"
            ),
        )


def open_internal(clock: SimulatedClock, *, minor: bool = False, **extra: Any) -> str:
    """An internal case opened by IOM Romania's coordinator, with ADPARE as the NGO."""
    roles = {"ngo": "adpare", **({"dgaspc": "dgaspc-bv"} if minor else {})}
    with write_session() as s:
        case = start_case(
            s,
            actor=f.actor(s, RO_COORD),
            case_in=CaseIn(is_minor=minor, route="internal", participants=roles, **extra),
            person=f.CANARY,
            now=clock.now(),
        )
        return case.case_ref


def items(ref: str, stage: str | None = None) -> list[ChecklistItem]:
    with f.admin_read() as s:
        case = s.exec(select(Case).where(Case.case_ref == ref)).one()
        query = select(ChecklistItem).where(ChecklistItem.case_id == case.id)
        if stage:
            query = query.where(ChecklistItem.stage == stage)
        return list(s.exec(query.order_by(ChecklistItem.id)))


def complete(ref: str, clock: SimulatedClock) -> None:
    """Every open item of the case's stage done by IOM Romania's coordinator (the owner)."""
    stage = load(ref).phase
    for item in items(ref, stage):
        if item.status != ItemStatus.OPEN:
            continue
        spec = load_catalog("v1").spec(item.code)
        with write_session() as s:
            checklist.mark_done(
                s,
                item_id=item.id or 0,
                actor=f.actor(s, RO_COORD),
                now=clock.now(),
                outcome=spec.outcomes[0] if spec.outcomes else None,
            )


def advance(ref: str, trigger: str, clock: SimulatedClock, data: dict[str, Any] | None = None):
    with write_session() as s:
        return fire(
            s,
            case_ref=ref,
            trigger=trigger,
            actor=f.actor(s, RO_COORD),
            data=f.step_data(trigger, clock) if data is None else data,
            now=clock.now(),
        )


def load(ref: str) -> Case:
    with f.admin_read() as s:
        return s.exec(select(Case).where(Case.case_ref == ref)).one()


def test_an_internal_case_runs_from_identification_to_closure_without_travel(db_url, clock):
    seed_ro()
    ref = open_internal(clock, destination_county="ro-cj")
    case = load(ref)
    assert (case.phase, case.route, case.host_country) == (
        "identified_in_romania",
        "internal",
        "RO",
    )
    assert case.destination_county == "RO-CJ"
    first = {i.code for i in items(ref)}
    assert first == {
        "ro_victim_identified",
        "nrm_referral",
        "ro_basic_needs_met",
        "ro_rights_informed",
    }
    with f.admin_read() as s:
        parts = s.exec(select(CaseParticipant).where(CaseParticipant.case_id == case.id))
        assert {p.role for p in parts} == {"r_iom", "ngo"}  # no s_iom, no consulate
    assert allowed_triggers(load(ref)) == [
        "record_consent",
        "withdraw_consent",
        "suspend",
        "lose_contact",
    ]
    for trigger in ("record_consent", "complete_assessment"):
        complete(ref, clock)
        advance(ref, trigger, clock)
    assessed = {i.code: i for i in items(ref, "consent_obtained")}
    owners = {code: i.owner_org_id for code, i in assessed.items()}
    assert owners["risk_assessment"] == owners["needs_assessment"] == case.owner_org_id
    with pytest.raises(Refused, match="internal case .* has no travel; once assessed"):
        advance(ref, "arrange_travel", clock)
    assert "arrange_travel" not in allowed_triggers(load(ref))
    clock.advance(days=2)
    complete(ref, clock)
    advance(ref, "start_assistance", clock)
    case = load(ref)
    today = local_date(clock.now())
    assert case.phase == "received" and case.arrival_on == today  # the follow-ups' anchor
    received = {i.code for i in items(ref, "received")}
    assert received == {"shelter_arranged", "medical_care", "first_counselling"}
    complete(ref, clock)
    advance(ref, "start_reintegration", clock)
    follow = {i.code: i for i in items(ref, "reintegration")}
    assert local_date(follow["follow_up_2w"].due_at) == today + timedelta(days=14)
    complete(ref, clock)
    advance(ref, "close", clock, {"reason": "support_period_ended", "approved_by": RO_SUP})
    assert load(ref).phase == "closed"
    codes = {i.code for i in items(ref)}
    assert not codes & TRAVEL_ITEMS
    with f.admin_read() as s:
        events = s.exec(select(CaseEvent.trigger).where(CaseEvent.case_id == case.id)).all()
    assert "start_assistance" in events and "depart" not in events


def test_exits_and_reopen_keep_the_internal_first_stage(db_url, clock):
    seed_ro()
    ref = open_internal(clock)
    advance(ref, "suspend", clock)
    complete(ref, clock)  # the risk reassessment
    advance(ref, "resume", clock)
    assert load(ref).phase == "identified_in_romania"
    advance(ref, "lose_contact", clock)
    advance(ref, "regain_contact", clock)
    assert load(ref).phase == "identified_in_romania"
    advance(ref, "withdraw_consent", clock)
    advance(ref, "close", clock, {"reason": "person_chose_to_stop", "approved_by": RO_SUP})
    advance(ref, "reopen", clock)
    case = load(ref)
    assert (case.status, case.state) == ("suspended", "identified_in_romania")


def test_a_minor_internal_case_gets_child_protection_items(db_url, clock):
    seed_ro()
    ref = open_internal(clock, minor=True)
    by_code = {i.code: i for i in items(ref)}
    assert "ro_dgaspc_notified" in by_code
    case = load(ref)
    with f.admin_read() as s:
        dgaspc = s.exec(
            select(CaseParticipant).where(
                CaseParticipant.case_id == case.id, CaseParticipant.role == "dgaspc"
            )
        ).one()
    assert by_code["ro_basic_needs_met"].owner_org_id == dgaspc.org_id


def test_start_assistance_refuses_a_return_case(db_url, clock):
    f.seed()
    ref = f.open_case(clock)
    f.drive_to(ref, "assessed", clock)
    f.complete_stage(ref, clock)
    with pytest.raises(Refused, match="only an internal case"):
        f.advance(ref, "start_assistance", clock)
    assert f.load_case(ref).phase == "assessed"


def test_return_cases_keep_their_items_and_triggers(db_url, clock):
    f.seed()
    ref = f.open_case(clock)
    assert f.load_case(ref).route == "return"
    assert [i.code for i in f.items(ref)] == [
        "victim_identified",
        "basic_needs_met",
        "anitp_notified",
        "rights_informed",
    ]
    f.drive_to(ref, "received", clock)
    assert [i.code for i in f.items(ref, "received")] == [
        "onward_transport",
        "shelter_arranged",
        "medical_care",
        "first_counselling",
        "anitp_informed",
    ]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"host_country": "IT"}, "host_country"),
        ({"participants": {"cons": "cons-rome"}}, "participants"),
        ({"destination_county": "CJ"}, "destination_county"),
    ],
)
def test_bad_internal_case_facts_are_one_line(extra, field):
    with pytest.raises((InvalidInput, ValueError), match=field):
        CaseIn.model_validate({"route": "internal", **extra})

"""start-return, advance-case, record-checklist-item and handoff-item, end to end on a real
Prefect server and the test database: what the engine recorded, and what Prefect shows."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from prefect.client.schemas.objects import StateType
from sqlmodel import select

from homeward.base.clock import SimulatedClock
from homeward.base.models import CaseEvent, HandoffStatus, ItemStatus
from homeward.commands import runner as commands
from homeward.commands.signin import EndSession
from tests import factories
from tests.factories import COORD
from tests.signin import assertion_for, credential_for
from tests.workflows.helpers import (
    artifacts,
    events_of,
    log_of,
    reason,
    run,
    run_named,
    runs_named,
)
from workflows.advance_case import advance_case
from workflows.handoff_item import handoff_item
from workflows.record_checklist_item import record_checklist_item
from workflows.runtime import now as flows_now
from workflows.start_return import start_return

pytestmark = pytest.mark.usefixtures("homeward")
START, ADVANCE = "start-return", "advance-case"


def _as(email: str, flow: str = ADVANCE) -> str:
    """A run assertion for one run of ``flow``, as ``homeward assertion --flow`` issues it."""
    return assertion_for(email, flow)


def test_start_return_opens_a_case_and_names_the_run_after_it() -> None:
    result = run(start_return(ngo="adpare", assertion=_as(COORD, START)))

    case = factories.load_case(result["case_ref"])
    assert case.phase == result["state"] == "identified_abroad"
    flow_run = asyncio.run(run_named(f"case-{case.case_ref}/start"))
    assert flow_run.state_name == "Completed"
    assert {"stage:identified_abroad", "org-kind:iom_mission"} <= set(flow_run.tags)
    key = f"case-{case.case_ref.lower()}-timeline"
    timeline = asyncio.run(artifacts(key))[key]
    assert "Identified abroad" in str(timeline.data)


def test_advance_case_fires_the_trigger_and_emits_an_event(clock: SimulatedClock) -> None:
    ref = factories.open_case(clock)
    factories.complete_stage(ref, clock)

    data = {"method": "signed", "language": "ro"}
    result = run(
        advance_case(case_ref=ref, trigger="record_consent", assertion=_as(COORD), data=data)
    )

    assert result == {
        "case_ref": ref,
        "state": "consent_obtained",
        "from_state": "identified_abroad",
        "org_kind": "iom_mission",
    }
    assert factories.load_case(ref).consent_method == "signed"
    [event] = asyncio.run(events_of(ref))
    assert event.payload == {
        "from_state": "identified_abroad",
        "to_state": "consent_obtained",
        "trigger": "record_consent",
    }
    assert event.resource.get("homeward.stage") == "consent_obtained"  # automations match it
    assert event.resource.get("homeward.from-stage") == "identified_abroad"
    flow_run = asyncio.run(run_named(f"case-{ref}/record_consent"))
    assert "stage:consent_obtained" in flow_run.tags


@pytest.mark.parametrize(
    ("trigger", "data", "message"),
    [
        ("fly_home", {}, "trigger: not one Homeward knows; use one of"),
        ("record_consent", {"method": "signed", "language": "r0"}, "language: use"),
        ("record_consent", {"method": "signed", "language": "ro"}, "blocking items"),
        ("record_consent", {"method": "fax", "language": "ro"}, "method: Input"),
    ],
)
def test_engine_refusals_end_the_run_refused_with_the_engine_s_one_line(
    clock: SimulatedClock, trigger: str, data: dict[str, str], message: str
) -> None:
    """Issue 18 point 2: a refusal is not a failure: the run ends Completed, named Refused, the
    engine's one line as its message and once in its log (a warning), no traceback."""
    ref = factories.open_case(clock)
    before = factories.db_snapshot()

    state = run(
        advance_case(
            case_ref=ref, trigger=trigger, assertion=_as(COORD), data=data, return_state=True
        )
    )

    assert state.name == "Refused" and state.type == StateType.COMPLETED
    assert message in (state.message or "") and "\n" not in (state.message or "\n")
    assert factories.db_snapshot() == before
    flow_run = asyncio.run(run_named(f"case-{ref}/advance"))
    assert flow_run.state_name == "Refused" and flow_run.state_type == StateType.COMPLETED
    assert flow_run.state is not None and flow_run.state.message == state.message
    logs = asyncio.run(log_of(flow_run.id))
    assert not any("Traceback" in line for _, line in logs), logs
    assert [level for level, _ in logs if level >= logging.ERROR] == [], logs
    assert (logging.WARNING, f"Refused: {state.message}") in logs


def test_an_unknown_case_ends_the_run_refused_as_not_found() -> None:
    result = run(
        advance_case(case_ref="RT-XXXX-XX", trigger="suspend", assertion=_as(COORD), data={})
    )
    assert reason(result).startswith("case RT-XXXX-XX not found")


def test_a_name_typed_as_case_ref_is_never_repeated() -> None:
    said = reason(
        run(advance_case(case_ref="Ana Pop", trigger="suspend", assertion=_as(COORD), data={}))
    )
    assert said.startswith("case_ref: give a case reference") and "Ana" not in said
    flow_run = asyncio.run(run_named("case-invalid/advance", state="Refused"))
    assert "Ana" not in (flow_run.state.message if flow_run.state else "Ana")


RECORD, HAND = "record-checklist-item", "handoff-item"


def _as_item(email: str, flow: str = RECORD) -> str:
    """A run assertion for one run of ``flow``, as ``homeward assertion --flow`` issues it."""
    return assertion_for(email, flow)


def test_record_checklist_item_done_and_skipped(clock: SimulatedClock) -> None:
    ref = factories.open_case(clock)
    first, second = factories.items(ref, status=ItemStatus.OPEN)[:2]

    done = run(record_checklist_item(item_id=first.id, result="done", assertion=_as_item(COORD)))
    skipped = run(
        record_checklist_item(
            item_id=second.id,
            result="skipped",
            assertion=_as_item(COORD),
            skip_reason="done_by_another_organisation",
        )
    )

    assert done["recorded"] == "done" and skipped["recorded"] == "skipped"
    assert done["case_ref"] == ref and done["state"] == "identified_abroad"
    statuses = {i.id: (i.status, i.note) for i in factories.items(ref)}
    assert statuses[first.id][0] == ItemStatus.DONE
    assert statuses[second.id][0] == ItemStatus.SKIPPED
    note = factories.plain("checklist_item", "note", second.id or 0, statuses[second.id][1])
    assert note == "done by another organisation"
    asyncio.run(run_named(f"case-{ref}/item-{first.id}-done"))


def test_skipping_without_a_reason_names_the_field(clock: SimulatedClock) -> None:
    ref = factories.open_case(clock)
    item = factories.items(ref, status=ItemStatus.OPEN)[0]

    said = run(record_checklist_item(item_id=item.id, result="skipped", assertion=_as_item(COORD)))
    assert reason(said).startswith("skip_reason: say why the item is skipped")
    assert factories.items(ref)[0].status == ItemStatus.OPEN


def _handoffs(ref: str) -> list[str]:
    from homeward.base.models import Handoff

    case_id = factories.load_case(ref).id
    with factories.admin_read() as s:
        return [row.status for row in s.exec(select(Handoff).where(Handoff.case_id == case_id))]


def test_handoff_item_proposed_then_accepted_or_rejected(clock: SimulatedClock) -> None:
    ref = factories.open_case(clock)
    one, two = factories.items(ref, status=ItemStatus.OPEN)[:2]
    ngo = "cw@adpare.example.org"

    for item in (one, two):
        run(
            handoff_item(
                item_id=item.id, action="propose", assertion=_as_item(COORD, HAND), to_org="adpare"
            )
        )
    accepted = run(handoff_item(item_id=one.id, action="accept", assertion=_as_item(ngo, HAND)))
    rejected = run(
        handoff_item(
            item_id=two.id, action="reject", assertion=_as_item(ngo, HAND), rejection="no_capacity"
        )
    )

    assert accepted["handoff"] == "accept" and rejected["handoff"] == "reject"
    assert sorted(_handoffs(ref)) == sorted([HandoffStatus.ACCEPTED, HandoffStatus.REJECTED])
    owners = {i.id: i.owner_org_id for i in factories.items(ref)}
    assert owners[one.id] != owners[two.id]


def test_another_organisation_s_item_is_refused_as_a_missing_one(clock: SimulatedClock) -> None:
    """No oracle: the refused run of an organisation outside the case says what it says of an
    item that does not exist, and names neither the case nor its owner (SQLite named both)."""
    ref = factories.open_case(clock, share=False)  # fmb takes no part in it
    item = factories.items(ref, status=ItemStatus.OPEN)[0]
    assert item.id is not None
    said = []
    for item_id in (item.id, item.id + 1000):
        line = reason(
            run(
                record_checklist_item(
                    item_id=item_id, result="done", assertion=_as_item("cw@fmb.example.org")
                )
            )
        )
        named = asyncio.run(runs_named(f"item-{item_id}/record"))  # earlier tests' too
        flow_run = max((r for r in named if r.state_name == "Refused"), key=lambda r: r.created)
        message = flow_run.state.message if flow_run.state else ""
        said.append((line, message.replace(str(item_id), "ID")))
        assert ref not in message and "iom-it" not in message and "IOM Italy" not in message
    hidden, missing = said
    assert hidden[1] == missing[1]
    assert hidden[0].replace(str(item.id), "ID") == missing[0].replace(str(item.id + 1000), "ID")


def test_handoff_to_nobody_names_the_field(clock: SimulatedClock) -> None:
    ref = factories.open_case(clock)
    item = factories.items(ref, status=ItemStatus.OPEN)[0]

    said = run(handoff_item(item_id=item.id, action="propose", assertion=_as_item(COORD, HAND)))
    assert reason(said).startswith("to_org: name the organisation")


def _event(ref: str, trigger: str) -> CaseEvent:
    case_id = factories.load_case(ref).id
    with factories.admin_read() as s:
        query = select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.trigger == trigger)
        return s.exec(query).one()


def test_item_flows_stamp_the_run_and_its_session_on_the_history(clock: SimulatedClock) -> None:
    ref = factories.open_case(clock)
    one, two = factories.items(ref, status=ItemStatus.OPEN)[:2]

    run(record_checklist_item(item_id=one.id, result="done", assertion=_as_item(COORD)))
    run(
        handoff_item(
            item_id=two.id, action="propose", assertion=_as_item(COORD, HAND), to_org="adpare"
        )
    )

    recorded = asyncio.run(run_named(f"case-{ref}/item-{one.id}-done"))
    handed = asyncio.run(run_named(f"case-{ref}/item-{two.id}-handoff-propose"))
    done, proposed = _event(ref, "item_done"), _event(ref, "handoff_proposed")
    assert (done.proof or "").startswith(f"run {recorded.id} for session ")
    assert (proposed.proof or "").startswith(f"run {handed.id} for session ")
    assert done.proof.split()[-1] == proposed.proof.split()[-1]  # type: ignore[union-attr]


def _forged(token: str) -> str:
    """The token with its signature's last character changed."""
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def test_forged_replayed_and_stale_assertions_are_refused_before_anything_changes(
    clock: SimulatedClock,
) -> None:
    ref = factories.open_case(clock)
    first, second, third = factories.items(ref, status=ItemStatus.OPEN)[:3]
    used, used_for_handoff = _as_item(COORD), _as_item(COORD, HAND)
    run(record_checklist_item(item_id=first.id, result="done", assertion=used))
    run(handoff_item(item_id=third.id, action="propose", assertion=used_for_handoff, to_org="fmb"))
    expired = assertion_for(COORD, RECORD, flows_now() - timedelta(minutes=30))
    refused = {
        "replayed": (RECORD, used, "assertion: already used by another run"),
        "forged": (RECORD, _forged(_as_item(COORD)), "assertion: not one Homeward issued"),
        "for another flow": (RECORD, _as_item(COORD, HAND), "assertion: not issued for the flow"),
        "expired": (RECORD, expired, "assertion: expired before it was used"),
        "missing": (RECORD, " ", "assertion: start this run with one from `homeward assertion"),
        "forged handoff": (HAND, _forged(_as_item(COORD, HAND)), "assertion: not one Homeward"),
        "replayed handoff": (HAND, used_for_handoff, "assertion: already used by another run"),
    }
    before = factories.db_snapshot()  # the assertions are issued: now nothing may change
    for what, (flow, token, message) in refused.items():
        step = (
            record_checklist_item(item_id=second.id, result="done", assertion=token)
            if flow == RECORD
            else handoff_item(item_id=second.id, action="propose", assertion=token, to_org="fmb")
        )
        assert reason(run(step)).startswith(message), what
        assert factories.db_snapshot() == before, what


def test_an_assertion_from_a_session_since_ended_is_refused(clock: SimulatedClock) -> None:
    ref = factories.open_case(clock)
    item = factories.items(ref, status=ItemStatus.OPEN)[0]
    token = _as_item(COORD)
    signed_in = credential_for(COORD, flows_now())
    commands.run(EndSession(), signed_in)  # signed out before the run started
    before = factories.db_snapshot()

    said = run(record_checklist_item(item_id=item.id, result="done", assertion=token))
    assert reason(said).startswith("assertion: the session it was issued in has ended")
    assert factories.db_snapshot() == before

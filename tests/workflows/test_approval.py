"""Closing a case waits for a supervisor inside the run: the run pauses with a form, the test
answers it as the Prefect UI would (``resume_flow_run`` with the input), and the engine
records the decision."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import pytest
from prefect.client.schemas.objects import StateType
from prefect.flow_runs import resume_flow_run
from pydantic import ValidationError
from sqlmodel import col, select

from homeward.base.clock import SimulatedClock
from homeward.base.db import write_session
from homeward.base.models import CaseEvent, StaffMember, StaffSession
from homeward.base.settings import get_settings
from homeward.commands.case_views import CaseHistory
from homeward.commands.runner import run as run_command
from statemachines.cases import get_case
from statemachines.closure_requests import request_closure
from tests import factories
from tests.factories import COORD, SUPERVISOR
from tests.signin import assertion_for, credential_for
from tests.workflows.helpers import (
    chosen,
    closure_answered,
    closure_answered_twice,
    log_of,
    next_pause,
    reason,
    run,
    run_named,
)
from workflows.advance_case import advance_case
from workflows.runtime import now as flows_now
from workflows.status_forms import close_case

pytestmark = pytest.mark.usefixtures("homeward")
REASON = {"reason": "support_period_ended"}


def _asks(email: str) -> str:
    """The requester's assertion for the ``advance-case`` run that asks for the closure."""
    return assertion_for(email, "advance-case")


def _decides(email: str) -> str:
    """The decider's assertion, pasted into the paused run's form."""
    return assertion_for(email, "approve-closure")


def _in_reintegration(clock: SimulatedClock) -> str:
    ref = factories.open_case(clock)
    factories.drive_to(ref, "reintegration", clock)
    factories.complete_stage(ref, clock)
    return ref


def _events(ref: str, trigger: str) -> list[CaseEvent]:
    case = factories.load_case(ref)
    with factories.admin_read() as s:
        query = select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.trigger == trigger)
        return list(s.exec(query))


def _closure_events(ref: str) -> list[CaseEvent]:
    case = factories.load_case(ref)
    with factories.admin_read() as s:
        query = select(CaseEvent).where(
            CaseEvent.case_id == case.id,
            col(CaseEvent.trigger).contains("closure") | (CaseEvent.trigger == "close"),
        )
        return list(s.exec(query.order_by(col(CaseEvent.id))))


def _staff_id(email: str) -> int | None:
    with factories.admin_read() as s:
        return s.exec(select(StaffMember.id).where(StaffMember.email == email)).one()


def test_an_approved_closure_closes_the_case(clock: SimulatedClock) -> None:
    ref = _in_reintegration(clock)
    answer = {"approve": True, "assertion": _decides(SUPERVISOR), "reason": "support_period_ended"}

    flow = advance_case(case_ref=ref, trigger="close", assertion=_asks(COORD), data=REASON)
    result = run(closure_answered(flow, ref, answer))

    assert result["state"] == "closed" and result["decision"] == "approved"
    case = factories.load_case(ref)
    assert case.phase == "closed" and case.closure_reason == "support_period_ended"
    assert case.closure_approved_by_id == _staff_id(SUPERVISOR)
    [event] = _events(ref, "close")
    assert event.data["approved_by"] == SUPERVISOR
    completed = asyncio.run(run_named(f"case-{ref}/close"))
    assert completed.state_name == "Completed" and "stage:closed" in completed.tags


def test_a_rejected_closure_is_recorded_and_the_case_stays(clock: SimulatedClock) -> None:
    ref = _in_reintegration(clock)
    answer = {
        "approve": False,
        "assertion": _decides(SUPERVISOR),
        "reason": "support_period_ended",
        "rejection": "support_still_needed",
    }

    flow = advance_case(case_ref=ref, trigger="close", assertion=_asks(COORD), data=REASON)
    result = run(closure_answered(flow, ref, answer))

    assert result["decision"] == "rejected" and result["state"] == "reintegration"
    assert factories.load_case(ref).phase == "reintegration"
    [event] = _events(ref, "closure_rejected")
    assert event.reason == "support_still_needed"
    assert event.data["approver_id"] == _staff_id(SUPERVISOR)
    # issue 18 point 2: the run says so in its state's name and message, and in its log
    said = f"case {ref}: closure not approved (support_still_needed); the case stays in reintegr"
    ended = asyncio.run(run_named(f"case-{ref}/close", state="Closure rejected"))
    assert ended.state_type == StateType.COMPLETED and ended.state is not None
    assert (ended.state.message or "").startswith(said)
    logs = asyncio.run(log_of(ended.id))
    assert any(lv == logging.INFO and m.startswith(f"Closure rejected: {said}") for lv, m in logs)
    assert not any("Traceback" in m or lv >= logging.ERROR for lv, m in logs), logs


def test_a_closure_asked_in_the_close_case_form_and_rejected_ends_closure_rejected(
    clock: SimulatedClock,
) -> None:
    """The typed form (issue 18 point 1) ends a rejected closure as advance-case does (point 2)."""
    ref = _in_reintegration(clock)
    answer = {
        "approve": False,
        "assertion": _decides(SUPERVISOR),
        "reason": "support_period_ended",
        "rejection": "work_outstanding",
    }

    asks = assertion_for(COORD, "close-case")
    flow = close_case(case_ref=ref, reason=REASON["reason"], assertion=asks)
    result = run(closure_answered(flow, ref, answer))

    assert result["decision"] == "rejected" and factories.load_case(ref).phase == "reintegration"
    ended = asyncio.run(run_named(f"case-{ref}/close", state="Closure rejected"))
    assert ended.state_type == StateType.COMPLETED and ended.state is not None
    assert "closure not approved (work_outstanding)" in (ended.state.message or "")


def test_a_case_that_cannot_close_ends_the_close_case_run_refused(clock: SimulatedClock) -> None:
    ref = factories.open_case(clock)
    asks = assertion_for(COORD, "close-case")
    said = run(close_case(case_ref=ref, reason=REASON["reason"], assertion=asks))
    assert re.search("cannot close case .* in stage identified_abroad", reason(said))
    refused = asyncio.run(run_named(f"case-{ref}/close", state="Refused"))
    assert refused.state_type == StateType.COMPLETED


def test_a_decision_by_someone_not_a_supervisor_asks_again(clock: SimulatedClock) -> None:
    ref = _in_reintegration(clock)
    slip = {"approve": True, "assertion": _decides(COORD), "reason": "support_period_ended"}
    answer = {**slip, "assertion": _decides(SUPERVISOR)}

    flow = advance_case(case_ref=ref, trigger="close", assertion=_asks(COORD), data=REASON)
    result, description = run(closure_answered_twice(flow, ref, slip, answer))

    assert "not recorded: a coordinator of IOM Italy (iom-it) cannot approve or rej" in description
    assert "ask a supervisor of IOM Italy (iom-it)" in description
    assert COORD not in description  # the form repeats no email
    assert result["decision"] == "approved" and factories.load_case(ref).phase == "closed"
    assert [e.trigger for e in _closure_events(ref)] == ["closure_requested", "close"]


def test_the_requester_cannot_approve_their_own_request(clock: SimulatedClock) -> None:
    ref = _in_reintegration(clock)
    own = {"approve": True, "assertion": _decides(SUPERVISOR), "reason": "support_period_ended"}
    withdrawn = {**own, "approve": False, "rejection": "wrong_reason"}

    flow = advance_case(case_ref=ref, trigger="close", assertion=_asks(SUPERVISOR), data=REASON)
    result, description = run(closure_answered_twice(flow, ref, own, withdrawn))

    assert "who asked for the closure of case" in description and "cannot approve it" in description
    assert result["decision"] == "rejected" and factories.load_case(ref).phase == "reintegration"
    assert [e.trigger for e in _closure_events(ref)] == ["closure_requested", "closure_rejected"]


def test_a_case_that_cannot_close_is_refused_before_anyone_is_asked(
    clock: SimulatedClock,
) -> None:
    ref = factories.open_case(clock)

    said = run(advance_case(case_ref=ref, trigger="close", assertion=_asks(COORD), data=REASON))
    assert re.search("cannot close case .* in stage identified_abroad", reason(said))
    said = run(
        advance_case(
            case_ref=ref,
            trigger="close",
            assertion=_asks(COORD),
            data={**REASON, "approved_by": SUPERVISOR},
        )
    )
    assert re.match("data.approved_by: .* leave approved_by out", reason(said))


def test_a_rejection_without_its_code_asks_again_saying_what_is_missing(
    clock: SimulatedClock,
) -> None:
    ref = _in_reintegration(clock)
    slip = {"approve": False, "assertion": _decides(SUPERVISOR), "reason": "support_period_ended"}
    answer = {**slip, "rejection": "records_incomplete"}

    flow = advance_case(case_ref=ref, trigger="close", assertion=_asks(COORD), data=REASON)
    result, description = run(closure_answered_twice(flow, ref, slip, answer))

    assert "not recorded: rejection: say why the closure is not approved" in description
    assert result["decision"] == "rejected" and factories.load_case(ref).phase == "reintegration"
    [event] = _events(ref, "closure_rejected")
    assert event.reason == "records_incomplete"
    assert [e.trigger for e in _closure_events(ref)] == ["closure_requested", "closure_rejected"]
    assert asyncio.run(run_named(f"case-{ref}/close")).state_name == "Closure rejected"


def test_approving_with_a_rejection_code_asks_again(clock: SimulatedClock) -> None:
    ref = _in_reintegration(clock)
    slip = {
        "approve": True,
        "assertion": _decides(SUPERVISOR),
        "reason": "support_period_ended",
        "rejection": "work_outstanding",
    }
    answer = {k: v for k, v in slip.items() if k != "rejection"}

    flow = advance_case(case_ref=ref, trigger="close", assertion=_asks(COORD), data=REASON)
    result, description = run(closure_answered_twice(flow, ref, slip, answer))

    assert "rejection: leave it empty when you approve" in description
    assert result["decision"] == "approved" and factories.load_case(ref).phase == "closed"


def test_the_form_describes_every_field_and_takes_no_free_text() -> None:
    from workflows.approvals import ClosureDecision

    schema = ClosureDecision.model_json_schema()
    properties = schema["properties"]
    assert set(properties) == {"approve", "assertion", "reason", "rejection"}
    assert all(field.get("description") for field in properties.values())
    assert {"$ref"} <= set(properties["reason"]) or "enum" in str(properties["reason"])
    answer = {"approve": True, "reason": "support_period_ended"}
    assert ClosureDecision.model_validate({**answer, "assertion": " eyJnIjoi.x-Y_z \n"})
    with pytest.raises(ValidationError):  # a token, never a name or a sentence
        ClosureDecision.model_validate({**answer, "assertion": "Ana Pop, supervisor"})


def test_a_form_stored_twice_is_stored_once_and_a_different_one_is_refused() -> None:
    """Prefect's client repeats a POST whose answer was lost; the form the first one stored
    answers 409. The closing run counts an equal stored form as its own (a CI run on a loaded
    machine failed at the second pause for want of it) and still refuses a different one."""
    from prefect import flow
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.input.actions import read_flow_run_input
    from prefect.input.run_input import keyset_from_base_key
    from prefect.runtime import flow_run

    from workflows.approvals import ClosureDecision

    keys = keyset_from_base_key("paused-7")
    form = ClosureDecision.with_initial_data(description="Close case RT-TEST-01?")
    other = ClosureDecision.with_initial_data(description="Close case RT-TEST-02?")

    @flow
    async def pauses_twice() -> tuple[Any, int]:
        await form.asave(keys)
        await form.asave(keys)  # the repeated POST: equal, so saved
        try:
            await other.asave(keys)
        except PrefectHTTPStatusError as exc:
            status = exc.response.status_code
        stored = await read_flow_run_input(keys["description"], flow_run_id=flow_run.id)
        return stored, status

    assert asyncio.run(pauses_twice()) == ("Close case RT-TEST-01?", 409)


def test_a_closure_nobody_decides_in_time_is_recorded_and_the_case_stays(
    clock: SimulatedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = _in_reintegration(clock)
    monkeypatch.setenv("HOMEWARD_APPROVAL_TIMEOUT_SECONDS", "2")
    get_settings.cache_clear()

    # the run leaves its pause itself and ends in a state of its own, never Failed
    result = run(advance_case(case_ref=ref, trigger="close", assertion=_asks(COORD), data=REASON))
    assert result["decision"] == "expired" and result["state"] == "reintegration"

    assert factories.load_case(ref).phase == "reintegration"
    [event] = _events(ref, "closure_request_expired")
    assert event.data == {"waited_seconds": 2} and event.actor_id == _staff_id(COORD)
    ended = asyncio.run(run_named(f"case-{ref}/close"))
    assert (ended.state_type, ended.state_name) == (StateType.COMPLETED, "Unanswered")
    assert ended.state.message == (
        f"closure of case {ref} was not decided within 2 s; the case stays in reintegration: "
        "ask again with close-case"
    )
    said = f"Unanswered: closure of case {ref} was not decided within 2 s; the case stays in "
    logs = asyncio.run(log_of(ended.id))
    assert any(lv == logging.WARNING and m.startswith(said) for lv, m in logs), logs
    assert any("ask again with close-case" in m for _, m in logs)
    assert not any("Traceback" in m for _, m in logs)


def test_a_wait_that_ran_out_leaves_its_pause_or_takes_the_answer_that_just_came() -> None:
    """The run's own wait ends before Prefect's pause timeout: unanswered, the run leaves the
    pause itself (Running, so it can end Unanswered); answered in the very last moment (the
    run resumed, its poll not yet back), the answer is taken, never lost."""
    from prefect import flow, get_client
    from prefect.flow_runs import apause_flow_run, aresume_flow_run
    from prefect.runtime import flow_run

    from workflows.approvals import ClosureDecision, unpause

    form = ClosureDecision.with_initial_data(description="Close case RT-TEST-03?")
    answer = {"approve": True, "assertion": "", "reason": "support_period_ended"}

    async def paused(run_id: Any) -> None:
        async with get_client() as client:
            while not (await client.read_flow_run(run_id)).state.is_paused():  # type: ignore[union-attr]
                await asyncio.sleep(0.1)

    @flow
    async def waits_twice() -> tuple[Any, str, Any]:
        run_id = flow_run.get_id()
        first = asyncio.create_task(
            apause_flow_run(wait_for_input=form, timeout=120, poll_interval=60, key="closure-1")
        )
        await paused(run_id)
        first.cancel()  # the run's wait ran out; nobody answered
        left = await unpause(form, "closure-1")
        async with get_client() as client:
            state = (await client.read_flow_run(run_id)).state
        second = asyncio.create_task(
            apause_flow_run(wait_for_input=form, timeout=120, poll_interval=60, key="closure-2")
        )
        await paused(run_id)
        await aresume_flow_run(run_id, run_input=chosen(answer))  # the supervisor, just in time
        second.cancel()  # ... as the run's wait ran out
        return left, state.name if state else "", await unpause(form, "closure-2")

    left, state, taken = asyncio.run(waits_twice())
    assert left is None and state == "Running"
    assert taken is not None and taken.approve and taken.reason == "support_period_ended"


async def _answered(flow: Any, ref: str, *answers: dict[str, Any]) -> tuple[Any, list[str]]:
    """Answer a closing run's successive forms; its result and each form's description."""
    running = asyncio.create_task(flow)
    name, seen, descriptions = f"case-{ref}/close", set[str](), []
    for answer in answers:
        paused, description = await next_pause(name, seen)
        descriptions.append(description)
        await resume_flow_run(paused.id, run_input=chosen(answer))
    return await running, descriptions


def test_an_answer_whose_assertion_does_not_prove_a_decider_asks_again(
    clock: SimulatedClock,
) -> None:
    ref = _in_reintegration(clock)
    forged = {"approve": True, "assertion": "forged.token", "reason": "support_period_ended"}
    other_flow = {**forged, "assertion": _asks(SUPERVISOR)}  # issued for advance-case
    good = {**forged, "assertion": _decides(SUPERVISOR)}
    flow = advance_case(case_ref=ref, trigger="close", assertion=_asks(COORD), data=REASON)

    result, descriptions = run(_answered(flow, ref, forged, other_flow, good))

    assert "not recorded: assertion: not one Homeward issued" in descriptions[1]
    assert "not recorded: assertion: not issued for the flow 'approve-closure'" in descriptions[2]
    assert result["decision"] == "approved" and factories.load_case(ref).phase == "closed"
    assert [e.trigger for e in _closure_events(ref)] == ["closure_requested", "close"]


def _closing_run_id(ref: str) -> str:
    return str(asyncio.run(run_named(f"case-{ref}/close")).id)


def test_the_history_of_a_closed_case_names_the_approver_and_the_run(
    clock: SimulatedClock,
) -> None:
    ref = _in_reintegration(clock)
    answer = {"approve": True, "assertion": _decides(SUPERVISOR), "reason": "support_period_ended"}
    flow = advance_case(case_ref=ref, trigger="close", assertion=_asks(COORD), data=REASON)
    run(closure_answered(flow, ref, answer))

    lines = run_command(CaseHistory(ref), credential_for(COORD, flows_now()))
    asked, closed = [line for line in lines if line.trigger in ("closure_requested", "close")]
    run_id = _closing_run_id(ref)
    assert (asked.who, closed.who) == (COORD, SUPERVISOR)  # each as themselves
    for line, email in ((asked, COORD), (closed, SUPERVISOR)):
        found = re.fullmatch(rf"run {run_id} for session ([0-9a-f]+)", line.proof or "")
        assert found, line.proof
        assert _session_owner(found.group(1)) == _staff_id(email)


def _session_owner(session_id: str) -> int | None:
    with factories.admin_read() as s:
        held = s.get(StaffSession, session_id)
        return held.staff_id if held else None


def test_an_approval_assertion_used_by_another_run_is_refused(clock: SimulatedClock) -> None:
    first, second = _in_reintegration(clock), _in_reintegration(clock)
    token = _decides(SUPERVISOR)
    answer = {"approve": True, "assertion": token, "reason": "support_period_ended"}
    flow = advance_case(case_ref=first, trigger="close", assertion=_asks(COORD), data=REASON)
    run(closure_answered(flow, first, answer))
    fresh = {**answer, "assertion": _decides(SUPERVISOR)}

    flow = advance_case(case_ref=second, trigger="close", assertion=_asks(COORD), data=REASON)
    result, description = run(closure_answered_twice(flow, second, answer, fresh))

    assert "not recorded: assertion: already used by another run" in description
    assert result["decision"] == "approved" and factories.load_case(second).phase == "closed"
    assert [e.trigger for e in _closure_events(second)] == ["closure_requested", "close"]


def test_a_run_started_for_a_pending_request_not_renewed_to_it_is_refused(
    clock: SimulatedClock,
) -> None:
    ref = _in_reintegration(clock)
    with write_session() as s:
        who = factories.actor(s, COORD)
        case = get_case(s, case_ref=ref, actor=who)
        request = request_closure(
            s, case=case, actor=who, reason=None, flow_run_id=None, now=clock.now()
        )
    before = factories.db_snapshot()

    said = run(advance_case(case_ref=ref, trigger="close", closure_request=request.event_id))
    assert reason(said).startswith("closure_request: only a run `homeward up` started")
    said = run(
        advance_case(
            case_ref=ref,
            trigger="close",
            assertion=_asks(COORD),
            closure_request=request.event_id,
        )
    )
    assert reason(said).startswith("closure_request: only `homeward up` sets it")
    assert factories.db_snapshot() == before


def test_a_closing_run_scheduled_again_after_its_answer_files_and_asks_nothing(
    clock: SimulatedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crashed run is scheduled again under its id (deploy/automations.yaml): its request
    key gives it back the request it filed, already rejected, so it asks nobody again."""
    from prefect import get_client
    from prefect.flow_engine import run_flow_async
    from prefect.states import Scheduled

    ref = _in_reintegration(clock)
    monkeypatch.setenv("HOMEWARD_APPROVAL_TIMEOUT_SECONDS", "5")  # a wrong wait ends quickly
    get_settings.cache_clear()
    params = {"case_ref": ref, "trigger": "close", "assertion": _asks(COORD), "data": REASON}
    answer = {
        "approve": False,
        "assertion": _decides(SUPERVISOR),
        "reason": "support_period_ended",
        "rejection": "work_outstanding",
    }

    async def run_twice() -> Any:
        async with get_client() as client:
            made = await client.create_flow_run(advance_case, parameters=params)
        first = run_flow_async(advance_case, flow_run=made, parameters=params)
        await closure_answered(first, ref, answer)
        async with get_client() as client:  # as homeward-crashed-run-rescheduled does
            await client.set_flow_run_state(made.id, Scheduled(name="AwaitingRetry"), force=True)
            again = await client.read_flow_run(made.id)
        return await run_flow_async(
            advance_case, flow_run=again, parameters=params, return_type="state"
        )

    state = run(run_twice())

    assert (state.type, state.name) == (StateType.COMPLETED, "Closure rejected")
    assert "closure not approved" in (state.message or "")
    triggers = [e.trigger for e in _closure_events(ref)]
    assert triggers == ["closure_requested", "closure_rejected"]
    assert factories.load_case(ref).phase == "reintegration"

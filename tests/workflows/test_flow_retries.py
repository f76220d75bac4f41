"""A flow run repeated with the same request key (its own run id by default, or a given
``request_id``) does its engine step once: no second case, transition, record or handoff."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func
from sqlmodel import select

from homeward.base.clock import SimulatedClock
from homeward.base.models import Case, CaseEvent, Handoff, ItemStatus, RequestKey
from tests import factories
from tests.factories import COORD
from tests.signin import assertion_for
from tests.workflows.helpers import reason, run, run_named
from workflows.advance_case import advance_case
from workflows.handoff_item import handoff_item
from workflows.record_checklist_item import record_checklist_item
from workflows.runtime import now as flows_now
from workflows.start_return import start_return

pytestmark = pytest.mark.usefixtures("homeward")
START, ADVANCE = "start-return", "advance-case"


def _as(flow: str) -> str:
    """The coordinator's assertion for one run of ``flow``."""
    return assertion_for(COORD, flow)


def _count(model, *where) -> int:
    with factories.admin_read() as s:
        return int(s.exec(select(func.count()).select_from(model).where(*where)).one())


def test_start_return_keys_its_request_by_the_flow_run_id() -> None:
    result = run(start_return(ngo="adpare", assertion=_as(START)))
    flow_run = asyncio.run(run_named(f"case-{result['case_ref']}/start"))
    with factories.admin_read() as s:
        row = s.exec(select(RequestKey)).one()
    assert row.key == f"flow:{flow_run.id}:start" and row.result["case_ref"] == result["case_ref"]


def test_flows_repeated_with_a_request_id_act_once(clock: SimulatedClock) -> None:
    opened = [
        run(start_return(ngo="adpare", assertion=_as(START), request_id="ui-open-000001"))
        for _ in range(2)
    ]
    assert opened[0] == opened[1] and _count(Case) == 1
    ref = opened[0]["case_ref"]
    clock.current = flows_now()  # the flow opened the case now: consent is given after that
    factories.give_sharing(ref, clock, "fmb")
    first, second = factories.items(ref, status=ItemStatus.OPEN)[:2]
    for _ in range(2):
        recorded = run(
            record_checklist_item(
                item_id=first.id,
                result="done",
                assertion=assertion_for(COORD, "record-checklist-item"),
                request_id="ui-rec-000001",
            )
        )
        assert recorded["recorded"] == "done"
        handed = run(
            handoff_item(
                item_id=second.id,
                action="propose",
                assertion=assertion_for(COORD, "handoff-item"),
                to_org="fmb",
                request_id="ui-hand-000001",
            )
        )
        assert handed["handoff"] == "propose"
    assert _count(CaseEvent, CaseEvent.trigger == "item_done") == 1
    assert _count(Handoff) == 1
    factories.complete_stage(ref, clock)
    data = {"method": "signed", "language": "ro"}
    moved = [
        run(
            advance_case(
                case_ref=ref,
                trigger="record_consent",
                assertion=_as(ADVANCE),
                data=data,
                request_id="ui-move-000001",
            )
        )
        for _ in range(2)
    ]
    assert moved[0]["state"] == moved[1]["state"] == "consent_obtained"
    assert _count(CaseEvent, CaseEvent.trigger == "record_consent") == 1
    said = run(
        advance_case(
            case_ref=ref,
            trigger="suspend",
            assertion=_as(ADVANCE),
            data={"reason": "safety_incident"},
            request_id="ui-move-000001",
        )
    )
    assert "already used for a different request" in reason(said)

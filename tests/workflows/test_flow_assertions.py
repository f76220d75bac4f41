"""A case flow acts for the person its run assertion proves, and for nobody else: a run started
without one, with a forged, expired, replayed or revoked one, or with one issued for another
flow ends refused (issue 18: a state named Refused, not a failure) with one line before
anything changes; a run that acts records in the case's
history that it was this run, for that person's session."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlmodel import col, select

from homeward.base.clock import SimulatedClock
from homeward.base.models import Case, CaseEvent, StaffSession
from homeward.base.settings import get_settings
from homeward.commands.runner import run as run_command
from homeward.commands.signin import EndSession
from tests import factories
from tests.factories import COORD
from tests.signin import assertion_for, credential_for
from tests.workflows.helpers import reason, run, run_named
from workflows.advance_case import advance_case
from workflows.runtime import now as flows_now
from workflows.start_return import start_return

pytestmark = pytest.mark.usefixtures("homeward")
CONSENT = {"method": "signed", "language": "ro"}


def _expired() -> str:
    """An assertion issued longer ago than it may wait before its run uses it."""
    minutes = get_settings().assertion_minutes + 1
    return assertion_for(COORD, "advance-case", flows_now() - timedelta(minutes=minutes))


def _tampered() -> str:
    token = assertion_for(COORD, "advance-case")
    return token[:-2] + ("AA" if token[-2:] != "AA" else "BB")


def _revoked() -> str:
    """An assertion whose session was ended (``homeward logout``) before the run used it."""
    token = assertion_for(COORD, "advance-case")
    run_command(EndSession(), credential_for(COORD, flows_now()))
    return token


BAD: dict[str, tuple[Callable[[], str], str]] = {
    "none": (lambda: "", "assertion: start this run with one from `homeward assertion --flow"),
    "forged": (lambda: "not-a-token.at-all", "assertion: not one Homeward issued"),
    "tampered": (_tampered, "assertion: not one Homeward issued"),
    "other flow": (
        lambda: assertion_for(COORD, "start-return"),
        "assertion: not issued for the flow 'advance-case'",
    ),
    "expired": (_expired, "assertion: expired before it was used"),
    "revoked": (_revoked, "assertion: the session it was issued in has ended"),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_a_bad_assertion_refuses_the_run_in_one_line_and_changes_nothing(
    clock: SimulatedClock, kind: str
) -> None:
    ref = factories.open_case(clock)
    factories.complete_stage(ref, clock)
    make, message = BAD[kind]
    token = make()
    before = factories.db_snapshot()

    said = run(advance_case(case_ref=ref, trigger="record_consent", assertion=token, data=CONSENT))

    assert reason(said).startswith(message)
    assert factories.db_snapshot() == before
    refused = asyncio.run(run_named(f"case-{ref}/advance"))
    assert refused.state_name == "Refused"
    assert message in (refused.state.message if refused.state else "")


def test_start_return_without_an_assertion_opens_no_case() -> None:
    before = factories.db_snapshot()
    assert "--flow start-return" in reason(run(start_return(ngo="adpare")))
    said = run(start_return(ngo="adpare", assertion=assertion_for(COORD, "advance-case")))
    assert "not issued for the flow 'start-return'" in reason(said)
    assert factories.db_snapshot() == before
    with factories.admin_read() as s:
        assert s.exec(select(Case)).all() == []


def test_a_replayed_assertion_is_refused_and_the_first_run_is_in_the_history(
    clock: SimulatedClock,
) -> None:
    ref = factories.open_case(clock)
    factories.complete_stage(ref, clock)
    token = assertion_for(COORD, "advance-case")
    run(advance_case(case_ref=ref, trigger="record_consent", assertion=token, data=CONSENT))
    before = factories.db_snapshot()

    said = run(advance_case(case_ref=ref, trigger="suspend", assertion=token, data={}))
    assert reason(said).startswith("assertion: already used by another run")

    assert factories.db_snapshot() == before
    first = asyncio.run(run_named(f"case-{ref}/record_consent"))
    with factories.admin_read() as s:
        event = s.exec(
            select(CaseEvent)
            .where(CaseEvent.trigger == "record_consent")
            .order_by(col(CaseEvent.id).desc())
        ).first()
        assert event is not None and event.proof is not None
        found = re.fullmatch(rf"run {first.id} for session ([0-9a-f]+)", event.proof)
        assert found, event.proof
        held = s.get(StaffSession, found.group(1))
        assert held is not None and held.staff_id == event.actor_id

"""The transition table, row by row: what it allows happens; what it does not is refused.

Both halves are generated from the tables themselves (the stage table and the status table,
as the moves a case's history records: ``phase_moves``), so a row added to either is tested
without touching this file. Cases are put in each source state with the real triggers and the
case is reloaded from the database between steps.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import col, func, select

from homeward.base.clock import SimulatedClock
from homeward.base.errors import Refused
from homeward.base.models import Case, CaseEvent, ChecklistItem
from statemachines.return_case import (
    ACTIVE,
    STATUS_TRANSITIONS,
    TRANSITIONS,
    TRIGGERS,
    State,
    phase_moves,
)
from tests import factories as f

# Guards this file knows how to satisfy (by completing the stage's items and giving
# ``satisfying_data``). A guard added to the table fails ``test_every_guard_is_known`` first.
KNOWN_GUARDS = {
    "stage_work_done",
    "risk_assessed",
    "high_risk_reviewed",  # no structured assessment in these tests: nothing to review
    "minor_may_travel",
    "travel_document_valid",
    "departure_in_document_window",
    "arrival_date_valid",
    "closure_approved",
    "support_period_complete",
    "closure_reason_fits",
    "risk_reassessed",
    "stage_closable",  # the moves below close active cases only from closable stages
}
# Off the happy path: the trigger that leaves an active stage for these, and the one back.
LEAVING = {State.SUSPENDED: "suspend", State.LOST_CONTACT: "lose_contact"}
RETURNING = {"resume": State.SUSPENDED, "regain_contact": State.LOST_CONTACT}
# Before travel, only a minor's case whose best-interests assessment found return not in the
# child's interest closes (a referral to the host country's child protection).
REFERRAL = {State.CONSENT_OBTAINED, State.ASSESSED}


# The return route's moves, in phases (a stage while active, else the status).
ALL = list(dict.fromkeys([*TRIGGERS, *(row["trigger"] for row in STATUS_TRANSITIONS)]))
MOVES = sorted(
    (trigger, State(source), State(dest))
    for trigger, source, dest in phase_moves()
    if trigger in ALL and source in set(State) and dest in set(State)
)
ALLOWED: dict[str, set[State]] = {}
for _trigger, _source, _ in MOVES:
    ALLOWED.setdefault(_trigger, set()).add(_source)

ROWS = [
    pytest.param(trigger, source, dest, id=f"{trigger}:{source}->{dest}")
    for trigger, source, dest in MOVES
]
NOT_ALLOWED: dict[State, list[str]] = {
    state: [trigger for trigger in ALL if state not in ALLOWED[trigger]] for state in State
}


def reach(
    case_ref: str, state: State, clock: SimulatedClock, *, origin: State = State.IDENTIFIED_ABROAD
) -> Case:
    """Put the case in ``state`` with real triggers; suspended/lost cases leave from ``origin``."""
    if state in ACTIVE:
        return f.drive_to(case_ref, state, clock)
    if state in LEAVING:
        f.drive_to(case_ref, origin, clock)
        f.advance(case_ref, LEAVING[state], clock)
    else:
        f.advance(case_ref, "withdraw_consent", clock)
        if state == State.CLOSED:
            f.advance(case_ref, "close", clock, satisfying_data("close", state, clock))
    case = f.load_case(case_ref)
    assert case.phase == state
    return case


def satisfying_data(trigger: str, source: State, clock: SimulatedClock) -> dict[str, Any]:
    """Step data meeting every guard of ``trigger`` from ``source``."""
    data = f.step_data(trigger, clock)
    if trigger == "close" and source in REFERRAL:
        data = {**data, "reason": "return_not_in_child_interest"}
    elif trigger == "close" and source != State.REINTEGRATION:
        # support_period_ended applies only after reintegration; any other listed reason will do.
        data = {**data, "reason": "person_chose_to_stop"}
    return data


def referred_minor(clock: SimulatedClock, source: State) -> str:
    """A minor's case in ``source`` whose best-interests assessment found against return."""
    ref = f.open_case(clock, minor=True)
    f.drive_to(ref, State.CONSENT_OBTAINED, clock)
    f.complete_stage(ref, clock, best_interests_assessment="return_not_in_interest")
    if source == State.ASSESSED:
        f.advance(ref, "complete_assessment", clock)
    return ref


def facts(case_ref: str) -> tuple[str, int, int, int]:
    """State, version, number of items and number of events, as stored."""
    with f.admin_read() as s:
        case = s.exec(select(Case).where(Case.case_ref == case_ref)).one()
        n_items = s.exec(select(func.count()).where(ChecklistItem.case_id == case.id)).one()
        n_events = s.exec(select(func.count()).where(CaseEvent.case_id == case.id)).one()
        return case.phase, case.version, n_items, n_events


def last_event(case_ref: str) -> CaseEvent:
    with f.admin_read() as s:
        case = s.exec(select(Case).where(Case.case_ref == case_ref)).one()
        query = select(CaseEvent).where(CaseEvent.case_id == case.id)
        return s.exec(query.order_by(col(CaseEvent.id).desc())).first()


def test_every_guard_is_known():
    rows = [*TRANSITIONS, *STATUS_TRANSITIONS]
    conditions = {c for row in rows for c in row.get("conditions", [])}
    assert conditions <= KNOWN_GUARDS, f"teach this test to satisfy {conditions - KNOWN_GUARDS}"


def test_every_state_is_in_the_table():
    in_table = {s for _, s, _ in MOVES} | {d for _, _, d in MOVES}
    assert in_table == set(State)


def test_the_status_table_names_no_stage():
    """Resuming needs no "return to the stage it left" rows: status rows name statuses only."""
    named = {str(row["dest"]) for row in STATUS_TRANSITIONS} | {
        str(s)
        for row in STATUS_TRANSITIONS
        for s in (row["source"] if isinstance(row["source"], list) else [row["source"]])
    }
    assert named <= {"active", "suspended", "lost_contact", "consent_withdrawn", "closed"}


@pytest.mark.parametrize(("trigger", "source", "dest"), ROWS)
def test_row_moves_the_case_and_records_the_event(db_url, clock, trigger, source, dest):
    f.seed()
    if trigger == "close" and source in REFERRAL:
        ref = referred_minor(clock, source)
    else:
        ref = f.open_case(clock)
        origin = dest if trigger in RETURNING else State.IDENTIFIED_ABROAD
        reach(ref, source, clock, origin=origin)
    if trigger in RETURNING:
        assert f.load_case(ref).state == dest  # the stage it kept while away
    f.complete_stage(ref, clock)  # the stage's blocking items (and a risk reassessment)
    _, version, _, n_events = facts(ref)

    f.advance(ref, trigger, clock, satisfying_data(trigger, source, clock))

    state, new_version, _, new_n_events = facts(ref)
    assert state == dest
    assert new_version > version
    assert new_n_events == n_events + 1
    event = last_event(ref)
    assert (event.trigger, event.from_state, event.to_state) == (trigger, source, dest)
    with f.admin_read() as s:
        assert event.actor_id == f.actor(s).id


@pytest.mark.parametrize("state", list(State))
def test_triggers_the_table_does_not_allow_are_refused_and_change_nothing(db_url, clock, state):
    f.seed()
    ref = f.open_case(clock)
    reach(ref, state, clock)
    f.complete_stage(ref, clock)  # so only the table, not open work, can refuse
    before, snapshot = facts(ref), f.db_snapshot()
    outcomes = {}
    for trigger in NOT_ALLOWED[state]:
        try:
            f.advance(ref, trigger, clock, satisfying_data(trigger, state, clock))
            outcomes[trigger] = f"fired: now {f.load_case(ref).phase}"
        except Refused as exc:
            said = str(exc)
            expected = said.startswith(f"cannot {trigger} case {ref}") and state in said
            outcomes[trigger] = "refused" if expected else f"said: {exc}"
        if facts(ref) != before or f.db_snapshot() != snapshot:
            outcomes[trigger] += " and changed the database"
            break

    assert outcomes == dict.fromkeys(NOT_ALLOWED[state], "refused")

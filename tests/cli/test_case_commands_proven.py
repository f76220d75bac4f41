"""Every case-level command (``homeward case ...``, closures, ``consent ...``) acts as the
signed-in person and nobody else: signed out, or with a forged, expired or ended session, it is
refused in one line and changes nothing; what it does is recorded with the session that proved
who did it."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlmodel import col, select

from homeward.base.clock import SimulatedClock
from homeward.base.models import CaseEvent, StaffSession
from homeward.base.settings import get_settings
from homeward.commands.runner import run
from homeward.commands.signin import EndSession
from homeward.edges.cli import session_store
from homeward.edges.cli.common import state
from homeward.protection.identity import SessionToken
from tests import factories as f
from tests.cli.runner import run_cli
from tests.signin import forget_all, token_for

PERSON = json.dumps({"given_name": "Zenobia", "family_name": "Canarycanary"})
SUPERVISOR2 = "sup2@iom-it.example.org"
COMMANDS = [
    ["case", "start", "--person", "-"],
    ["case", "show", "REF"],
    ["case", "show", "REF", "--personal"],
    ["case", "list"],
    ["case", "history", "REF"],
    ["case", "advance", "REF", "suspend", "--set", "reason=safety_incident"],
    ["case", "person", "REF", "--person", "-"],
    ["case", "handoff", "REF", "--to", "iom-ro"],
    ["case", "accept", "REF"],
    ["case", "reject", "REF", "--reason", "no capacity"],
    ["case", "hold", "REF"],
    ["case", "request-closure", "REF", "--reason", "support_period_ended"],
    ["case", "approve-closure", "REF"],
    ["case", "reject-closure", "REF", "--code", "work_outstanding"],
    ["consent", "give", "REF", "--purpose", "sharing", "--org", "fmb"]
    + ["--method", "signed", "--language", "ro"],
    ["consent", "withdraw", "REF", "--purpose", "sharing", "--org", "adpare"],
    ["consent", "list", "REF"],
]


@pytest.fixture
def cli(db_url, capsys, monkeypatch, clock):
    f.seed()
    monkeypatch.setattr(state, "clock", clock)

    def run_it(*args: str, stdin: str = ""):
        return run_cli(capsys, monkeypatch, *args, stdin=stdin)

    return run_it


def _expired(clock: SimulatedClock) -> str:
    hours = get_settings().session_hours + 1
    return token_for(f.COORD, clock.now() - timedelta(hours=hours))


def _ended(clock: SimulatedClock) -> str:
    token = token_for(f.COORD, clock.now())
    run(EndSession(), SessionToken(token), clock=clock)
    forget_all()  # the test helper would hand the ended token out again
    return token


SESSIONS = {
    "signed out": (lambda _clock: None, "session: not signed in; run `homeward login`"),
    "forged": (lambda _clock: "forged-token", "session: not signed in; run `homeward login`"),
    "expired": (_expired, "session: this session expired; run `homeward login`"),
    "ended": (_ended, "session: this session was ended; run `homeward login`"),
}


@pytest.mark.parametrize("how", list(SESSIONS))
def test_without_a_live_session_every_case_command_is_refused_and_changes_nothing(cli, clock, how):
    ref = f.open_case(clock)
    f.drive_to(ref, "reintegration", clock)
    make, message = SESSIONS[how]
    token = make(clock)
    if token is not None:
        session_store.store(token)  # as `homeward login` keeps it
    before = f.db_snapshot()
    for argv in COMMANDS:
        refused = cli(*(ref if a == "REF" else a for a in argv), stdin=PERSON)
        assert refused.code == 12 and refused.err.startswith(f"error: {message}"), argv
        assert refused.err.count("\n") == 1 and refused.out == ""
    assert f.db_snapshot() == before


def _last_event(ref: str, trigger: str) -> CaseEvent:
    case = f.load_case(ref)
    with f.admin_read() as s:
        query = select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.trigger == trigger)
        found = s.exec(query.order_by(col(CaseEvent.id).desc())).first()
    assert found is not None
    return found


def _session_of(event: CaseEvent) -> StaffSession:
    found = re.fullmatch(r"session ([0-9a-f]+)", event.proof or "")
    assert found, event.proof
    with f.admin_read() as s:
        held = s.get(StaffSession, found.group(1))
    assert held is not None and held.staff_id == event.actor_id
    return held


def test_each_event_names_the_session_that_proved_who_acted(cli, clock):
    from tests.statemachines.test_guards import add_supervisor

    add_supervisor("iom-it", SUPERVISOR2)
    ref = f.open_case(clock)
    f.drive_to(ref, "reintegration", clock)
    f.complete_stage(ref, clock)
    steps = [
        (f.COORD, ["case", "hold", ref], 4),  # the owner's supervisors place holds
        (f.SUPERVISOR, ["case", "hold", ref], 0),
        (f.COORD, ["case", "request-closure", ref, "--reason", "support_period_ended"], 0),
        (f.SUPERVISOR, ["case", "approve-closure", ref], 0),
    ]
    for email, argv, code in steps:
        done = cli("--as", email, *argv)
        assert done.code == code, done.err
    asked, closed = _last_event(ref, "closure_requested"), _last_event(ref, "close")
    held = _last_event(ref, "legal_hold_placed")
    assert _session_of(asked).staff_id != _session_of(closed).staff_id  # two people
    assert _session_of(held).id == _session_of(closed).id  # the supervisor's one session
    history = cli("--as", f.COORD, "case", "history", ref)
    assert history.code == 0 and "proof" in history.out
    assert f"{closed.proof}" in history.out and f"{asked.proof}" in history.out

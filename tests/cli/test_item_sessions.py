"""The item, report and import commands act only for a live session: signed out, expired and
ended sessions are refused with one line before anything changes; the history of an item
change names the session that made it."""

from __future__ import annotations

import csv

import pytest
from sqlmodel import col, select

from homeward.base.models import AuditEntry, CaseEvent, ItemStatus, StaffSession
from homeward.commands.handoffs import ProposeHandoff
from homeward.commands.runner import run
from homeward.commands.signin import EndSession
from homeward.edges.cli import session_store
from homeward.edges.cli.common import state
from homeward.protection.identity import SessionToken
from tasks.catalog import load_catalog
from tests import factories as f
from tests.cli.runner import run_cli
from tests.signin import token_for

NGO = "cw@adpare.example.org"


def _commands(item: int, tmp_path) -> dict[str, list[str]]:
    source = tmp_path / "cases.csv"
    with source.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows([["external_id", "given_name", "family_name"], ["X-1", "A", "B"]])
    n = str(item)
    return {
        "list": ["items", "list"],
        "show": ["items", "show", n],
        "done": ["items", "done", n, "--request-id", "req-done-0001"],
        "skip": ["items", "skip", n, "--reason", "not needed"],
        "assign": ["items", "assign", n, "--to", f.COORD],
        "reopen": ["items", "reopen", n, "--reason", "again"],
        "due": ["items", "due", n, "--on", "2030-01-31", "--reason", "later"],
        "handoff": ["items", "handoff", n, "--to", "adpare"],
        "accept": ["items", "accept", n],
        "reject": ["items", "reject", n, "--reason", "no capacity"],
        "programme list": ["programme", "list"],
        "report": ["report", "stages"],
        "export": ["export", "htcds", "--out", str(tmp_path / "out.csv")],
        "import": ["import", "cases", str(source)],
    }


@pytest.fixture
def handed(db_url, clock, monkeypatch) -> int:
    """An item (one without outcomes) of a new case handed to ADPARE, awaiting its answer."""
    f.seed()
    monkeypatch.setattr(state, "clock", clock)
    ref = f.open_case(clock)
    catalog = load_catalog()
    open_items = f.items(ref, status=ItemStatus.OPEN)
    item = next(i for i in open_items if not catalog.spec(i.code).outcomes)
    coord = SessionToken(token_for(f.COORD, clock.now()))
    assert item.id is not None
    run(ProposeHandoff(item.id, "adpare"), coord, clock=clock)
    return item.id


def _sign_in_as_expired(clock) -> str:
    session_store.store(token_for(NGO, clock.now()))
    clock.advance(hours=13)  # sessions last 12 hours
    return "error: session: this session expired; run `homeward login` to sign in"


def _sign_in_as_ended(clock) -> str:
    token = token_for(NGO, clock.now())
    run(EndSession(), SessionToken(token), clock=clock)
    session_store.store(token)
    return "error: session: this session was ended; run `homeward login` to sign in"


def _signed_out(_clock) -> str:
    return "error: session: not signed in; run `homeward login`"


@pytest.mark.parametrize("session", [_signed_out, _sign_in_as_expired, _sign_in_as_ended])
def test_without_a_live_session_every_command_is_refused_and_changes_nothing(
    handed, clock, capsys, monkeypatch, tmp_path, session
) -> None:
    message = session(clock)
    for what, args in _commands(handed, tmp_path).items():
        before = f.db_snapshot()

        result = run_cli(capsys, monkeypatch, *args)

        assert (result.code, result.err.strip(), result.out) == (12, message, ""), what
        assert f.db_snapshot() == before, what
    assert not (tmp_path / "out.csv").exists()


def _session_of(email: str) -> str:
    with f.admin_read() as s:
        who = f.actor(s, email)
        query = select(StaffSession).where(StaffSession.staff_id == who.id)
        return s.exec(query.order_by(col(StaffSession.created_at).desc())).first().id


def test_item_changes_name_the_session_that_made_them(handed, capsys, monkeypatch) -> None:
    accepted = run_cli(capsys, monkeypatch, "--as", NGO, "items", "accept", str(handed))
    done = run_cli(capsys, monkeypatch, "--as", NGO, "items", "done", str(handed))

    assert accepted.code == 0 and done.code == 0, accepted.err + done.err
    with f.admin_read() as s:
        events = s.exec(select(CaseEvent).where(col(CaseEvent.trigger).startswith("handoff_")))
        proofs = {e.trigger: e.proof for e in events}
        [item_done] = s.exec(select(CaseEvent).where(CaseEvent.trigger == "item_done")).all()
    assert proofs["handoff_proposed"] == f"session {_session_of(f.COORD)}"
    assert proofs["handoff_accepted"] == f"session {_session_of(NGO)}"
    assert item_done.proof == f"session {_session_of(NGO)}"
    with f.admin_read() as s:  # one audit line per command, naming who ran it
        ngo = f.actor(s, NGO).id
        query = select(AuditEntry).where(col(AuditEntry.action).startswith("cmd:items"))
        found = s.exec(query.order_by(col(AuditEntry.id)))
        lines = [(e.action, e.actor_id, e.fields) for e in found]
    assert lines[-2:] == [("cmd:items accept", ngo, "staff"), ("cmd:items done", ngo, "staff")]

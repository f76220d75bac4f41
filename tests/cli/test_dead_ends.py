"""No dead ends, through the CLI: a lapsed travel document replaced with the command its
refusal names; a minor's case closed as a referral when return is not in the child's
interest; a done item reopened and a due date moved, each with an encrypted, audited reason."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import col, select

from homeward.base.models import AuditEntry, Case, CaseEvent, ItemChange, ItemStatus
from homeward.edges.cli.common import state
from statemachines.return_case import State
from tests import factories as f
from tests.cli.runner import run_cli

REASON = "Zenobia's doctor moved the appointment"  # free text: must never leave the vault
OUTSIDER, PARTNER = "cw@fmb.example.org", "cw@adpare.example.org"


@pytest.fixture
def cli(db_url, capsys, monkeypatch, clock):
    monkeypatch.setattr(state, "clock", clock)  # the CLI's time is the test's clock
    f.seed()

    def run(*args: str, as_email: str = f.COORD):
        return run_cli(capsys, monkeypatch, "--as", as_email, *args)

    return run


def day(clock, days: int = 0) -> str:
    return str(clock.now().date() + timedelta(days=days))


def one_line(result, code: int) -> str:
    assert result.code == code, result.out + result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    return lines[0]


# --- a lapsed emergency travel document ----------------------------------------------------
def test_a_lapsed_document_is_replaced_with_the_command_the_refusal_names(cli, clock):
    ref = f.open_case(clock)
    f.drive_to(ref, State.ASSESSED, clock)
    f.complete_stage(ref, clock)
    emergency = {
        "document_kind": "emergency_travel_document",
        "document_issued_on": day(clock),
        "document_expires_on": day(clock, 10),
        "departure_on": day(clock, 5),
    }
    f.advance(ref, "arrange_travel", clock, emergency)
    f.complete_stage(ref, clock)  # fit to travel, counselling and notice done for day 5
    clock.advance(days=12)  # the flight was missed; the document lapsed on day 10

    refusal = one_line(cli("case", "advance", ref, "depart"), 4)
    command = re.search(r"`homeward (case advance \S+ rearrange_travel[^`]*)`", refusal)
    assert command, refusal
    # issued today, valid 20 days, leaving in 4: the placeholders in the order the line names them
    dates = iter([day(clock), day(clock, 20), day(clock, 4)])
    args = command.group(1).replace("KIND", "emergency_travel_document").split()
    moved = cli(*[a.replace("YYYY-MM-DD", next(dates)) if "YYYY" in a else a for a in args])
    assert moved.code == 0, moved.err

    case = f.load_case(ref)
    assert (case.phase, str(case.departure_on)) == (State.TRAVEL_ARRANGED, day(clock, 4))
    assert str(case.travel_doc_expires_on) == day(clock, 20)
    fresh = {i.code: i for i in f.items(ref, stage=State.TRAVEL_ARRANGED, status="open")}
    # done for the old dates: a new fit-to-travel check and a new pre-arrival notice are owed
    assert sorted(fresh) == ["fit_to_travel", "pre_arrival_notice"]
    assert str(fresh["fit_to_travel"].due_at.date()) == day(clock, 3)  # the day before leaving
    f.complete_stage(ref, clock)
    clock.advance(days=4)
    assert cli("case", "advance", ref, "depart").code == 0
    assert f.load_case(ref).phase == State.IN_TRANSIT


def test_rearranged_travel_moves_open_items_to_the_new_departure(cli, clock):
    ref = f.open_case(clock)
    f.drive_to(ref, State.TRAVEL_ARRANGED, clock)  # departure on day 5, its items open
    data = {**f.step_data("rearrange_travel", clock), "departure_on": day(clock, 9)}
    args = [a for k, v in data.items() for a in ("--set", f"{k}={v}")]
    assert cli("case", "advance", ref, "rearrange_travel", *args).code == 0
    due = {i.code: str(i.due_at.date()) for i in f.items(ref, stage=State.TRAVEL_ARRANGED)}
    assert due == {
        "fit_to_travel": day(clock, 8),
        "pre_departure_counselling": day(clock, 7),
        "pre_arrival_notice": day(clock, 6),
    }


# --- a negative best-interests assessment --------------------------------------------------
def test_a_child_whose_return_is_not_in_their_interest_is_closed_as_a_referral(cli, clock):
    ref = f.open_case(clock, minor=True)
    f.drive_to(ref, State.CONSENT_OBTAINED, clock)
    f.complete_stage(ref, clock, best_interests_assessment="return_not_in_interest")
    f.advance(ref, "complete_assessment", clock)
    f.complete_stage(ref, clock)
    travel = f.step_data("arrange_travel", clock)
    args = [a for k, v in travel.items() for a in ("--set", f"{k}={v}")]

    refusal = one_line(cli("case", "advance", ref, "arrange_travel", *args), 4)
    asked, approved = re.findall(r"`homeward (case [a-z-]+-closure [^`]*)`", refusal)
    assert cli(*asked.split()).code == 0  # the coordinator asks
    closed = cli(*approved.split(), as_email=f.SUPERVISOR)  # a supervisor approves
    assert closed.code == 0, closed.err
    case = f.load_case(ref)
    assert (case.phase, case.closure_reason) == ("closed", "return_not_in_child_interest")


def test_an_adult_case_before_travel_does_not_close_as_a_referral(cli, clock):
    ref = f.open_case(clock)
    f.drive_to(ref, State.ASSESSED, clock)
    for reason in ("return_not_in_child_interest", "person_chose_to_stop"):
        assert cli("case", "request-closure", ref, "--reason", reason).code == 0
        before = f.db_snapshot()
        one_line(cli("case", "approve-closure", ref, as_email=f.SUPERVISOR), 4)
        assert f.db_snapshot() == before
        rejected = cli(
            "case", "reject-closure", ref, "--code", "wrong_reason", as_email=f.SUPERVISOR
        )
        assert rejected.code == 0, rejected.err


def test_a_case_never_closes_by_naming_its_approver(cli, clock):
    ref = f.open_case(clock)
    f.drive_to(ref, State.REINTEGRATION, clock)
    f.complete_stage(ref, clock)
    before = f.db_snapshot()
    sets = ("--set", "reason=support_period_ended", "--set", f"approved_by={f.SUPERVISOR}")
    refusal = one_line(cli("case", "advance", ref, "close", *sets), 4)
    assert "homeward case request-closure" in refusal and f.SUPERVISOR not in refusal
    assert f.db_snapshot() == before


# --- reopening an item and moving a due date ------------------------------------------------
def events(ref: str, trigger: str) -> list[CaseEvent]:
    with f.admin_read() as s:
        case = s.exec(select(Case).where(Case.case_ref == ref)).one()
        query = select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.trigger == trigger)
        return list(s.exec(query.order_by(col(CaseEvent.id))))


def reason_kept_secret(change_id: int) -> None:
    with f.admin_read() as s:
        change = s.get(ItemChange, change_id)
        rows = [*s.exec(select(CaseEvent)), *s.exec(select(AuditEntry))]
    assert change is not None and change.reason and "Zenobia" not in change.reason
    assert f.plain("item_change", "reason", change_id, change.reason) == REASON
    assert all("Zenobia" not in repr(row.model_dump()) for row in rows)


def test_a_done_item_is_reopened_with_an_encrypted_audited_reason(cli, clock):
    ref = f.open_case(clock)
    item = f.items(ref, stage=State.IDENTIFIED_ABROAD)[0]
    assert cli("items", "done", str(item.id)).code == 0
    version = f.load_case(ref).version

    stale = cli("items", "reopen", str(item.id), "--reason", REASON, "--expect-version", "1")
    one_line(stale, 5)
    reopened = cli(
        "items", "reopen", str(item.id), "--reason", REASON, "--expect-version", str(version)
    )
    assert reopened.code == 0, reopened.err
    (after,) = [i for i in f.items(ref) if i.id == item.id]
    assert (after.status, after.completed_at) == (ItemStatus.OPEN, None)
    assert f.load_case(ref).version > version
    (event,) = events(ref, "item_reopened")
    assert event.data["item_id"] == item.id and event.data["was"] == "done"
    reason_kept_secret(event.data["change_id"])
    assert "item_reopened" in cli("case", "history", ref).out


def test_a_due_date_moves_with_a_reason_but_not_into_the_past(cli, clock):
    ref = f.open_case(clock)
    item = f.items(ref, stage=State.IDENTIFIED_ABROAD)[0]
    before = f.db_snapshot()
    past = one_line(
        cli("items", "due", str(item.id), "--on", day(clock, -1), "--reason", REASON), 2
    )
    assert past.startswith("error: on: ") and "in the past" in past
    one_line(cli("items", "due", str(item.id), "--on", day(clock, 3), "--reason", "no"), 2)
    assert f.db_snapshot() == before

    moved = cli("items", "due", str(item.id), "--on", day(clock, 3), "--reason", REASON)
    assert moved.code == 0, moved.err
    (after,) = [i for i in f.items(ref) if i.id == item.id]
    assert str(after.due_at.date()) == day(clock, 3)
    (event,) = events(ref, "item_due_changed")
    assert event.data["due_on"] == day(clock, 3)
    reason_kept_secret(event.data["change_id"])


def test_a_blocking_item_of_a_stage_left_stays_done_and_outsiders_cannot_reopen(cli, clock):
    ref = f.open_case(clock)
    f.drive_to(ref, State.CONSENT_OBTAINED, clock)
    left = f.items(ref, stage=State.IDENTIFIED_ABROAD)[0]
    refusal = one_line(cli("items", "reopen", str(left.id), "--reason", REASON), 4)
    assert "which the case has left" in refusal
    f.complete_stage(ref, clock)
    here = f.items(ref, stage=State.CONSENT_OBTAINED)[0]  # owned by iom-it
    one_line(cli("items", "reopen", str(here.id), "--reason", REASON, as_email=OUTSIDER), 3)
    one_line(cli("items", "reopen", str(here.id), "--reason", REASON, as_email=PARTNER), 4)
    assert all(i.status == "done" for i in f.items(ref, stage=State.CONSENT_OBTAINED))

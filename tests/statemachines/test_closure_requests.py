"""A closure request is a record in the case history: asked once, decided once (approved,
rejected or expired), never approved by who asked for it; the CLI decides it as the Prefect
form does. Real database (SQLite, or PostgreSQL with row security)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from homeward.base.clock import SimulatedClock
from homeward.base.db import system_scope, write_session
from homeward.base.errors import Conflict, NotFound, Refused
from homeward.base.models import AuditEntry, CaseEvent, RequestKey
from homeward.commands.closure_runs import (
    ExpireClosure,
    PendingClosures,
    RenewClosure,
    RenewedClosure,
)
from homeward.commands.closures import ApproveClosure, RejectClosure, RequestClosure
from homeward.commands.runner import run
from homeward.edges.cli.common import state
from homeward.protection.identity import Service
from statemachines.approvals import approve_closure, reject_closure
from statemachines.cases import get_case
from statemachines.closure_requests import (
    all_pending,
    latest_request,
    pending_request,
    request_closure,
)
from statemachines.steps import ClosureReason, ClosureRejection
from tests import factories as f
from tests.cli.runner import run_cli
from tests.signin import credential_for
from tests.statemachines.test_guards import add_supervisor, in_reintegration

OTHER = "sup2@iom-it.example.org"  # a second supervisor of the owner organisation
SCHEDULER = Service("scheduler")


@pytest.fixture
def seeded(db_url: str) -> None:
    f.seed()
    add_supervisor("iom-it", OTHER)


@pytest.fixture
def cli(seeded, capsys, monkeypatch, clock):
    monkeypatch.setattr(state, "clock", clock)

    def run_it(as_email: str, *args: str):
        return run_cli(capsys, monkeypatch, "--as", as_email, *args)

    return run_it


def _request(ref: str, clock: SimulatedClock, by: str = f.COORD) -> None:
    with write_session() as s:
        case = get_case(s, case_ref=ref, actor=f.actor(s, by))
        request_closure(
            s,
            case=case,
            actor=f.actor(s, by),
            reason="support_period_ended",
            flow_run_id=None,
            now=clock.now(),
        )


def _triggers(ref: str) -> list[str]:
    case = f.load_case(ref)
    with f.admin_read() as s:
        query = select(CaseEvent.trigger).where(CaseEvent.case_id == case.id)
        return [t for t in s.exec(query.order_by(CaseEvent.id)) if "clos" in t]


def test_a_request_stays_pending_until_decided_and_only_one_waits(seeded, clock):
    ref = in_reintegration(clock)
    _request(ref, clock)
    with pytest.raises(Conflict, match="already requested; a supervisor decides it"):
        _request(ref, clock)
    with write_session() as s:
        case = f.load_case(ref)
        found = pending_request(s, get_case(s, case_ref=ref, actor=f.actor(s)))
        assert found is not None and found.reason == "support_period_ended"
        with system_scope(s):
            assert [c.case_ref for c, _ in all_pending(s)] == [case.case_ref]
        reject_closure(
            s,
            case_ref=ref,
            actor=f.actor(s, f.SUPERVISOR),
            rejection=ClosureRejection.WORK_OUTSTANDING,
            now=clock.now(),
        )
    with write_session() as s:
        latest = latest_request(s, get_case(s, case_ref=ref, actor=f.actor(s)))
        assert latest is not None and latest.status == "rejected"
        with system_scope(s):
            assert all_pending(s) == []
    assert _triggers(ref) == ["closure_requested", "closure_rejected"]


def test_the_requester_cannot_approve_their_own_request(seeded, clock):
    ref = in_reintegration(clock)
    _request(ref, clock, by=f.SUPERVISOR)
    snapshot = f.db_snapshot()
    with write_session() as s, pytest.raises(Refused, match="who asked for the closure"):
        approve_closure(
            s, case_ref=ref, actor=f.actor(s, f.SUPERVISOR), reason=None, now=clock.now()
        )
    with pytest.raises(Refused, match="who asked for the closure cannot approve it"):
        f.advance(
            ref, "close", clock, {"reason": "support_period_ended", "approved_by": f.SUPERVISOR}
        )
    assert f.db_snapshot() == snapshot
    with write_session() as s:
        approve_closure(s, case_ref=ref, actor=f.actor(s, OTHER), reason=None, now=clock.now())
    assert f.load_case(ref).phase == "closed"
    assert _triggers(ref) == ["closure_requested", "close"]


def test_a_supervisor_closing_directly_cannot_name_themself_as_approver(seeded, clock):
    ref = in_reintegration(clock)
    data = {"reason": "support_period_ended", "approved_by": f.SUPERVISOR}
    with pytest.raises(Refused, match="who asked for the closure cannot approve it"):
        f.advance(ref, "close", clock, data, as_email=f.SUPERVISOR)
    f.advance(ref, "close", clock, {**data, "approved_by": OTHER}, as_email=f.SUPERVISOR)
    assert f.load_case(ref).phase == "closed"


def test_the_cli_requests_approves_and_refuses_self_approval(cli, clock):
    ref = in_reintegration(clock)
    asked = cli(f.SUPERVISOR, "case", "request-closure", ref, "--reason", "support_period_ended")
    assert asked.code == 0, asked.err
    mine = cli(f.SUPERVISOR, "case", "approve-closure", ref)
    assert mine.code == 4 and mine.err.count("\n") == 1
    assert "error: " in mine.err and "who asked for the closure" in mine.err
    not_sup = cli(f.COORD, "case", "approve-closure", ref)
    assert not_sup.code == 4 and "ask a supervisor of IOM Italy (iom-it)" in not_sup.err
    done = cli(OTHER, "case", "approve-closure", ref)
    assert done.code == 0 and "is now closed" in done.out
    assert _triggers(ref) == ["closure_requested", "close"]
    assert f.load_case(ref).closure_reason == ClosureReason.SUPPORT_PERIOD_ENDED


def test_the_cli_rejects_with_a_code_and_needs_a_pending_request(cli, clock):
    ref = in_reintegration(clock)
    nothing = cli(f.SUPERVISOR, "case", "reject-closure", ref, "--code", "work_outstanding")
    assert nothing.code == 4 and "no closure of case" in nothing.err
    cli(f.COORD, "case", "request-closure", ref, "--reason", "support_period_ended")
    bad = cli(f.SUPERVISOR, "case", "reject-closure", ref, "--code", "meh")
    assert bad.code == 2 and "--code: 'meh' is not a code" in bad.err
    done = cli(f.SUPERVISOR, "case", "reject-closure", ref, "--code", "work_outstanding")
    assert done.code == 0, done.err
    assert f.load_case(ref).phase == "reintegration"
    assert _triggers(ref) == ["closure_requested", "closure_rejected"]


def _event(ref: str, trigger: str) -> CaseEvent:
    case = f.load_case(ref)
    with f.admin_read() as s:
        query = select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.trigger == trigger)
        return s.exec(query).one()


def test_the_scheduler_gives_a_pending_request_a_new_run_and_nobody_else_may(seeded, clock):
    import notifications  # noqa: F401  (the case-history listeners, as `homeward up` has them)

    ref = in_reintegration(clock)
    reason = ClosureReason.SUPPORT_PERIOD_ENDED
    coord = credential_for(f.COORD, clock.now())
    asked = run(RequestClosure(ref, reason, "run-gone"), coord, clock=clock)
    assert asked.request_id is not None
    with pytest.raises(Refused, match="^session: .* is done by `homeward up`"):
        run(PendingClosures(), credential_for(f.SUPERVISOR, clock.now()), clock=clock)
    [waiting] = run(PendingClosures(), SCHEDULER, clock=clock)
    assert (waiting.case_ref, waiting.request_id, waiting.reason) == (ref, asked.request_id, reason)

    renew = RenewClosure(ref, asked.request_id, "run-new")
    assert run(renew, SCHEDULER, clock=clock).waiting_run == "run-new"
    renewed = _event(ref, "closure_request_renewed")
    assert (renewed.actor_id, renewed.proof) == (None, "service scheduler")
    with pytest.raises(Refused, match="^closure_request: only a run `homeward up` started"):
        run(RenewedClosure(ref, asked.request_id, "run-gone"), SCHEDULER, clock=clock)
    found = run(RenewedClosure(ref, asked.request_id, "run-new"), SCHEDULER, clock=clock)
    assert (found.decision, found.reason) == ("pending", reason)

    expired = run(ExpireClosure(ref, asked.request_id, 60), SCHEDULER, clock=clock)
    assert expired.decision == "expired" and f.load_case(ref).phase == "reintegration"
    gone = _event(ref, "closure_request_expired")
    assert (gone.actor_id, gone.proof) == (None, "service scheduler")
    again = run(ExpireClosure(ref, asked.request_id, 60), SCHEDULER, clock=clock)
    assert again.decision == "expired"  # already ended: nothing recorded twice
    assert run(PendingClosures(), SCHEDULER, clock=clock) == []


def test_a_decision_on_a_request_decided_meanwhile_records_nothing(seeded, clock):
    ref = in_reintegration(clock)
    coord = credential_for(f.COORD, clock.now())
    asked = run(RequestClosure(ref, ClosureReason.SUPPORT_PERIOD_ENDED), coord, clock=clock)
    rejection = ClosureRejection.WORK_OUTSTANDING
    sup = credential_for(f.SUPERVISOR, clock.now())
    run(RejectClosure(ref, rejection, asked.request_id), sup, clock=clock)
    other = credential_for(OTHER, clock.now())
    late = run(ApproveClosure(ref, None, asked.request_id), other, clock=clock)
    assert late.decision == "rejected" and f.load_case(ref).phase == "reintegration"
    assert _triggers(ref) == ["closure_requested", "closure_rejected"]
    newer = run(RequestClosure(ref, ClosureReason.SUPPORT_PERIOD_ENDED), coord, clock=clock)
    assert newer.request_id != asked.request_id
    stale = run(RejectClosure(ref, rejection, asked.request_id), sup, clock=clock)
    assert stale.decision == "superseded" and _triggers(ref)[-1] == "closure_requested"


def test_only_the_requester_s_run_or_the_scheduler_records_an_expiry(seeded, clock):
    ref = in_reintegration(clock)
    coord = credential_for(f.COORD, clock.now())
    asked = run(
        RequestClosure(ref, ClosureReason.SUPPORT_PERIOD_ENDED, "run-1"), coord, clock=clock
    )
    before = f.db_snapshot()
    for email in (f.SUPERVISOR, "cw@adpare.example.org"):
        with pytest.raises((Refused, NotFound)):
            expire = ExpireClosure(ref, asked.request_id or 0, 60)
            run(expire, credential_for(email, clock.now()), clock=clock)
    assert f.db_snapshot() == before
    expired = run(ExpireClosure(ref, asked.request_id or 0, 60), coord, clock=clock)
    assert expired.decision == "expired"
    with f.admin_read() as s:
        coordinator = f.actor(s, f.COORD).id
    assert _event(ref, "closure_request_expired").actor_id == coordinator


# --- request keys: a repeat (a re-run of the same flow run, a retried CLI) writes nothing -----


def _audited(action: str) -> int:
    with f.admin_read() as s:
        return len(list(s.exec(select(AuditEntry).where(AuditEntry.action == action))))


def test_a_closure_request_repeated_with_its_key_is_filed_once(seeded, clock):
    ref = in_reintegration(clock)
    coord = credential_for(f.COORD, clock.now())
    ask = RequestClosure(ref, ClosureReason.SUPPORT_PERIOD_ENDED, "run-1")
    first = run(ask, coord, key="flow:run-1:advance:request", clock=clock)
    before = f.db_snapshot()
    again = run(ask, coord, key="flow:run-1:advance:request", clock=clock)
    assert again == first and f.db_snapshot() == before  # no event, audit entry or email
    with pytest.raises(Conflict, match="already requested"):  # another key: the usual refusal
        asked_anew = RequestClosure(ref, ClosureReason.SUPPORT_PERIOD_ENDED)  # as the CLI asks
        run(asked_anew, coord, key="cli-request-0002", clock=clock)
    sup = credential_for(f.SUPERVISOR, clock.now())
    run(RejectClosure(ref, ClosureRejection.WORK_OUTSTANDING, first.request_id), sup, clock=clock)
    before = f.db_snapshot()
    # answered since: without its key this would file a second request; with it, nothing
    late = run(ask, coord, key="flow:run-1:advance:request", clock=clock)
    assert late == first and f.db_snapshot() == before
    assert _triggers(ref) == ["closure_requested", "closure_rejected"]
    assert _audited("cmd:case request-closure") == 1
    newer = run(ask, coord, key="flow:run-3:advance:request", clock=clock)
    assert newer.request_id != first.request_id
    assert _triggers(ref)[-1] == "closure_requested"


def test_a_rejection_repeated_with_its_key_is_recorded_once(cli, clock):
    ref = in_reintegration(clock)
    cli(f.COORD, "case", "request-closure", ref, "--reason", "support_period_ended")
    reject = ("case", "reject-closure", ref, "--code", "work_outstanding")
    done = cli(f.SUPERVISOR, *reject, "--request-id", "reject-0001")
    before = f.db_snapshot()
    again = cli(f.SUPERVISOR, *reject, "--request-id", "reject-0001")
    assert (done.code, again.code) == (0, 0) and again.out == done.out, again.err
    assert f.db_snapshot() == before  # no second event, audit entry or email
    other = cli(f.SUPERVISOR, *reject, "--request-id", "reject-0002")
    assert other.code == 4 and "no closure of case" in other.err  # nothing pending: refused
    assert _triggers(ref) == ["closure_requested", "closure_rejected"]
    assert _audited("cmd:case reject-closure") == 1
    elsewhere = cli(f.SUPERVISOR, *reject[:-2], "--code", "support_still_needed",
                    "--request-id", "reject-0001")  # fmt: skip
    assert elsewhere.code == 5 and "already used for a different request" in elsewhere.err


def test_an_expiry_repeated_with_its_key_is_recorded_once_by_the_scheduler(seeded, clock):
    ref = in_reintegration(clock)
    coord = credential_for(f.COORD, clock.now())
    asked = run(
        RequestClosure(ref, ClosureReason.SUPPORT_PERIOD_ENDED, "run-1"), coord, clock=clock
    )
    assert asked.request_id is not None
    expire = ExpireClosure(ref, asked.request_id, 60)
    first = run(expire, SCHEDULER, key="flow:run-1:advance:expire", clock=clock)
    before = f.db_snapshot()
    again = run(expire, SCHEDULER, key="flow:run-1:advance:expire", clock=clock)
    assert first.decision == again.decision == "expired" and again == first
    assert f.db_snapshot() == before  # no second event, audit entry or email
    with f.admin_read() as s:
        kept = s.exec(select(RequestKey).where(RequestKey.key == "flow:run-1:advance:expire"))
        assert kept.one().actor_id is None  # the scheduler's key: no person's
    other = run(expire, SCHEDULER, key="flow:run-2:advance:expire", clock=clock)
    assert other.decision == "expired"  # another key: already ended, nothing recorded twice
    assert _triggers(ref) == ["closure_requested", "closure_request_expired"]
    assert _audited("cmd:case expire-closure") == 2  # the first and the other key's
    with pytest.raises(Conflict, match="already used for a different request"):
        run(expire, coord, key="flow:run-1:advance:expire", clock=clock)  # not the requester's

"""Handoffs of checklist items: proposed by the owner side, answered only by the target org."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from homeward.base.clock import SimulatedClock
from homeward.base.db import write_session
from homeward.base.errors import Conflict, InvalidInput, NotFound, Refused
from homeward.base.models import CaseEvent, ChecklistItem, Handoff, HandoffStatus, ItemStatus
from homeward.records.directory import get_org
from tasks import checklist, handoffs
from tests import factories as f

ADPARE, FMB = "cw@adpare.example.org", "cw@fmb.example.org"
IOM_IT_CW, IOM_IT_MGR = "cw@iom-it.example.org", "mgr@iom-it.example.org"
CONS = "officer@cons-rome.example.org"
CODE = "victim_identified"  # owned by iom-it (the sending mission) on a fresh case


@pytest.fixture
def case_ref(db_url, clock) -> str:
    f.seed()
    return f.open_case(clock)


@pytest.fixture
def item_id(case_ref) -> int:
    return item(case_ref, CODE).id


def item(case_ref: str, code: str) -> ChecklistItem:
    (found,) = [i for i in f.items(case_ref) if i.code == code]
    return found


def act(email: str, clock: SimulatedClock, fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Call an engine write function as ``email``, now, in one transaction."""
    with write_session() as s:
        return fn(s, actor=f.actor(s, email), now=clock.now(), **kwargs)


def propose(clock, item_id, to="adpare", email=f.COORD):
    return act(email, clock, handoffs.propose, item_id=item_id, to_org_slug=to, reason="capacity")


def unchanged(error: type[Exception], match: str, call: Callable[[], Any]) -> None:
    """``call`` raises ``error`` and leaves every table as it was."""
    before = f.db_snapshot()
    with pytest.raises(error, match=match):
        call()
    assert f.db_snapshot() == before


def org_id(slug: str) -> int:
    with f.admin_read() as s:
        return get_org(session=s, slug=slug).id


def staff_id(email: str) -> int:
    with f.admin_read() as s:
        return f.actor(s, email).id


def handoff_rows(item_id: int) -> list[Handoff]:
    with f.admin_read() as s:
        query = select(Handoff).where(Handoff.item_id == item_id)
        return list(s.exec(query.order_by(col(Handoff.id))))


def last_trigger(case_ref: str) -> str:
    with f.admin_read() as s:
        case_id = f.load_case(case_ref).id
        query = select(CaseEvent.trigger).where(CaseEvent.case_id == case_id)
        return s.exec(query.order_by(col(CaseEvent.id).desc())).first()


# --- propose -------------------------------------------------------------------------------
@pytest.mark.parametrize("email", [f.COORD, IOM_IT_CW], ids=["case-owner-coord", "owner-cw"])
def test_proposing_leaves_the_item_with_its_owner(case_ref, item_id, clock, email):
    propose(clock, item_id, email=email)
    (handoff,) = handoff_rows(item_id)
    assert (handoff.status, handoff.from_org_id, handoff.to_org_id, handoff.stage) == (
        HandoffStatus.PROPOSED,
        org_id("iom-it"),
        org_id("adpare"),
        "identified_abroad",
    )
    assert (handoff.proposed_by_id, handoff.proposed_at) == (staff_id(email), clock.now())
    assert item(case_ref, CODE).owner_org_id == org_id("iom-it")
    assert last_trigger(case_ref) == "handoff_proposed"


@pytest.mark.parametrize(
    ("email", "error", "why"),
    [
        (FMB, NotFound, "not found"),  # not part of the case at all
        (ADPARE, Refused, "cannot hand off item"),  # a participant, not the owner
        (CONS, Refused, "cannot hand off item"),
        (IOM_IT_MGR, Refused, "cannot hand off item"),  # managers do not change cases
    ],
    ids=["unrelated-org", "participant", "consulate", "owner-manager"],
)
def test_only_the_owner_side_may_propose(case_ref, item_id, clock, email, error, why):
    unchanged(error, why, lambda: propose(clock, item_id, email=email))


def test_cannot_hand_an_item_to_its_current_owner(case_ref, item_id, clock):
    unchanged(Refused, "already belongs to iom-it", lambda: propose(clock, item_id, to="iom-it"))


def test_cannot_hand_an_item_to_an_unknown_organisation(case_ref, item_id, clock):
    unchanged(
        NotFound, "organisation 'nowhere' not found", lambda: propose(clock, item_id, "nowhere")
    )


def test_one_pending_handoff_per_item(case_ref, item_id, clock):
    propose(clock, item_id)
    unchanged(Conflict, "already has a handoff awaiting", lambda: propose(clock, item_id, "fmb"))


def close_item(case_ref: str, item_id: int, clock: SimulatedClock, how: str) -> None:
    if how == "done":
        act(f.COORD, clock, checklist.mark_done, item_id=item_id)
    elif how == "skipped":
        act(f.COORD, clock, checklist.mark_skipped, item_id=item_id, reason="not applicable")
    else:
        f.advance(case_ref, "withdraw_consent", clock)


@pytest.mark.parametrize("how", ["done", "skipped", "cancelled"])
def test_cannot_hand_off_an_item_that_is_no_longer_open(case_ref, item_id, clock, how):
    close_item(case_ref, item_id, clock, how)
    assert item(case_ref, CODE).status == how
    why = f"is {how}; only open items can be handed off"
    unchanged(Refused, why, lambda: propose(clock, item_id))


# --- answer --------------------------------------------------------------------------------
def test_accepting_makes_the_target_the_owner(case_ref, item_id, clock):
    propose(clock, item_id)
    clock.advance(hours=3)
    act(ADPARE, clock, handoffs.accept, item_id=item_id)

    (handoff,) = handoff_rows(item_id)
    assert (handoff.status, handoff.decided_by_id, handoff.decided_at) == (
        HandoffStatus.ACCEPTED,
        staff_id(ADPARE),
        clock.now(),
    )
    accepted = item(case_ref, CODE)
    assert (accepted.owner_org_id, accepted.assignee_id) == (org_id("adpare"), None)
    assert last_trigger(case_ref) == "handoff_accepted"


def test_after_accepting_the_new_owner_records_the_item_and_the_old_one_cannot(
    case_ref, item_id, clock
):
    propose(clock, item_id)
    act(ADPARE, clock, handoffs.accept, item_id=item_id)
    unchanged(
        Refused,
        "cannot record item",
        lambda: act(IOM_IT_CW, clock, checklist.mark_done, item_id=item_id),
    )
    act(ADPARE, clock, checklist.mark_done, item_id=item_id)
    assert item(case_ref, CODE).status == ItemStatus.DONE


def test_rejecting_leaves_the_item_with_its_owner(case_ref, item_id, clock):
    propose(clock, item_id)
    act(ADPARE, clock, handoffs.reject, item_id=item_id, reason="  no capacity this month ")
    (handoff,) = handoff_rows(item_id)
    reason = f.plain("handoff", "reason", handoff.id, handoff.reason)
    assert (handoff.status, reason, handoff.decided_by_id) == (
        HandoffStatus.REJECTED,
        "no capacity this month",
        staff_id(ADPARE),
    )
    assert item(case_ref, CODE).owner_org_id == org_id("iom-it")
    assert last_trigger(case_ref) == "handoff_rejected"


@pytest.mark.parametrize("reason", ["", "   "])
def test_rejecting_needs_a_reason(case_ref, item_id, clock, reason):
    propose(clock, item_id)
    call = lambda: act(ADPARE, clock, handoffs.reject, item_id=item_id, reason=reason)  # noqa: E731
    unchanged(InvalidInput, "^reason: ", call)


ANSWERS = {
    "accept": lambda email, clock, item_id: act(email, clock, handoffs.accept, item_id=item_id),
    "reject": lambda email, clock, item_id: act(
        email, clock, handoffs.reject, item_id=item_id, reason="not ours"
    ),
}


@pytest.mark.parametrize("answer", list(ANSWERS))
@pytest.mark.parametrize(
    "email", [f.COORD, IOM_IT_CW, CONS, FMB], ids=["proposer", "proposer-org", "other-org", "fmb"]
)
def test_only_the_target_organisation_may_answer(case_ref, item_id, clock, email, answer):
    propose(clock, item_id)
    unchanged(NotFound, "no handoff of item .* awaits your organisation",
              lambda: ANSWERS[answer](email, clock, item_id))  # fmt: skip
    assert handoff_rows(item_id)[0].status == HandoffStatus.PROPOSED


@pytest.mark.parametrize("answer", list(ANSWERS))
def test_a_manager_of_the_target_organisation_may_not_answer(case_ref, clock, answer):
    consulate_item = item(case_ref, "anitp_notified").id  # owned by the consulate
    propose(clock, consulate_item, to="iom-it", email=CONS)
    unchanged(Refused, "manager", lambda: ANSWERS[answer](IOM_IT_MGR, clock, consulate_item))
    ANSWERS[answer](IOM_IT_CW, clock, consulate_item)
    assert handoff_rows(consulate_item)[0].status != HandoffStatus.PROPOSED


@pytest.mark.parametrize("answer", list(ANSWERS))
def test_an_answered_handoff_cannot_be_answered_again(case_ref, item_id, clock, answer):
    propose(clock, item_id)
    ANSWERS[answer](ADPARE, clock, item_id)
    unchanged(NotFound, "no handoff", lambda: ANSWERS["accept"](ADPARE, clock, item_id))


def test_after_a_rejection_the_item_may_be_offered_again(case_ref, item_id, clock):
    propose(clock, item_id)
    act(ADPARE, clock, handoffs.reject, item_id=item_id, reason="no capacity")
    propose(clock, item_id, to="fmb")
    act(FMB, clock, handoffs.accept, item_id=item_id)
    statuses = [(h.to_org_id, h.status) for h in handoff_rows(item_id)]
    assert statuses == [
        (org_id("adpare"), HandoffStatus.REJECTED),
        (org_id("fmb"), HandoffStatus.ACCEPTED),
    ]
    assert item(case_ref, CODE).owner_org_id == org_id("fmb")


@pytest.mark.parametrize("how", ["done", "skipped", "cancelled"])
def test_closing_the_item_revokes_its_pending_handoff(case_ref, item_id, clock, how):
    propose(clock, item_id)
    clock.advance(minutes=5)
    close_item(case_ref, item_id, clock, how)
    (handoff,) = handoff_rows(item_id)
    assert (handoff.status, handoff.decided_at) == (HandoffStatus.REVOKED, clock.now())
    unchanged(NotFound, "no handoff", lambda: ANSWERS["accept"](ADPARE, clock, item_id))


def test_the_database_holds_one_pending_handoff_an_item(item_id, clock):
    """``uq_handoff_pending_item`` (migration 0038): a second proposal of the item, written
    past the command's check, is refused by the database itself; once the first is answered,
    the item may be offered again."""
    first = propose(clock, item_id)
    with pytest.raises(IntegrityError, match="uq_handoff_pending_item|UNIQUE"):
        with write_session() as s:
            f.actor(s)
            s.add(Handoff.model_validate(first.model_dump(exclude={"id"}) | {"to_org_id": 2}))
    act(ADPARE, clock, handoffs.reject, item_id=item_id, reason="no capacity")
    assert propose(clock, item_id, to="fmb").status == HandoffStatus.PROPOSED

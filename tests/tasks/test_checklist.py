"""Checklist items: what entering a stage creates, when it is due, and who may record it how.

Expected items are read from the catalog's JSON file itself, not through the code under test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlmodel import col, select

from homeward.base.clock import SimulatedClock
from homeward.base.db import write_session
from homeward.base.errors import InvalidInput, NotFound, Refused
from homeward.base.models import Handoff, HandoffStatus, ItemStatus
from homeward.records.directory import orgs_by_id
from statemachines.cases import CaseIn, get_case, start_case
from statemachines.return_case import OPEN_STATES, State
from tasks import checklist, handoffs, transfers
from tests import factories as f

CATALOG_DIR = Path(str(resources.files("tasks") / "catalog"))
RAW = json.loads((CATALOG_DIR / "v1.json").read_text(encoding="utf-8"))
# Which organisation fills each owner role on a case opened by factories.open_case (IOM Italy
# opens it; no police or ANITP organisation exists, so those items fall to the case owner).
IOM_RO = "coord@iom-ro.example.org"
ROLE_ORG = {
    "case_owner": "iom-it",
    "s_iom": "iom-it",
    "cons": "cons-rome",
    "r_iom": "iom-ro",
    "ngo": "adpare",
    "dgaspc": "dgaspc-bv",
    "le": "iom-it",
    "anitp": "iom-it",
}


@pytest.fixture
def seeded(db_url):
    f.seed()


def reach(case_ref: str, stage: str, clock: SimulatedClock) -> None:
    if stage == State.SUSPENDED:
        f.advance(case_ref, "suspend", clock)
    else:
        f.drive_to(case_ref, stage, clock)
    assert f.load_case(case_ref).phase == stage


def expected_items(stage: str, *, minor: bool) -> list[tuple[str, str, bool]]:
    """(code, owner organisation, blocking) straight from the catalog file."""
    kind = "minors" if minor else "adults"
    rows = []
    for spec in RAW["stages"][stage]:
        if "return" not in spec.get("routes", ["return", "internal"]):
            continue  # the internal route's only
        if spec.get("applies", "all") in ("all", kind):
            role = (minor and spec.get("owner_if_minor")) or spec["owner"]
            rows.append((spec["code"], ROLE_ORG[role], spec.get("blocking", True)))
    return rows


def stored_items(case_ref: str, stage: str) -> list[tuple[str, str, bool]]:
    with f.admin_read() as s:
        slugs = {org_id: org.slug for org_id, org in orgs_by_id(s).items()}
    return [(i.code, slugs[i.owner_org_id], i.blocking) for i in f.items(case_ref, stage=stage)]


def act(email: str, clock: SimulatedClock, fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Call an engine write function as ``email``, now, in one transaction."""
    with write_session() as s:
        return fn(s, actor=f.actor(s, email), now=clock.now(), **kwargs)


def unchanged(error: type[Exception], match: str, call: Callable[[], Any]) -> None:
    """``call`` raises ``error`` and leaves every table as it was."""
    before = f.db_snapshot()
    with pytest.raises(error, match=match):
        call()
    assert f.db_snapshot() == before


def item(case_ref: str, code: str) -> Any:
    (found,) = [i for i in f.items(case_ref) if i.code == code]
    return found


# --- entering a stage ----------------------------------------------------------------------
# The return route's stages; the internal route's first stage: tests/casework/test_referral_route.py
RETURN_STAGES = [stage for stage in RAW["stages"] if stage != "identified_in_romania"]


@pytest.mark.parametrize("minor", [False, True], ids=["adult", "minor"])
@pytest.mark.parametrize("stage", RETURN_STAGES)
def test_entering_a_stage_creates_exactly_its_catalog_items(seeded, clock, stage, minor):
    ref = f.open_case(clock, minor=minor)
    reach(ref, stage, clock)
    assert stored_items(ref, stage) == expected_items(stage, minor=minor)
    assert {i.status for i in f.items(ref, stage=stage)} == {ItemStatus.OPEN}


@pytest.mark.parametrize(
    ("stage", "code", "adult_owner"),
    [
        (State.CONSENT_OBTAINED, "family_assessment", "iom-ro"),
        (State.IN_TRANSIT, "met_on_arrival", "iom-ro"),
        (State.RECEIVED, "shelter_arranged", "adpare"),
        (State.REINTEGRATION, "follow_up_6m", "adpare"),
    ],
)
def test_a_minors_items_go_to_child_protection(seeded, clock, stage, code, adult_owner):
    owners = {}
    for minor in (False, True):
        ref = f.open_case(clock, minor=minor)
        reach(ref, stage, clock)
        owners[minor] = {c: org for c, org, _ in stored_items(ref, stage)}[code]
    assert owners == {False: adult_owner, True: "dgaspc-bv"}


def test_re_entering_a_stage_does_not_duplicate_its_items(seeded, clock):
    ref = f.open_case(clock)
    f.drive_to(ref, State.CONSENT_OBTAINED, clock)
    first = [(i.id, i.code) for i in f.items(ref, stage=State.CONSENT_OBTAINED)]
    f.advance(ref, "suspend", clock)
    f.complete_stage(ref, clock)
    f.advance(ref, "resume", clock)
    assert [(i.id, i.code) for i in f.items(ref, stage=State.CONSENT_OBTAINED)] == first


# --- due dates -----------------------------------------------------------------------------
def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# Opened Mon 2026-01-05 09:00 UTC; dates anchor at noon in Bucharest (UTC+2, UTC+3 from 29 March).
OPENED_DUE = {
    "victim_identified": utc(2026, 1, 5, 9),
    "basic_needs_met": utc(2026, 1, 6, 9),
    "anitp_notified": utc(2026, 1, 8, 9),
    "rights_informed": utc(2026, 1, 12, 9),
}
DEPARTURE = date(2026, 3, 30)  # the day after clocks go forward
DEPARTURE_DUE = {
    "fit_to_travel": utc(2026, 3, 29, 9),  # departure - 1 day, 12:00 EEST
    "pre_departure_counselling": utc(2026, 3, 28, 10),  # - 2 days, 12:00 EET
    "pre_arrival_notice": utc(2026, 3, 27, 10),
}
ARRIVAL = date(2026, 1, 31)  # the end of a long month
ARRIVAL_DUE = {
    "onward_transport": utc(2026, 2, 1, 10),
    "first_counselling": utc(2026, 2, 7, 10),
    "reintegration_plan": utc(2026, 3, 2, 10),  # arrival + 30 days
    "follow_up_2w": utc(2026, 2, 14, 10),
    "follow_up_1m": utc(2026, 2, 28, 10),  # a calendar month, clamped to February's end
    "follow_up_3m": utc(2026, 4, 30, 9),
    "follow_up_6m": utc(2026, 7, 31, 9),  # six calendar months, not 180 days
}


def due(case_ref: str) -> dict[str, datetime]:
    return {i.code: i.due_at for i in f.items(case_ref)}


@pytest.mark.parametrize(("code", "expected"), OPENED_DUE.items())
def test_due_counts_from_entering_the_stage(seeded, clock, code, expected):
    ref = f.open_case(clock)
    assert due(ref)[code] == expected


@pytest.mark.parametrize(("code", "expected"), DEPARTURE_DUE.items())
def test_due_counts_back_from_the_departure_date(seeded, clock, code, expected):
    ref = f.open_case(clock)
    f.drive_to(ref, State.ASSESSED, clock)
    f.complete_stage(ref, clock)
    data = {**f.step_data("arrange_travel", clock), "departure_on": str(DEPARTURE)}
    f.advance(ref, "arrange_travel", clock, data)
    assert due(ref)[code] == expected


def arrived_on(case_ref: str, arrival: date, clock: SimulatedClock) -> None:
    f.drive_to(case_ref, State.IN_TRANSIT, clock)
    f.complete_stage(case_ref, clock)
    clock.current = datetime.combine(arrival, datetime.min.time(), UTC).replace(hour=9)
    f.advance(case_ref, "confirm_arrival", clock, {"arrival_on": str(arrival)})


@pytest.mark.parametrize(("code", "expected"), ARRIVAL_DUE.items())
def test_due_counts_from_the_arrival_date(seeded, clock, code, expected):
    ref = f.open_case(clock)
    arrived_on(ref, ARRIVAL, clock)
    clock.advance(days=3)  # reintegration starts later; its items still count from arrival
    f.complete_stage(ref, clock)
    f.advance(ref, "start_reintegration", clock)
    assert due(ref)[code] == expected


# --- process versions ----------------------------------------------------------------------
@pytest.fixture
def other_version() -> Iterator[str]:
    """A second, real catalog file beside v1 (removed afterwards): consent work differs."""
    name = f"t{uuid4().hex[:8]}"
    raw = {**RAW, "version": name, "stages": dict(RAW["stages"])}
    raw["stages"]["consent_obtained"] = [
        {**RAW["stages"]["consent_obtained"][0]},
        {"code": "trauma_screening", "title": "Trauma screening", "owner": "ngo",
         "due": {"from": "stage_entered", "offset": "P5D"}},
    ]  # fmt: skip
    path = CATALOG_DIR / f"{name}.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    try:
        yield name
    finally:
        path.unlink()


def test_a_case_follows_the_process_version_it_was_opened_with(seeded, clock, other_version):
    v1_ref = f.open_case(clock)
    with write_session() as s:
        case_in = CaseIn(process_version=other_version, participants={"ngo": "adpare"})
        other_ref = start_case(
            s, actor=f.actor(s), case_in=case_in, person=f.CANARY, now=clock.now()
        )
        other_ref = other_ref.case_ref
    for ref in (v1_ref, other_ref):
        f.drive_to(ref, State.CONSENT_OBTAINED, clock)
    assert f.load_case(other_ref).process_version == other_version
    codes = {
        ref: [i.code for i in f.items(ref, stage=State.CONSENT_OBTAINED)]
        for ref in (v1_ref, other_ref)
    }
    assert codes[other_ref] == ["risk_assessment", "trauma_screening"]
    assert codes[v1_ref] == [c for c, _, _ in expected_items("consent_obtained", minor=False)]


def test_an_unknown_process_version_opens_nothing(seeded, clock):
    def start() -> None:
        with write_session() as s:
            case_in = CaseIn(process_version="v9")
            start_case(s, actor=f.actor(s), case_in=case_in, person=f.CANARY, now=clock.now())

    unchanged(InvalidInput, "process version 'v9' is unknown", start)


# --- recording items -----------------------------------------------------------------------
@pytest.fixture
def consent_case(seeded, clock) -> str:
    ref = f.open_case(clock)
    f.drive_to(ref, State.CONSENT_OBTAINED, clock)
    return ref


@pytest.mark.parametrize(
    ("code", "outcome", "why"),
    [
        ("risk_assessment", None, "^outcome: item risk_assessment needs one of low, medium, high"),
        ("risk_assessment", "severe", "^outcome: item risk_assessment needs one of"),
        ("needs_assessment", "low", "^outcome: item needs_assessment takes no outcome"),
    ],
)
def test_outcome_is_required_or_forbidden_by_the_catalog(consent_case, clock, code, outcome, why):
    item_id = item(consent_case, code).id
    unchanged(
        InvalidInput,
        why,
        lambda: act(f.COORD, clock, checklist.mark_done, item_id=item_id, outcome=outcome),
    )


@pytest.mark.parametrize(
    ("code", "outcome"), [("risk_assessment", "high"), ("needs_assessment", None)]
)
def test_done_item_records_outcome_who_and_when(consent_case, clock, code, outcome):
    item_id = item(consent_case, code).id
    act(f.COORD, clock, checklist.mark_done, item_id=item_id, outcome=outcome, note="ok")
    done = item(consent_case, code)
    with f.admin_read() as s:
        coord_id = f.actor(s).id
    note = f.plain("checklist_item", "note", done.id, done.note)
    assert (done.status, done.outcome, note) == (ItemStatus.DONE, outcome, "ok")
    assert (done.completed_by_id, done.completed_at) == (coord_id, clock.now())


@pytest.mark.parametrize("reason", ["", "    ", "n/a "])
def test_skipping_needs_a_reason(consent_case, clock, reason):
    item_id = item(consent_case, "needs_assessment").id
    unchanged(
        InvalidInput,
        "^reason: say why",
        lambda: act(f.COORD, clock, checklist.mark_skipped, item_id=item_id, reason=reason),
    )


def test_skipping_with_a_reason_keeps_it(consent_case, clock):
    item_id = item(consent_case, "needs_assessment").id
    act(f.COORD, clock, checklist.mark_skipped, item_id=item_id, reason="  assessed last week ")
    skipped = item(consent_case, "needs_assessment")
    note = f.plain("checklist_item", "note", skipped.id, skipped.note)
    assert (skipped.status, note) == (ItemStatus.SKIPPED, "assessed last week")


@pytest.mark.parametrize("record", ["done", "skip"])
def test_an_item_is_recorded_once(consent_case, clock, record):
    item_id = item(consent_case, "needs_assessment").id
    act(f.COORD, clock, checklist.mark_done, item_id=item_id)
    call = {
        "done": lambda: act(f.COORD, clock, checklist.mark_done, item_id=item_id),
        "skip": lambda: act(
            f.COORD, clock, checklist.mark_skipped, item_id=item_id, reason="changed mind"
        ),
    }[record]
    unchanged(Refused, "is already done", call)


# who, which item (owner in brackets), and what happens
ACCESS = [
    pytest.param("cw@fmb.example.org", "victim_identified", NotFound, id="unrelated-org"),
    pytest.param("cw@adpare.example.org", "victim_identified", Refused, id="participant-not-owner"),
    pytest.param("officer@cons-rome.example.org", "basic_needs_met", Refused, id="cons-on-s_iom"),
    pytest.param(IOM_RO, "victim_identified", Refused, id="coord-not-owner"),
    pytest.param("mgr@iom-it.example.org", "victim_identified", Refused, id="owner-manager"),
    pytest.param("cw@iom-it.example.org", "victim_identified", None, id="owner-caseworker"),
    pytest.param("officer@cons-rome.example.org", "anitp_notified", None, id="cons-on-its-own"),
    pytest.param(f.COORD, "anitp_notified", None, id="case-owner-coordinator"),
]


@pytest.mark.parametrize("record", ["done", "skip"])
@pytest.mark.parametrize(("email", "code", "error"), ACCESS)
def test_who_may_record_an_item(seeded, clock, email, code, error, record):
    ref = f.open_case(clock)
    item_id = item(ref, code).id
    kwargs: dict[str, Any] = {"item_id": item_id}
    if record == "skip":
        kwargs["reason"] = "done elsewhere"
    fn = checklist.mark_done if record == "done" else checklist.mark_skipped
    if error is None:
        act(email, clock, fn, **kwargs)
        assert item(ref, code).status != ItemStatus.OPEN
    else:
        unchanged(error, "not found" if error is NotFound else "cannot record item",
                  lambda: act(email, clock, fn, **kwargs))  # fmt: skip


# --- withdrawal and suspension -------------------------------------------------------------
@pytest.mark.parametrize("state", OPEN_STATES)
def test_withdrawing_consent_cancels_open_items_and_revokes_handoffs(seeded, clock, state):
    ref = f.open_case(clock)
    if state in (State.SUSPENDED, State.LOST_CONTACT):
        f.drive_to(ref, State.ASSESSED, clock)
        f.advance(ref, "suspend" if state == State.SUSPENDED else "lose_contact", clock)
    else:
        f.drive_to(ref, state, clock)
    first_open, *_ = f.items(ref, status=ItemStatus.OPEN)
    act(f.COORD, clock, handoffs.propose, item_id=first_open.id, to_org_slug="fmb")
    with write_session() as s:
        case = get_case(s, case_ref=ref, actor=f.actor(s))
        transfers.propose_transfer(
            s, case=case, to_org_slug="iom-ro", actor=f.actor(s), now=clock.now()
        )
    before = {i.id: i.status for i in f.items(ref)}
    clock.advance(hours=2)

    f.advance(ref, "withdraw_consent", clock)

    after = {i.id: i for i in f.items(ref)}
    assert {i: a.status for i, a in after.items()} == {
        i: ItemStatus.CANCELLED if s == ItemStatus.OPEN else s for i, s in before.items()
    }
    assert {a.completed_at for i, a in after.items() if before[i] == ItemStatus.OPEN} == {
        clock.now()
    }
    with f.admin_read() as s:
        query = select(Handoff).where(Handoff.case_id == f.load_case(ref).id)
        rows = s.exec(query.order_by(col(Handoff.id))).all()
        coord_id = f.actor(s).id
    assert [(h.item_id, h.status, h.decided_at, h.decided_by_id) for h in rows] == [
        (first_open.id, HandoffStatus.REVOKED, clock.now(), coord_id),
        (None, HandoffStatus.REVOKED, clock.now(), coord_id),
    ]
    with write_session() as s:  # iom-ro can no longer take the case over
        case = get_case(s, case_ref=ref, actor=f.actor(s))
        with pytest.raises(NotFound, match="no transfer"):
            transfers.accept_transfer(s, case=case, actor=f.actor(s, IOM_RO), now=clock.now())


def risk_reassessments(case_ref: str) -> list[str]:
    return [i.status for i in f.items(case_ref) if i.code == "risk_reassessment"]


def test_each_suspension_needs_its_own_risk_reassessment(seeded, clock):
    ref = f.open_case(clock)
    f.advance(ref, "suspend", clock)
    f.complete_stage(ref, clock)
    f.advance(ref, "resume", clock)
    assert risk_reassessments(ref) == [ItemStatus.DONE]

    f.advance(ref, "suspend", clock)
    assert risk_reassessments(ref) == [ItemStatus.DONE, ItemStatus.OPEN]
    unchanged(Refused, "new risk assessment is needed", lambda: f.advance(ref, "resume", clock))
    f.complete_stage(ref, clock)
    f.advance(ref, "resume", clock)
    assert risk_reassessments(ref) == [ItemStatus.DONE, ItemStatus.DONE]


def test_a_reopened_case_needs_a_new_risk_reassessment(seeded, clock):
    ref = f.open_case(clock)
    f.advance(ref, "suspend", clock)
    f.advance(ref, "close", clock, {"reason": "security", "approved_by": f.SUPERVISOR})
    assert risk_reassessments(ref) == [ItemStatus.CANCELLED]
    f.advance(ref, "reopen", clock)
    assert risk_reassessments(ref) == [ItemStatus.CANCELLED, ItemStatus.OPEN]

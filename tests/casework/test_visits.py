"""Follow-up visits (issue 16, point 2) through the commands, on a real database: the scores
against hand-computed values, a visit recording its follow-up item done, who may record and
read one, the dates and codes refused with nothing changed, a safety concern in the history,
and the canary kept out of every row."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from homeward.base import models
from homeward.base.clock import SimulatedClock, local_date
from homeward.base.db import get_engine, system_scope
from homeward.base.errors import InvalidInput, NotFound, Refused
from homeward.base.models import Case, CaseEvent, ChecklistItem, ItemStatus, Visit
from homeward.commands.runner import run
from homeward.commands.visits import ListVisits, RecordVisit, ShowVisit
from homeward.crypt.crypto import decrypt_field
from homeward.protection import vault
from homeward.reporting import sustainability as report_side
from tasks import sustainability
from tasks.sustainability import score
from tests import factories as f
from tests.protect.test_canary import forms
from tests.signin import credential_for

ADPARE, FMB = "cw@adpare.example.org", "cw@fmb.example.org"
MANAGER = "mgr@iom-it.example.org"
CANARY = "Zenobia Canarycanary"
ALL_GOOD = {q.key: q.choices[0].code for q in sustainability.QUESTIONS}


# -- scoring -----------------------------------------------------------------------------------


def test_all_best_answers_score_one_and_all_worst_zero() -> None:
    best = score(ALL_GOOD)
    assert (best.economic, best.social, best.psychosocial, best.composite) == (1, 1, 1, 1)
    assert best.sustainable is True
    worst = score({q.key: q.choices[-1].code for q in sustainability.QUESTIONS})
    assert worst.composite == 0 and worst.sustainable is False


def test_dimension_scores_are_weighted_means_by_hand() -> None:
    answers = {
        # economic: satisfaction w1 0.25, food w2 0.5, work w2 1, debt w1 0, borrowing declined
        "economic_satisfaction": "dissatisfied",
        "food_security": "sometimes",
        "work_income": "regular",
        "debt": "unmanageable",
        "borrowing": "declined",
        # social: housing w2 0.5, health w2 0, justice w1 1 (education, documentation left out)
        "housing": "basic",
        "health_care": "none",
        "justice": "good",
        # psychosocial: distress w2 0, safe w2 1, discrimination w1 0.5, remigration w1 1,
        # support w1 0.5
        "distress": "often",
        "feeling_safe": "always",
        "discrimination": "sometimes",
        "remigration": "no",
        "support_network": "some",
    }
    got = score(answers)
    assert got.economic == round((0.25 + 2 * 0.5 + 2 * 1 + 0) / 6, 3)  # 0.542
    assert got.social == round((2 * 0.5 + 0 + 1) / 5, 3)  # 0.4
    assert got.psychosocial == round((0 + 2 + 0.5 + 1 + 0.5) / 7, 3)  # 0.571
    assert got.composite == round((0.542 + 0.4 + 0.571) / 3, 3)  # 0.504
    assert got.sustainable is False


def test_a_dimension_without_answers_has_no_score_and_no_composite() -> None:
    got = score({"housing": "adequate", "distress": "never"})
    assert got.economic is None and got.social == 1 and got.psychosocial == 1
    assert got.composite is None and got.sustainable is None
    assert score({}).composite is None


def test_the_threshold_is_the_same_for_visits_and_the_report() -> None:
    assert sustainability.SUSTAINABLE == report_side.SUSTAINABLE == 0.66
    assert len(sustainability.QUESTIONS) == 15
    assert {q.dimension for q in sustainability.QUESTIONS} == set(sustainability.DIMENSIONS)


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"food_security": "always"}, "answers: food_security takes one of never, sometimes"),
        ({"shoe_size": "42"}, "answers: question 'shoe_size' is not on the form"),
        ({"Zenobia Canarycanary": "x"}, "answers: question is not on the form"),
    ],
)
def test_bad_answers_are_named_without_repeating_free_text(answers, message) -> None:
    with pytest.raises(InvalidInput) as refused:
        sustainability.checked_answers(answers)
    assert str(refused.value).startswith(message)
    assert "Zenobia" not in str(refused.value)


# -- recording ---------------------------------------------------------------------------------


@pytest.fixture
def arrived(db_url: str, clock: SimulatedClock) -> str:
    """An adult's case in reintegration, ADPARE holding its follow-up items (with consent)."""
    f.seed()
    ref = f.open_case(clock)
    f.drive_to(ref, "reintegration", clock)
    clock.advance(days=15)
    return ref


def _as(email: str, command: Any, clock: SimulatedClock) -> Any:
    return run(command, credential_for(email, clock.now()), clock=clock)


def _record(ref: str, clock: SimulatedClock, email: str = ADPARE, **given: Any) -> Any:
    fields: dict[str, Any] = {
        "visited_on": local_date(clock.now()),
        "mode": "home",
        "attended": f"{CANARY} and her sister",
        "progress": "partly",
        "progress_note": f"{CANARY} started the tailoring course",
        "answers": tuple(ALL_GOOD.items()),
        **given,
    }
    return _as(email, RecordVisit(ref, **fields), clock)


def _follow_ups(ref: str) -> dict[str, ChecklistItem]:
    return {i.code: i for i in f.items(ref, stage="reintegration") if i.code.startswith("follow")}


def _events(ref: str, trigger: str) -> list[CaseEvent]:
    case = f.load_case(ref)
    with f.admin_read() as s:
        query = select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.trigger == trigger)
        return list(s.exec(query.order_by(col(CaseEvent.id))))


def _visit(visit_id: int) -> Visit:
    with f.admin_read() as s:
        visit = s.get(Visit, visit_id)
        assert visit is not None
        return visit


def _plain(visit: Visit, column: str) -> str:
    with f.admin_read() as s:
        case = s.get(Case, visit.case_id)
        assert case is not None and visit.id is not None
        key = vault.case_key(s, case)
    stored = getattr(visit, column)
    return decrypt_field(key, stored, table="visit", column=column, row_id=visit.id)


def test_a_visit_records_the_visiting_organisations_earliest_follow_up_done(
    arrived: str, clock: SimulatedClock
) -> None:
    before = _follow_ups(arrived)
    assert before["follow_up_2w"].status == ItemStatus.OPEN

    done = _record(arrived, clock)

    after = _follow_ups(arrived)
    assert done.item_code == "follow_up_2w" and done.item_id == before["follow_up_2w"].id
    assert after["follow_up_2w"].status == ItemStatus.DONE
    assert after["follow_up_1m"].status == ItemStatus.OPEN
    assert done.composite == "1.00" and done.sustainable is True and not done.safety_concern
    visit = _visit(done.visit_id)
    assert (visit.economic_score, visit.social_score, visit.psychosocial_score) == (1, 1, 1)
    assert _plain(visit, "attended") == f"{CANARY} and her sister"
    assert '"food_security": "never"' in _plain(visit, "answers")
    (event,) = _events(arrived, "visit_recorded")
    assert event.data == {
        "visit_id": done.visit_id,
        "item_id": done.item_id,
        "code": "follow_up_2w",
        "mode": "home",
        "progress": "partly",
    }
    assert [e.data["code"] for e in _events(arrived, "item_done")][-1] == "follow_up_2w"


def test_the_owner_records_a_named_follow_up_and_the_partner_reads_its_scores(
    arrived: str, clock: SimulatedClock
) -> None:
    item = _follow_ups(arrived)["follow_up_1m"]
    done = _record(arrived, clock, f.COORD, item_id=item.id, mode="phone")
    assert done.item_id == item.id
    assert _follow_ups(arrived)["follow_up_1m"].status == ItemStatus.DONE

    listed = _as(ADPARE, ListVisits(arrived), clock)
    (line,) = listed.visits
    assert line.readable and line.composite == 1 and line.org == "iom-it"
    assert [u.code for u in listed.follow_ups][:1] == ["follow_up_2w"]


def test_a_visit_with_a_safety_concern_is_in_the_history_without_its_text(
    arrived: str, clock: SimulatedClock
) -> None:
    done = _record(
        arrived, clock, safety_concern=True, safety_note=f"{CANARY}'s trafficker came by"
    )
    assert done.safety_concern
    (event,) = _events(arrived, "safety_concern_reported")
    assert event.data == {"visit_id": done.visit_id}
    assert _as(f.COORD, ListVisits(arrived), clock).safety_concern is True
    assert f.load_case(arrived).phase == "reintegration"  # suggested, never done by itself


def test_show_reveals_texts_to_readers_only_and_audits_each_read(
    arrived: str, clock: SimulatedClock
) -> None:
    done = _record(arrived, clock, safety_concern=True, safety_note="a car waited outside")

    shown = _as(f.COORD, ShowVisit(done.visit_id), clock)
    texts = {t.label: t.text for t in shown.texts}
    assert texts["who attended"] == f"{CANARY} and her sister"
    assert texts["safety note"] == "a car waited outside"
    assert shown.answers and shown.answers[0].key == "economic_satisfaction"
    with f.admin_read() as s:
        reads = s.exec(text("SELECT fields FROM audit_entry WHERE action = 'note_read'")).all()  # type: ignore[call-overload]
    assert len(reads) == 4  # attended, safety note, progress note, answers

    manager = _as(MANAGER, ShowVisit(done.visit_id), clock)  # reports, does not read files
    assert all(t.text is None for t in manager.texts) and manager.answers is None
    assert not manager.line.readable and manager.line.composite is None
    with pytest.raises(NotFound, match=f"visit {done.visit_id} not found"):
        _as(FMB, ShowVisit(done.visit_id), clock)  # takes no part: as if there were none


def test_refusals_name_the_field_and_change_nothing(arrived: str, clock: SimulatedClock) -> None:
    today = local_date(clock.now())
    before = f.db_snapshot()
    cases = [
        (
            InvalidInput,
            "on: the visit's day is in the future",
            {"visited_on": today + timedelta(1)},
        ),
        (InvalidInput, "on: the visit's day is before", {"visited_on": today - timedelta(60)}),
        (InvalidInput, "mode: use one of home, office, phone", {"mode": "video"}),
        (InvalidInput, "progress: use one of", {"progress": "great"}),
        (InvalidInput, "answers: debt takes one of", {"answers": (("debt", "huge"),)}),
        (InvalidInput, "safety_note: a safety note needs", {"safety_note": "x"}),
        (InvalidInput, "item: #", {"item_id": f.items(arrived)[0].id}),
    ]
    for error, message, given in cases:
        with pytest.raises(error) as refused:
            _record(arrived, clock, **given)
        assert str(refused.value).startswith(message), str(refused.value)
        assert CANARY not in str(refused.value)
    with pytest.raises(NotFound, match="not found"):
        _record(arrived, clock, FMB)  # a partner outside the case: the case is "not found"
    with pytest.raises(Refused, match="cannot record a follow-up visit"):
        _record(arrived, clock, MANAGER)  # the owner's manager: no casework
    assert f.db_snapshot() == before


def test_a_case_not_arrived_or_ended_takes_no_visit(db_url: str, clock: SimulatedClock) -> None:
    f.seed()
    ref = f.open_case(clock)
    with pytest.raises(Refused, match="has no arrival yet"):
        _record(ref, clock, f.COORD)
    f.drive_to(ref, "closed", clock)
    with pytest.raises(Refused, match="is closed"):
        _record(ref, clock, f.COORD)


def test_a_done_follow_up_is_not_recorded_twice(arrived: str, clock: SimulatedClock) -> None:
    first = _record(arrived, clock)
    with pytest.raises(Refused, match=f"item #{first.item_id} is already done"):
        _record(arrived, clock, item_id=first.item_id)


def test_a_visit_without_an_open_item_stands_alone(arrived: str, clock: SimulatedClock) -> None:
    for _ in range(4):
        _record(arrived, clock)  # ADPARE's four follow-ups, earliest first
    assert all(i.status == ItemStatus.DONE for i in _follow_ups(arrived).values())
    extra = _record(arrived, clock)
    assert extra.item_id is None
    assert len(_as(f.COORD, ListVisits(arrived), clock).visits) == 5


def test_the_canary_stays_out_of_every_row_and_log(
    arrived: str, clock: SimulatedClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _record(arrived, clock, safety_concern=True, safety_note=f"{CANARY} was threatened")
    _as(f.COORD, ListVisits(arrived), clock)
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    with get_engine().connect() as conn, system_scope(conn):
        rows = "\n".join(
            repr(row)
            for table in models.metadata().sorted_tables
            for row in conn.execute(table.select())
        )
    for secret in ("Zenobia", "Canarycanary", "tailoring", "threatened", "her sister"):
        for form in forms(secret):
            assert form.decode() not in rows, (secret, form)
            assert form.decode() not in logged, (secret, form)
    assert "food_security" not in rows and "very_satisfied" not in rows  # the answers, too

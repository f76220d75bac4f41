"""The outbox: idempotent queuing decided by the database, validated rows, leases that return
a crashed sender's messages, dead letters that can be retried."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlmodel import select

from homeward.base.db import read_session, write_session
from homeward.base.errors import InvalidInput, NotFound
from homeward.base.models import OutboxMessage, OutboxStatus
from notifications.contexts import SendTestContext
from notifications.outbox import (
    Attempt,
    Queued,
    Verdict,
    backoff_seconds,
    claim,
    enqueue,
    enqueue_many,
    record_attempt,
    retry_dead,
)
from tests import factories as f

TO = "cw@adpare.example.org"


def put(clock, key="k1", to=TO, **extra):
    with write_session() as s:
        return enqueue(
            s,
            key=key,
            template="test",
            to=to,
            language="en",
            context=SendTestContext(day=clock.now().date()),
            now=clock.now(),
            **extra,
        )


def all_rows() -> list[OutboxMessage]:
    with read_session() as s:
        return list(s.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_enqueue_returns_the_row_once_per_key(db_url, clock):
    row = put(clock)
    assert row is not None and row.status == OutboxStatus.QUEUED and row.to_addrs == [TO]
    assert row.message_id.startswith("<") and row.next_attempt_at == clock.now()
    assert put(clock) is None and len(all_rows()) == 1


def test_concurrent_writers_queue_a_key_once(db_url, clock):
    barrier, results = threading.Barrier(4), []

    def write() -> None:
        barrier.wait()
        results.append(put(clock, key="race"))

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(r is not None for r in results) == 1 and len(all_rows()) == 1


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"to": "x@y.org\r\nBcc: all@y.org"}, "to: header value contains a line break"),
        ({"to": []}, "to: give at least one recipient"),
        ({"to": "Someone <x@y.org>"}, "to: give one plain address"),
        ({"key": ""}, "key: give 1 to 200"),
        ({"key": "a\nb"}, "key: header value contains a line break"),
        ({"template": "nope"}, "template: 'nope' is unknown"),
        ({"language": "fr"}, "language: use one of en, ro"),
        ({"context": {"day": "2026-01-05", "given_name": "Zenobia"}}, "given_name"),
    ],
)
def test_bad_rows_are_refused_and_nothing_is_written(db_url, clock, changes, words):
    values = {
        "key": "k",
        "template": "test",
        "to": TO,
        "language": "en",
        "context": SendTestContext(day=clock.now().date()),
        **changes,
    }
    with pytest.raises(InvalidInput, match=words), write_session() as s:
        enqueue(s, now=clock.now(), **values)
    assert all_rows() == []


def test_many_are_queued_at_once_each_key_once_and_a_bad_one_stops_them_all(db_url, clock):
    def message(key: str, to: str = TO) -> Queued:
        return Queued(key, "test", to, "en", SendTestContext(day=clock.now().date()))

    put(clock, key="old")
    with write_session() as s:
        fresh = [message(f"k{n}") for n in range(2_500)]  # more than one statement's worth
        assert enqueue_many(s, [message("old"), *fresh, message("k7")], now=clock.now()) == 2_500
    assert len(all_rows()) == 2_501
    with pytest.raises(InvalidInput, match="to: give one plain address"), write_session() as s:
        enqueue_many(s, [message("x1"), message("x2", to="Someone <x@y.org>")], now=clock.now())
    assert len(all_rows()) == 2_501  # not even the good one before the bad


def test_a_claim_is_a_lease_that_comes_back_if_the_sender_dies(db_url, clock):
    put(clock, key="a")
    put(clock, key="b")
    with write_session() as s:
        first = claim(s, due_by=clock.now(), now=clock.now(), limit=10, lease_seconds=300)
    assert [r.key for r in first] == ["a", "b"]
    assert {(r.status, r.attempts) for r in all_rows()} == {(OutboxStatus.SENDING, 1)}
    with write_session() as s:
        assert claim(s, due_by=clock.now(), now=clock.now(), limit=10, lease_seconds=300) == []
    clock.advance(minutes=6)  # the sender died holding them: the lease ran out
    with write_session() as s:
        again = claim(s, due_by=clock.now(), now=clock.now(), limit=1, lease_seconds=300)
    assert [r.key for r in again] == ["a"] and again[0].attempts == 2


def test_outcomes_move_rows_between_states(db_url, clock):
    row = put(clock, to=[TO, "b@adpare.example.org"])
    row.attempts, now = 1, clock.now()
    record = {"now": now, "max_attempts": 3, "base_seconds": 60}
    assert record_attempt(row, Attempt(Verdict.RETRY, error="421 busy"), **record) == "retried"
    assert row.next_attempt_at == now + timedelta(seconds=60) and row.last_error == "421 busy"
    partial = Attempt(Verdict.SENT, accepted=(TO,), deferred={"b@adpare.example.org": "451 later"})
    row.attempts = 2
    assert record_attempt(row, partial, **record) == "retried"
    assert row.delivered_to == [TO] and row.sent_at == now and row.status == OutboxStatus.QUEUED
    assert row.next_attempt_at == now + timedelta(seconds=120)
    row.attempts = 3
    assert record_attempt(row, Attempt(Verdict.RETRY, error="451 later"), **record) == "sent"
    assert row.refused == {"b@adpare.example.org": "gave up after 3 attempts: 451 later"}
    untried = put(clock, key="k2")
    untried.attempts = 1
    assert record_attempt(untried, Attempt(Verdict.NOT_TRIED, error="down"), **record) == "retried"
    assert untried.attempts == 0 and untried.status == OutboxStatus.QUEUED


def test_backoff_doubles_and_is_capped():
    assert [backoff_seconds(n, 60) for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert backoff_seconds(40, 60) == 6 * 3600


def test_dead_letters_can_be_queued_again(db_url, clock):
    row = put(clock)
    with write_session() as s:
        stored = s.get(OutboxMessage, row.id)
        stored.status, stored.attempts, stored.last_error = OutboxStatus.DEAD, 8, "550 no"
        stored.refused = {TO: "550 no"}
    with pytest.raises(NotFound, match="#999 is not a dead letter"), write_session() as s:
        retry_dead(s, now=clock.now(), message_id=999)
    with write_session() as s:
        assert retry_dead(s, now=clock.now()) == 1
    (again,) = all_rows()
    assert (again.status, again.attempts, again.refused, again.last_error) == (
        OutboxStatus.QUEUED,
        0,
        {},
        None,
    )


def test_the_outbox_has_no_personal_data_columns():
    columns = set(OutboxMessage.model_fields)
    assert not columns & {"given_name", "family_name", "birth_date", "phone", "notes", "reason"}
    assert f.CANARY.given_name  # the canary used by the privacy tests exists

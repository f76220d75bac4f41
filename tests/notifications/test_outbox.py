"""The outbox: idempotent queuing decided by the database, validated rows, leases that return
a crashed sender's messages, each recipient's outcome and backoff on its own row."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlmodel import select

from homeward.base.db import read_session, write_session
from homeward.base.errors import InvalidInput
from homeward.base.models import OutboxMessage, OutboxStatus
from notifications.contexts import SendTestContext
from notifications.delivery import Outcome, Policy, backoff_seconds, record_attempt
from notifications.outbox import (
    Attempt,
    Queued,
    Unleased,
    Verdict,
    claim,
    due_recipients,
    enqueue,
    enqueue_many,
    recipients_of,
    release,
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


def test_a_claim_reads_and_leases_rows_without_loading_orm_objects(db_url, clock):
    """Issue 19 point 6: a drain claims thousands of rows on the sender's CPU, so the lease is
    read and written with Core statements; what it returns is the row as leased."""
    put(clock, key="a")
    put(clock, key="b", to=[TO, "b@adpare.example.org"])
    now = clock.now()
    with write_session() as s:
        leased = claim(s, due_by=now, now=now, limit=10, lease_seconds=300)
        assert len(s.identity_map) == 0  # no OutboxMessage loaded, none flushed
        due = due_recipients(s, [row.id for row in leased], now)
    until = now + timedelta(seconds=300)
    assert [(r.key, r.status, r.attempts, r.next_attempt_at) for r in leased] == [
        ("a", OutboxStatus.SENDING, 1, until),
        ("b", OutboxStatus.SENDING, 1, until),
    ]
    assert [[d.address for d in due[row.id]] for row in leased] == [
        [TO],
        [TO, "b@adpare.example.org"],
    ]
    assert [(r.key, r.status, r.attempts, r.next_attempt_at) for r in all_rows()] == [
        (r.key, r.status, r.attempts, r.next_attempt_at) for r in leased
    ]


def test_a_sender_gives_back_only_what_is_still_leased_to_it(db_url, clock):
    """Security review: a drain that claimed a batch ahead and stops early gives it back; a
    message whose lease lapsed meanwhile and that another sender claimed is that sender's now,
    and is left alone (handing it back would have it sent twice)."""
    put(clock, key="a")
    put(clock, key="b")
    was: dict[int, Unleased] = {}
    with write_session() as s:
        claim(s, due_by=clock.now(), now=clock.now(), limit=10, lease_seconds=300, leased_from=was)
    clock.advance(minutes=6)  # the first sender's lease lapsed; another claims one message
    with write_session() as s:
        (taken,) = claim(s, due_by=clock.now(), now=clock.now(), limit=1, lease_seconds=300)
    with write_session() as s:
        assert release(s, was) == 1  # only the one still the first sender's
    rows = {r.key: (r.status, r.attempts) for r in all_rows()}
    assert rows[taken.key] == (OutboxStatus.SENDING, 2)
    assert {v for k, v in rows.items() if k != taken.key} == {(OutboxStatus.QUEUED, 0)}


def test_each_recipient_has_its_own_outcome_and_backoff(db_url, clock):
    other, policy = "b@adpare.example.org", Policy(max_attempts=3, base_seconds=60)
    put(clock, to=[TO, other])
    with write_session() as s:
        (row,) = s.exec(select(OutboxMessage)).all()
        both = recipients_of(s, row.id)
        row.attempts, now = 1, clock.now()
        lost = Attempt(Verdict.RETRY, error="421 busy")
        assert record_attempt(s, row, both, lost, now=now, policy=policy) == Outcome("retried")
        assert row.next_attempt_at == now + timedelta(seconds=60) and row.last_error == "421 busy"
        assert {(r.status, r.code, r.attempts) for r in both} == {("deferred", 421, 1)}
        later = now + timedelta(seconds=60)
        partial = Attempt(
            Verdict.SENT, accepted=(TO,), deferred={other: "451 later"}, reply="250 2.0.0 OK"
        )
        assert record_attempt(s, row, both, partial, now=later, policy=policy).message == "retried"
        reached, waiting = both
        assert (reached.status, reached.code, reached.reply) == ("delivered", 250, "250 2.0.0 OK")
        assert (waiting.status, waiting.attempts) == ("deferred", 2)
        assert row.next_attempt_at == later + timedelta(seconds=120) and row.sent_at == later
        assert row.status == OutboxStatus.QUEUED
        last = Attempt(Verdict.RETRY, error="451 later")
        assert record_attempt(s, row, [waiting], last, now=later, policy=policy) == Outcome(
            "sent", refused=1
        )
        assert (waiting.status, waiting.code) == ("dead", 451)
        assert waiting.reply == row.last_error == "gave up after 3 attempts: 451 later"
        assert row.status == OutboxStatus.SENT and reached.attempts == 2  # not tried a third time


def test_an_unreachable_server_uses_up_no_attempt(db_url, clock):
    put(clock)
    with write_session() as s:
        (row,) = s.exec(select(OutboxMessage)).all()
        row.attempts, down = 1, Attempt(Verdict.NOT_TRIED, error="down")
        only = recipients_of(s, row.id)
        policy = Policy(max_attempts=3, base_seconds=60)
        assert record_attempt(s, row, only, down, now=clock.now(), policy=policy).message == (
            "retried"
        )
        assert row.attempts == 0 and row.status == OutboxStatus.QUEUED
        assert [(r.status, r.attempts) for r in only] == [("pending", 0)]


def test_backoff_doubles_and_is_capped():
    assert [backoff_seconds(n, 60) for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert backoff_seconds(40, 60) == 6 * 3600


def test_every_address_queued_is_a_recipient_row_in_one_and_in_many(db_url, clock):
    put(clock, key="one", to=[TO, "b@adpare.example.org", TO])
    with write_session() as s:
        first = Queued("m0", "test", [TO], "en", SendTestContext(day=clock.now().date()))
        second = first._replace(key="m2", to=["c@x.org", TO])
        assert enqueue_many(s, [first, second, first], now=clock.now()) == 2
    with read_session() as s:
        found = {
            row.key: [(r.address, r.status) for r in recipients_of(s, row.id)]
            for row in s.exec(select(OutboxMessage))
        }
    assert found == {
        "one": [(TO, "pending"), ("b@adpare.example.org", "pending")],
        "m0": [(TO, "pending")],
        "m2": [("c@x.org", "pending"), (TO, "pending")],
    }


def test_the_outbox_has_no_personal_data_columns():
    columns = set(OutboxMessage.model_fields)
    assert not columns & {"given_name", "family_name", "birth_date", "phone", "notes", "reason"}
    assert f.CANARY.given_name  # the canary used by the privacy tests exists

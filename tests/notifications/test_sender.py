"""Draining the outbox through a real SMTP server: delivery, pooling, and every failure mode."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from homeward.base.db import read_session, write_session
from homeward.base.errors import InvalidInput
from homeward.base.models import OutboxMessage, OutboxStatus
from homeward.base.settings import get_settings
from notifications.contexts import context_model, with_signin_link
from notifications.outbox import enqueue, recipients_of
from notifications.render import render, template_names
from notifications.samples import sample_context
from notifications.sender import drain
from notifications.sink import LocalSmtpServer
from tests.notifications.conftest import point_mail_at, run_drain
from tests.notifications.smtp_server import ScriptedHandler

OK, GONE, BUSY = "ok@adpare.example.org", "gone@adpare.example.org", "busy@adpare.example.org"


def queue(clock, count: int, *, to=(OK,), template="escalation", language="en") -> list[str]:
    """Queue ``count`` sample emails; return their keys."""
    keys = [f"test:{template}:{language}:{n}" for n in range(count)]
    with write_session() as s:
        for key in keys:
            context = sample_context(template, language, clock.now().date())
            enqueue(
                s,
                key=key,
                template=template,
                to=list(to),
                language=language,
                context=context,
                now=clock.now(),
            )
    return keys


def recipients(row: OutboxMessage) -> dict[str, tuple[str, int | None, str | None]]:
    """Each recipient's status, the server's code and its text."""
    with read_session() as s:
        return {r.address: (r.status, r.code, r.reply) for r in recipients_of(s, row.id or 0)}


def rows() -> list[OutboxMessage]:
    with read_session() as s:
        return list(s.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_every_template_in_both_languages_is_delivered_as_text_html_multipart(db_url, smtp, clock):
    for template in template_names():
        for language in ("en", "ro"):
            queue(clock, 1, template=template, language=language)
    report = run_drain(clock)
    assert report.sent == 2 * len(template_names()) and report.retried == report.dead == 0
    by_id = {row.message_id: row for row in rows()}
    assert {row.status for row in by_id.values()} == {OutboxStatus.SENT}
    for received in smtp.received:
        message = received.parsed()
        row = by_id[message["Message-ID"]]
        assert not context_model(row.template).secret & row.context.keys()  # a code is wiped
        context = sample_context(row.template, row.language, clock.now().date())
        if row.template == "login_code":  # its link: the sender's, to the address it goes to
            context = with_signin_link(context.model_dump(), row.to_addrs)
        expected = render(row.template, row.language, context, stamp=row.created_at)
        assert message["Subject"] == expected.subject and message["To"] == OK
        assert message["Content-Language"] == row.language
        assert message["Auto-Submitted"] == "auto-generated"
        body = message.get_body(("plain",))
        html = message.get_body(("html",))
        assert body is not None and html is not None
        assert body.get_content().replace("\r\n", "\n") == expected.text
        assert f'lang="{row.language}"' in html.get_content()
        calendars = [
            p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"
        ]
        assert len(calendars) == len(expected.attachments)
    assert len(smtp.received) == len(by_id)


def test_the_pool_reuses_a_few_connections_for_many_messages(db_url, smtp, clock, monkeypatch):
    monkeypatch.setenv("HOMEWARD_SMTP_POOL_SIZE", "2")
    get_settings.cache_clear()
    queue(clock, 30)
    assert run_drain(clock).sent == 30
    assert len(smtp.received) == 30 and len(smtp.peers) <= 2


def test_a_server_answering_421_then_recovering_delivers_every_message_exactly_once(
    db_url, smtp, clock
):
    keys = queue(clock, 12)
    smtp.data_replies = ["421 4.3.2 service busy, try again"] * 5
    first = run_drain(clock)
    assert first.retried == 5 and first.sent == 7 and first.dead == 0
    waiting = [r for r in rows() if r.status == OutboxStatus.QUEUED]
    assert len(waiting) == 5 and all("421" in (r.last_error or "") for r in waiting)
    assert all(r.next_attempt_at > clock.now() for r in waiting)  # backoff, not a hot loop
    assert run_drain(clock) == type(first)()  # nothing is due before the backoff ends
    clock.advance(minutes=5)
    second = run_drain(clock)
    assert second.sent == 5 and second.retried == second.dead == 0
    assert len(smtp.received) == len(keys) and set(smtp.message_ids().values()) == {1}
    assert {r.status for r in rows()} == {OutboxStatus.SENT}


def test_a_refused_recipient_is_dead_lettered_with_the_reason(db_url, smtp, clock):
    smtp.rcpt_replies = {GONE: "550 5.1.1 mailbox unavailable"}
    queue(clock, 1, to=(GONE,))
    queue_ok = queue(clock, 1, template="test")
    report = run_drain(clock)
    assert report.dead == 1 and report.sent == 1 and len(queue_ok) == 1
    dead = next(r for r in rows() if r.status == OutboxStatus.DEAD)
    assert recipients(dead) == {GONE: ("dead", 550, "550 5.1.1 mailbox unavailable")}
    assert "550" in (dead.last_error or "") and dead.attempts == 1
    assert [r.rcpt_tos for r in smtp.received] == [(OK,)]


def test_a_5xx_answer_to_the_message_is_dead_lettered(db_url, smtp, clock):
    smtp.data_replies = ["554 5.6.0 message content rejected"]
    queue(clock, 1)
    assert run_drain(clock).dead == 1
    assert rows()[0].last_error == "554 5.6.0 message content rejected"


def test_a_partial_recipient_refusal_is_recorded_and_the_rest_delivered(db_url, smtp, clock):
    smtp.rcpt_replies = {GONE: "550 5.1.1 no such user"}
    queue(clock, 1, to=(OK, GONE))
    assert run_drain(clock).sent == 1
    (row,) = rows()
    assert row.status == OutboxStatus.SENT and row.last_error == "550 5.1.1 no such user"
    assert recipients(row) == {
        OK: ("delivered", 250, "250 2.0.0 OK: queued"),
        GONE: ("dead", 550, "550 5.1.1 no such user"),
    }
    (received,) = smtp.received
    assert received.rcpt_tos == (OK,) and received.parsed()["To"] == f"{OK}, {GONE}"


def test_one_batch_records_the_delivered_in_bulk_and_every_other_outcome_row_by_row(
    db_url, smtp, clock
):
    smtp.rcpt_replies = {GONE: "550 5.1.1 no such user"}
    queue(clock, 2, to=(OK, BUSY))  # delivered to all: recorded by two statements
    queue(clock, 1, to=(OK, GONE), language="ro")  # one refused: row by row
    queue(clock, 1, template="login_code")  # delivered, with a secret to wipe: row by row
    report = run_drain(clock)
    assert report == type(report)(sent=4, refused=1)
    delivered = ("delivered", 250, "250 2.0.0 OK: queued")
    everyone, partial, login = rows()[:2], rows()[2], rows()[3]
    for row in everyone:
        assert (row.status, row.attempts, row.last_error) == (OutboxStatus.SENT, 1, None)
        assert row.sent_at == clock.now() and recipients(row) == {OK: delivered, BUSY: delivered}
    assert partial.last_error == "550 5.1.1 no such user" and partial.sent_at == clock.now()
    assert recipients(partial) == {OK: delivered, GONE: ("dead", 550, "550 5.1.1 no such user")}
    assert login.status == OutboxStatus.SENT and not {"code", "link"} & login.context.keys()
    with read_session() as s:
        assert {r.attempts for row in rows() for r in recipients_of(s, row.id or 0)} == {1}


def test_a_recipient_deferred_with_4xx_gets_the_same_message_later_and_only_them(
    db_url, smtp, clock
):
    smtp.rcpt_replies = {BUSY: "451 4.2.1 mailbox busy"}
    queue(clock, 1, to=(OK, BUSY))
    assert run_drain(clock).retried == 1
    (row,) = rows()
    assert row.status == OutboxStatus.QUEUED
    assert recipients(row) == {
        OK: ("delivered", 250, "250 2.0.0 OK: queued"),
        BUSY: ("deferred", 451, "451 4.2.1 mailbox busy"),
    }
    smtp.rcpt_replies = {}
    clock.advance(minutes=2)
    assert run_drain(clock).sent == 1
    assert [r.rcpt_tos for r in smtp.received] == [(OK,), (BUSY,)]
    assert len(smtp.message_ids()) == 1  # the same Message-ID: a recognisable resend
    assert {a: status for a, (status, *_) in recipients(rows()[0]).items()} == {
        OK: "delivered",
        BUSY: "delivered",
    }


def test_a_server_that_disappears_mid_batch_loses_nothing_and_sends_nothing_twice(
    db_url, clock, monkeypatch
):
    first_handler = ScriptedHandler(vanish_after=8)
    with LocalSmtpServer(first_handler) as server:
        first_handler.controller = server
        port = server.port
        point_mail_at(monkeypatch, port)
        keys = queue(clock, 40)
        report = run_drain(clock)
    assert report.dead == 0 and report.sent == len(first_handler.received)
    assert 8 <= report.sent <= 8 + get_settings().smtp_pool_size  # only what was in flight
    assert report.sent + report.retried == 40
    assert {r.status for r in rows()} <= {OutboxStatus.SENT, OutboxStatus.QUEUED}
    clock.advance(minutes=10)
    second_handler = ScriptedHandler()
    with LocalSmtpServer(second_handler, port=port):
        again = run_drain(clock)
    assert again.sent == 40 - report.sent and again.retried == again.dead == 0
    delivered = first_handler.message_ids() + second_handler.message_ids()
    assert len(delivered) == len(keys) and set(delivered.values()) == {1}


def test_an_unreachable_server_leaves_everything_queued_without_using_up_attempts(
    db_url, clock, monkeypatch
):
    with LocalSmtpServer(ScriptedHandler()) as server:
        port = server.port  # free again once the server stops
    point_mail_at(monkeypatch, port)
    queue(clock, 20)
    report = run_drain(clock)
    assert report.retried == 20 and report.sent == report.dead == 0
    assert {(r.status, r.attempts) for r in rows()} == {(OutboxStatus.QUEUED, 0)}
    assert all("cannot connect" in (r.last_error or "") for r in rows())


def test_retries_back_off_exponentially_then_give_up_as_dead(db_url, smtp, clock, monkeypatch):
    monkeypatch.setenv("HOMEWARD_MAIL_MAX_ATTEMPTS", "3")
    get_settings.cache_clear()
    smtp.data_replies = ["450 4.7.1 greylisted"] * 3
    queue(clock, 1)
    waits = []
    for _ in range(3):
        report = run_drain(clock)
        (row,) = rows()
        if row.status == OutboxStatus.QUEUED:
            waits.append(row.next_attempt_at - clock.now())
            clock.current = row.next_attempt_at
    assert waits == [timedelta(seconds=60), timedelta(seconds=120)]
    assert report.dead == 1 and rows()[0].status == OutboxStatus.DEAD
    assert rows()[0].last_error == "gave up after 3 attempts: 450 4.7.1 greylisted"


def test_drain_respects_its_limit(db_url, smtp, clock):
    queue(clock, 7)
    assert run_drain(clock, limit=3).sent == 3
    assert run_drain(clock).sent == 4


def test_clear_text_to_a_remote_server_is_refused_before_anything_is_claimed(
    db_url, clock, monkeypatch
):
    point_mail_at(monkeypatch, 2525, HOMEWARD_SMTP_HOST="smtp.example.org")
    queue(clock, 1)
    with pytest.raises(InvalidInput, match="HOMEWARD_SMTP_TLS"):
        asyncio.run(drain(clock=clock))
    assert rows()[0].status == OutboxStatus.QUEUED and rows()[0].attempts == 0


def test_many_batches_each_delivered_once_while_the_next_is_claimed_and_the_last_recorded(
    db_url, smtp, clock
):
    keys = queue(clock, 11)
    report = run_drain(clock, batch_size=8)  # batches of 1, 2, 4 and 4
    assert report == type(report)(sent=11)
    assert {(r.status, r.attempts) for r in rows()} == {(OutboxStatus.SENT, 1)}
    assert len(smtp.received) == 11 and set(smtp.message_ids().values()) == {1}
    assert len(smtp.message_ids()) == len(keys)


def test_a_limit_across_batches_claims_no_more_than_it_sends(db_url, smtp, clock):
    queue(clock, 10)
    assert run_drain(clock, limit=7, batch_size=3).sent == 7
    left = [r for r in rows() if r.status != OutboxStatus.SENT]
    assert len(left) == 3 and {(r.status, r.attempts) for r in left} == {(OutboxStatus.QUEUED, 0)}
    assert all(r.next_attempt_at <= clock.now() for r in left)  # due as they were, not leased
    assert run_drain(clock, batch_size=3).sent == 3


def test_an_unreachable_server_gets_back_the_batch_claimed_ahead_untouched(
    db_url, clock, monkeypatch
):
    with LocalSmtpServer(ScriptedHandler()) as server:
        port = server.port  # free again once the server stops
    point_mail_at(monkeypatch, port)
    queue(clock, 10)
    before = {r.id: r.next_attempt_at for r in rows()}
    report = run_drain(clock, batch_size=24)  # batches of 3, 6, ...: the second is given back
    assert 0 < report.retried < 10 and report.sent == report.dead == 0
    assert {(r.status, r.attempts) for r in rows()} == {(OutboxStatus.QUEUED, 0)}  # none leased
    tried = [r for r in rows() if r.last_error]
    assert len(tried) == report.retried
    assert all("cannot connect" in (r.last_error or "") for r in tried)
    given_back = [r for r in rows() if not r.last_error]  # claimed ahead (or not), as they were
    assert all(r.next_attempt_at == before[r.id] for r in given_back)

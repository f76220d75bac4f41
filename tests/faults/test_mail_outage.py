"""The mail server down for a stretch, then back: the day's reminders (digests to several
staff, escalations to supervisors) stay queued through every drain of the outage without using
up attempts, and are delivered exactly once when the server returns on the same port. A server
that accepts each message and then drops the connection without waiting for QUIT costs no
message and duplicates none."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlmodel import col, select

from homeward.base.db import read_session
from homeward.base.models import OutboxMessage, OutboxStatus
from notifications.sink import LocalSmtpServer, RecordingHandler
from tests import factories as f
from tests.notifications.conftest import point_mail_at, run_drain
from tests.notifications.helpers import remind
from tests.notifications.smtp_server import ScriptedHandler


def _rows() -> list[OutboxMessage]:
    with read_session() as s:
        return list(s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))


def _queue_reminders(clock) -> list[OutboxMessage]:
    """Cases with items coming due and overdue, the daily run queued: several recipients."""
    f.seed()
    for _ in range(3):
        f.open_case(clock, share=False)
    clock.advance(days=9)
    report = remind(clock)
    rows = _rows()
    assert report.queued == len(rows) and report.escalated > 0
    assert {r.template for r in rows} == {"digest", "escalation"}
    assert len({a for r in rows for a in r.to_addrs}) >= 2
    return rows


def _closed_port() -> int:
    with LocalSmtpServer(RecordingHandler()) as server:
        return server.port  # free again once the server stops


def test_reminders_wait_out_an_outage_and_arrive_exactly_once(db_url, clock, monkeypatch):
    queued = _queue_reminders(clock)
    port = _closed_port()
    point_mail_at(monkeypatch, port)
    for _ in range(5):  # the sweep keeps running while the server is down
        report = run_drain(clock)
        assert report.sent == report.dead == 0 and report.retried == len(queued)
        assert {(r.status, r.attempts) for r in _rows()} == {(OutboxStatus.QUEUED, 0)}
        clock.advance(minutes=10)
    handler = ScriptedHandler()
    with LocalSmtpServer(handler, port=port):
        back = run_drain(clock)
        clock.advance(hours=1)
        assert run_drain(clock).sent == 0  # nothing left to send, nothing sent twice
    assert back.sent == len(queued) and back.retried == back.dead == 0
    rows = _rows()
    assert {(r.status, r.attempts) for r in rows} == {(OutboxStatus.SENT, 1)}
    assert handler.message_ids() == Counter({r.message_id: 1 for r in rows})


@dataclass
class HangsUpAfterAccepting(ScriptedHandler):
    """Accepts each message (250), then hangs up without waiting for QUIT: the connection is
    closed shortly after, and a client quick enough to start another message on it first is
    cut off at MAIL FROM (nothing of that message is accepted)."""

    hung_up: set[Any] = field(default_factory=set)

    async def handle_MAIL(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if server in self.hung_up:
            server.transport.abort()
            return "421 4.3.0 closing"
        return await super().handle_MAIL(server, session, envelope, address, options)

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        self.hung_up.add(server)
        asyncio.get_running_loop().call_later(0.01, server.transport.close)
        return reply


@pytest.mark.parametrize("reuse", [True, False], ids=["pooled", "one-per-message"])
def test_a_server_hanging_up_after_each_message_loses_and_repeats_nothing(
    db_url, clock, monkeypatch, reuse
):
    queued = _queue_reminders(clock)
    handler = HangsUpAfterAccepting()
    with LocalSmtpServer(handler) as server:
        point_mail_at(monkeypatch, server.port)
        for _ in range(20):
            run_drain(clock, reuse_connections=reuse)
            if all(r.status == OutboxStatus.SENT for r in _rows()):
                break
            clock.advance(hours=1)  # past any backoff
    rows = _rows()
    assert {r.status for r in rows} == {OutboxStatus.SENT} and len(rows) == len(queued)
    assert handler.message_ids() == Counter({r.message_id: 1 for r in rows})

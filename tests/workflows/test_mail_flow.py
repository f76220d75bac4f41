"""The ``mail-flow`` artifact on a real Prefect server: published by every sweep-due-items run
from the rows the real sender left (a real SMTP server refusing a recipient), read back
through the Prefect client; counts only, and a clear line when mail has stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest

from homeward.base import settings as homeward_settings
from homeward.base.db import write_session
from notifications.outbox import enqueue
from notifications.samples import sample_context
from notifications.sink import LocalSmtpServer
from tests.notifications.conftest import point_mail_at
from tests.notifications.smtp_server import ScriptedHandler
from tests.workflows.helpers import artifacts, run
from workflows.artifacts import MAIL_FLOW
from workflows.runtime import now as flows_now
from workflows.sweep_due_items import sweep_due_items

OK, GONE = "ok@adpare.example.org", "gone@adpare.example.org"


@pytest.fixture
def refusing(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedHandler]:
    """A real SMTP server on loopback that refuses ``GONE`` for good."""
    handler = ScriptedHandler(rcpt_replies={GONE: "550 5.1.1 no such user"})
    with LocalSmtpServer(handler) as server:
        point_mail_at(monkeypatch, server.port)
        yield handler
    homeward_settings.get_settings.cache_clear()


def queue_hours_ago(hours: int, *recipients: tuple[str, ...]) -> None:
    moment = flows_now() - timedelta(hours=hours)
    with write_session() as s:
        for n, to in enumerate(recipients):
            enqueue(
                s,
                key=f"flow-stats:{hours}:{n}",
                template="escalation",
                to=list(to),
                language="en",
                context=sample_context("escalation", "en", moment.date()),
                now=moment,
            )


def published() -> str:
    found = asyncio.run(artifacts(MAIL_FLOW))
    assert MAIL_FLOW in found, "no mail-flow artifact"
    return str(found[MAIL_FLOW].data)


def kind_rows(markdown: str) -> list[list[str]]:
    """The by-kind table's rows: day, kind and the six counts."""
    table = markdown.split("### By kind", 1)[1]
    lines = [line for line in table.splitlines() if line.startswith("| 20")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


@pytest.mark.usefixtures("homeward")
def test_the_sweep_publishes_what_became_of_the_mail(refusing: ScriptedHandler) -> None:
    queue_hours_ago(1, (OK,), (OK,), (OK, GONE), (GONE,))

    summary = run(sweep_due_items(send=True))

    assert summary["emails_sent"] == 3 and summary["emails_dead"] == 1
    markdown = published()
    assert "Mail is flowing." in markdown and "mail stopped" not in markdown
    totals = [0] * 6
    for _day, kind, *cells in kind_rows(markdown):
        assert kind == "escalation"
        totals = [a + int(b) for a, b in zip(totals, cells, strict=True)]
    assert totals == [4, 3, 2, 1, 0, 0]  # queued, sent, refused, dead, waiting, dropped
    assert "data:image/svg+xml;base64," in markdown
    assert "@" not in markdown and "RT-" not in markdown and "adpare" not in markdown


@pytest.mark.usefixtures("homeward")
def test_a_sweep_that_cannot_send_says_mail_has_stopped() -> None:
    queue_hours_ago(3, (OK,), (OK,))

    summary = run(sweep_due_items())  # no SMTP server named: nothing is sent

    assert "emails_sent" not in summary
    markdown = published()
    assert "mail stopped: 2 queued since " in markdown
    assert "none sent since (last sent: never" in markdown

"""``homeward mail stats``: the mail counted per day and kind from the rows the real sender left
after a real SMTP server refused, deferred and went away; and the line when mail has stopped."""

from __future__ import annotations

import json
from typing import Any

import pytest

from homeward.base.clock import SimulatedClock
from homeward.base.db import write_session
from homeward.base.errors import Refused
from homeward.commands.mail import ReadMailStats
from homeward.commands.runner import run
from homeward.edges.cli.common import state
from notifications.outbox import enqueue
from notifications.samples import sample_context
from notifications.sink import LocalSmtpServer
from tests import factories as f
from tests.cli.runner import Result, run_cli
from tests.notifications.conftest import point_mail_at, run_drain
from tests.notifications.smtp_server import ScriptedHandler
from tests.signin import credential_for

OK, GONE, BUSY = "ok@adpare.example.org", "gone@adpare.example.org", "busy@adpare.example.org"
COUNTS = ("queued", "sent", "refused", "dead", "waiting", "dropped")

# counting, not when mail may go: quiet days are proven apart (test_quiet_hours.py)
pytestmark = pytest.mark.usefixtures("any_day")


def queue(clock: SimulatedClock, template: str, *recipients: tuple[str, ...]) -> None:
    """One email of ``template`` per tuple of recipients, queued at the clock's time."""
    with write_session() as s:
        for n, to in enumerate(recipients):
            enqueue(
                s,
                key=f"stats:{clock.now():%Y%m%d%H%M}:{template}:{n}",
                template=template,
                to=list(to),
                language="en",
                context=sample_context(template, "en", clock.now().date()),
                now=clock.now(),
            )


@pytest.fixture
def cli(capsys: Any, monkeypatch: pytest.MonkeyPatch, clock: SimulatedClock) -> Any:
    monkeypatch.setattr(state, "clock", clock)
    return lambda *args: run_cli(capsys, monkeypatch, *args)


def three_days_of_mail(
    clock: SimulatedClock, smtp: ScriptedHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Monday: four escalations sent (one also refused for a recipient), a test email refused
    for its only recipient (dead). Tuesday: two handoff notices sent, an escalation delivered
    to one recipient and deferred for the other (waiting). Wednesday: the server is gone."""
    smtp.rcpt_replies = {GONE: "550 5.1.1 no such user", BUSY: "451 4.2.1 mailbox busy"}
    queue(clock, "escalation", (OK,), (OK,), (OK,), (OK, GONE))
    queue(clock, "test", (GONE,))
    assert run_drain(clock).sent == 4
    clock.advance(days=1)
    queue(clock, "handoff_proposed", (OK,), (OK,))
    queue(clock, "escalation", (OK, BUSY))
    assert run_drain(clock).sent == 2
    clock.advance(days=1)
    with LocalSmtpServer(ScriptedHandler()) as gone:
        port = gone.port  # free again once it stops: nobody answers there
    point_mail_at(monkeypatch, port)
    queue(clock, "escalation", (OK,), (OK,))
    assert run_drain(clock).retried == 3  # Wednesday's two and Tuesday's deferred one
    clock.advance(hours=2)


def counts(row: dict[str, Any]) -> tuple[int, ...]:
    return tuple(row[name] for name in COUNTS)


def test_mail_is_counted_per_day_and_kind_and_a_stop_is_named(
    db_url: str, smtp: ScriptedHandler, cli: Any, clock: SimulatedClock, monkeypatch: Any
) -> None:
    f.seed()
    three_days_of_mail(clock, smtp, monkeypatch)
    before = f.db_snapshot()

    shown = cli("mail", "stats", "--days", "3", "--json")

    assert shown.code == 0, shown.err
    found = json.loads(shown.out)
    assert (found["first_day"], found["last_day"]) == ("2026-01-05", "2026-01-07")
    assert {(r["day"], r["kind"]): counts(r) for r in found["rows"]} == {
        ("2026-01-05", "escalation"): (4, 4, 1, 0, 0, 0),
        ("2026-01-05", "test"): (1, 0, 1, 1, 0, 0),
        ("2026-01-06", "escalation"): (1, 0, 0, 0, 1, 0),
        ("2026-01-06", "handoff_proposed"): (2, 2, 0, 0, 0, 0),
        ("2026-01-07", "escalation"): (2, 0, 0, 0, 2, 0),
    }
    assert [counts(r) for r in found["totals"]] == [
        (5, 4, 2, 1, 0, 0),
        (3, 2, 0, 0, 1, 0),
        (2, 0, 0, 0, 2, 0),
    ]
    stopped = found["stopped"]
    assert stopped["count"] == 2 and stopped["since"].startswith("2026-01-07T09:00")
    assert stopped["line"].startswith("mail stopped: 2 queued since 2026-01-07 11:00, none sent")
    assert "last sent: 2026-01-06 11:00" in stopped["line"]
    assert "@" not in shown.out and "RT-" not in shown.out  # counts only
    assert f.db_snapshot() == before  # a read


def test_the_table_and_its_window_and_the_flow_resuming(
    db_url: str, smtp: ScriptedHandler, cli: Any, clock: SimulatedClock, monkeypatch: Any
) -> None:
    f.seed()
    three_days_of_mail(clock, smtp, monkeypatch)

    table = cli("mail", "stats", "--days", "2")
    assert table.code == 0, table.err
    assert "2026-01-05" not in table.out and "2026-01-06" in table.out
    assert "handoff_proposed" in table.out
    assert "mail stopped: 2 queued since 2026-01-07 11:00" in table.out

    point_mail_at(monkeypatch, smtp.controller.port)  # type: ignore[union-attr]
    smtp.rcpt_replies = {}
    assert run_drain(clock).sent == 3
    again = cli("mail", "stats", "--json")
    found = json.loads(again.out)
    assert found["first_day"] == "2026-01-01" and found["stopped"] is None
    assert counts(found["totals"][-1]) == (2, 2, 0, 0, 0, 0)
    assert "mail is flowing" in cli("mail", "stats").out


def test_mail_never_sent_since_it_was_queued_is_stopped_only_after_an_hour(
    db_url: str, cli: Any, clock: SimulatedClock
) -> None:
    f.seed()
    queue(clock, "escalation", (OK,))  # no sender runs at all
    clock.advance(minutes=50)
    assert "mail is flowing" in cli("mail", "stats").out
    clock.advance(minutes=20)
    line = cli("mail", "stats").out
    assert "mail stopped: 1 queued since 2026-01-05 11:00, none sent since (last sent: never" in (
        line
    )


@pytest.mark.parametrize("days", ["0", "367", "-3"])
def test_a_bad_window_is_one_line_and_changes_nothing(db_url: str, cli: Any, days: str) -> None:
    f.seed()
    before = f.db_snapshot()
    result: Result = cli("mail", "stats", "--days", days)
    assert result.code == 2 and result.err.count("\n") == 1
    assert "days: give a whole number of days from 1 to 366" in result.err
    assert f.db_snapshot() == before


def test_staff_see_it_only_if_they_may_run_reports(db_url: str, clock: SimulatedClock) -> None:
    f.seed()
    queue(clock, "escalation", (OK,))
    manager = run(
        ReadMailStats(1), credential_for("mgr@iom-it.example.org", clock.now()), clock=clock
    )
    assert [(r.kind, r.queued) for r in manager.rows] == [("escalation", 1)]
    with pytest.raises(Refused, match="cannot manage programmes and run reports"):
        run(ReadMailStats(1), credential_for("cw@iom-it.example.org", clock.now()), clock=clock)

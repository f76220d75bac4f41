"""Health alerts at the outbox: when mail counts as stuck, who is told in which language, what
a check that could not see Prefect leaves open, and ``homeward health`` as a manager runs it
(a real SMTP server; Prefect not running at all)."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from homeward.base.clock import SimulatedClock
from homeward.base.db import read_session, system_scope, write_session
from homeward.base.models import OutboxMessage, StaffMember
from homeward.base.settings import get_settings
from homeward.edges.cli.common import state
from homeward.records.directory import StaffIn, add_staff, validate
from notifications.health import Problem, mail_flow, plan_alerts, queue_alerts
from notifications.outbox import enqueue
from notifications.sink import Received
from tests import factories
from tests.cli.runner import run_cli
from tests.notifications.smtp_server import ScriptedHandler

MANAGER = "mgr@iom-it.example.org"
ROMANIAN = "manager@adpare.example.org"
STUCK = timedelta(minutes=90)


@pytest.fixture
def seeded(db_url: str) -> str:
    factories.seed()
    with write_session() as s:
        add_staff(
            session=s,
            staff_in=validate(
                StaffIn, org="adpare", name="Manager", email=ROMANIAN, role="manager", language="ro"
            ),
        )
    return db_url


def _queue_test_email(key: str, at: datetime) -> None:
    with write_session() as s:
        enqueue(
            s,
            key=key,
            template="test",
            to="cw@adpare.example.org",
            language="en",
            context={"day": at.date()},
            now=at,
        )


def _flow(now: datetime):
    with read_session() as s:
        return mail_flow(s, now=now, stuck_after=STUCK)


def _health_rows() -> list[OutboxMessage]:
    with read_session() as s:
        rows = s.exec(select(OutboxMessage).where(OutboxMessage.template == "health_alert"))
        return sorted(rows, key=lambda r: r.key)


@pytest.mark.usefixtures("seeded")
def test_mail_is_stuck_when_an_email_waited_long_and_none_was_sent_since(
    clock: SimulatedClock,
) -> None:
    now = clock.now()
    assert not _flow(now).stuck and _flow(now).waiting == 0
    _queue_test_email("old", now - timedelta(hours=2))
    flow = _flow(now)
    assert (
        flow.stuck
        and flow.waiting == 1
        and flow.problem() == Problem("mail_stuck", None, now - timedelta(hours=2), 1)
    )
    assert not _flow(now - timedelta(hours=1)).stuck  # waiting less than 90 minutes then
    with write_session() as s:  # something went out half an hour ago: mail flows, slowly
        row = s.exec(select(OutboxMessage)).one()
        row.sent_at = now - timedelta(minutes=30)
    _queue_test_email("older", now - timedelta(hours=3))
    assert not _flow(now).stuck


@pytest.mark.usefixtures("seeded")
def test_every_active_manager_is_told_in_their_language_once_a_day(clock: SimulatedClock) -> None:
    now = clock.now()
    late = Problem("late", "audit-checkpoint", now - timedelta(hours=1))
    with write_session() as s:
        queued = queue_alerts(s, [late], checked={"late", "failed", "mail_stuck"}, now=now)
        again = queue_alerts(s, [late], checked={"late", "failed", "mail_stuck"}, now=now)
    assert queued == tuple(f"health:late:audit-checkpoint:{k}" for k in _days(now, "en", "ro"))
    assert again == ()
    english, romanian = _health_rows()
    assert english.to_addrs == [MANAGER] and romanian.to_addrs == [ROMANIAN]
    assert english.context["flow_name"] == "audit-checkpoint" and not english.context["recovered"]
    with write_session() as s, system_scope(s):  # the directory (0031)
        for member in s.exec(select(StaffMember).where(StaffMember.role == "manager")):
            member.active = False
        assert plan_alerts(s, [late], checked={"late"}, now=now + timedelta(days=1)) == []


@pytest.mark.usefixtures("seeded")
def test_a_check_that_could_not_see_prefect_clears_nothing_it_could_not_see(
    clock: SimulatedClock,
) -> None:
    now = clock.now()
    late = Problem("late", "sweep-due-items", now - timedelta(minutes=20))
    stuck = Problem("mail_stuck", None, now - timedelta(hours=2), 4)
    with write_session() as s:
        queue_alerts(s, [late, stuck], checked={"late", "failed", "mail_stuck"}, now=now)
        later = now + timedelta(minutes=10)
        cleared = queue_alerts(s, [], checked={"mail_stuck"}, now=later)  # Prefect silent
        assert cleared == tuple(f"health-ok:mail_stuck:{k}" for k in _days(now, "en", "ro"))
        assert queue_alerts(s, [], checked={"mail_stuck"}, now=later) == ()
        seen = queue_alerts(s, [], checked={"late", "failed", "mail_stuck"}, now=later)
    assert seen == tuple(f"health-ok:late:sweep-due-items:{k}" for k in _days(now, "en", "ro"))
    recovered = [r for r in _health_rows() if r.key.startswith("health-ok:late")]
    assert all(r.context["recovered"] and r.context["problem"] == "late" for r in recovered)


def _days(now: datetime, *languages: str) -> list[str]:
    day = now.astimezone(get_settings().tz).date().isoformat()
    return [f"{day}:{language}" for language in languages]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.usefixtures("seeded")
def test_homeward_health_says_it_in_one_line_and_alerts_the_managers(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    clock: SimulatedClock,
    smtp: ScriptedHandler,
) -> None:
    monkeypatch.setattr(state, "clock", clock)
    api = f"http://127.0.0.1:{_closed_port()}/api"  # no Prefect there
    _queue_test_email("old", clock.now() - timedelta(hours=2))
    shown = run_cli(capsys, monkeypatch, "health", "--api-url", api)
    assert shown.code == 1, shown.err
    assert shown.out.startswith("health: 2 to look at: mail stuck: 1 email waiting since ")
    assert "Prefect's API does not answer" in shown.out and _health_rows() == []
    told = run_cli(capsys, monkeypatch, "health", "--api-url", api, "--alert")
    assert told.code == 1 and "managers emailed: 2" in told.out, told.err
    subjects = sorted(_subject(m) for m in smtp.received)
    assert subjects == [
        "Homeward health: 1 email waiting, none sent",
        "Starea Homeward: 1 email așteaptă, niciunul trimis",
    ]
    bad = run_cli(capsys, monkeypatch, "health", "--api-url", "localhost:4200")
    assert bad.code == 2 and bad.err.strip().startswith("error: --api-url: give the server's")


def _subject(message: Received) -> str:
    return str(message.parsed()["Subject"])

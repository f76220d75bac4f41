"""``homeward mail`` end to end, through the real entry point and a real SMTP server."""

from __future__ import annotations

import pytest

from homeward.base.db import write_session
from homeward.base.models import OutboxMessage, OutboxStatus
from homeward.edges.cli.common import state
from notifications.render import template_names
from tests import factories as f
from tests.cli.runner import run_cli
from tests.notifications.conftest import point_mail_at
from tests.notifications.helpers import outbox


@pytest.fixture
def cli(capsys, monkeypatch, clock):
    monkeypatch.setattr(state, "clock", clock)

    def run(*args: str):
        return run_cli(capsys, monkeypatch, *args)

    return run


@pytest.mark.parametrize("language", ["en", "ro"])
@pytest.mark.parametrize("template", template_names())
def test_preview_every_template_in_both_languages(cli, template, language):
    shown = cli("mail", "preview", template, "--lang", language)
    assert shown.code == 0, shown.err
    assert shown.out.startswith("Subject: ") and "Homeward" in shown.out
    html = cli("mail", "preview", template, "--lang", language, "--html")
    assert html.code == 0 and f'<html lang="{language}">' in html.out


def test_rules_show_the_overdue_cadence_of_each_item_kind(cli):
    shown = cli("mail", "rules")
    assert shown.code == 0, shown.err
    rows = {line.split("│")[1].strip(): line for line in shown.out.splitlines() if "│" in line}
    assert "1, 3, 7, then every 7 days late" in rows["(every other kind)"]
    family = [cell.strip() for cell in rows["family_assessment"].split("│")[1:-1]]
    assert family == ["family_assessment", "7, 2", "yes", "1, 3, 7, then every 7 days late", "3"]
    assert "one digest per supervisor a day" in shown.out


@pytest.mark.parametrize(
    ("argv", "code", "words"),
    [
        (["mail", "preview", "nope"], 2, "template: 'nope' is unknown"),
        (["mail", "preview", "digest", "--lang", "fr"], 2, "language: use one of en, ro"),
        (["--as", f.PLATFORM_ADMIN, "mail", "retry", "42"], 3, "no outbox message #42"),
        (["mail", "send-test", "--to", "not an address"], 2, "to: give one plain address"),
        (["mail", "send-test", "--to", "a@b.org\r\nBcc: c@d.org"], 2, "line break"),
        (["mail", "outbox", "--limit", "0"], 2, "--limit"),
    ],
)
def test_user_errors_are_one_line_and_change_nothing(db_url, smtp, cli, argv, code, words):
    f.seed()
    before = f.db_snapshot()
    result = cli(*argv)
    assert result.code == code and words in result.err and result.err.count("\n") == 1
    assert f.db_snapshot() == before and smtp.received == []


def test_send_queues_the_days_reminders_and_sends_them(db_url, smtp, cli, clock):
    f.seed()
    f.open_case(clock)
    sent = cli("mail", "send")
    assert sent.code == 0, sent.err
    assert "1 coming due, 1 due today" in sent.out and "3 emails queued" in sent.out
    assert "sent 3, retried later 0, dead 0" in sent.out
    assert sorted(r.rcpt_tos[0] for r in smtp.received) == [
        "coord@iom-it.example.org",
        "cw@iom-it.example.org",
        "officer@cons-rome.example.org",
    ]
    again = cli("mail", "send")
    assert "0 emails queued" in again.out and "sent 0" in again.out and len(smtp.received) == 3
    assert cli("mail", "outbox").out.count("the outbox is empty") == 1


def test_send_refuses_clear_text_to_a_remote_server_before_writing(db_url, cli, clock, monkeypatch):
    f.seed()
    f.open_case(clock)
    point_mail_at(monkeypatch, 25, HOMEWARD_SMTP_HOST="mail.example.org")
    before = f.db_snapshot()
    refused = cli("mail", "send")
    assert refused.code == 2 and "HOMEWARD_SMTP_TLS" in refused.err
    assert refused.err.count("\n") == 1 and f.db_snapshot() == before


def test_an_unreachable_server_warns_and_keeps_the_mail(db_url, cli, clock, monkeypatch):
    f.seed()
    f.open_case(clock)
    point_mail_at(monkeypatch, 9)  # discard port: nothing listens
    result = cli("mail", "send")
    assert result.code == 0 and "retried later 3" in result.out
    assert "warning: nothing could be sent" in result.err
    listing = cli("mail", "outbox")
    assert listing.out.count("digest") == 3 and "cannot connect" in listing.out


def test_outbox_dead_letters_and_retry(db_url, smtp, cli, clock):
    f.seed()
    smtp.rcpt_replies = {"officer@cons-rome.example.org": "550 5.1.1 mailbox unavailable"}
    f.open_case(clock)
    assert "dead 1" in cli("mail", "send").out
    dead = cli("mail", "outbox", "--dead")
    assert "officer@cons-rome.example.org" in dead.out and "550 5.1.1" in dead.out
    (row,) = [m for m in outbox() if m.status == OutboxStatus.DEAD]
    smtp.rcpt_replies = {}
    retried = cli("--as", f.PLATFORM_ADMIN, "mail", "retry", str(row.id))
    assert retried.code == 0 and "1 refused recipient queued again" in retried.out
    assert "sent 1" in cli("mail", "send").out
    assert cli("mail", "outbox", "--dead").out.count("no dead letters") == 1


def test_send_test_reaches_the_server_and_reports_a_refusal_in_one_line(db_url, smtp, cli):
    ok = cli("mail", "send-test", "--to", "ops@iom.example.org", "--lang", "ro")
    assert ok.code == 0 and "accepted" in ok.out
    (received,) = smtp.received
    assert received.parsed()["Subject"].startswith("Homeward, email de test")
    smtp.rcpt_replies = {"gone@iom.example.org": "550 5.1.1 no such user"}
    refused = cli("mail", "send-test", "--to", "gone@iom.example.org")
    assert refused.code == 10 and "550 5.1.1 no such user" in refused.err
    assert refused.err.count("\n") == 1


def test_outbox_lists_what_is_waiting(db_url, cli, clock):
    f.seed()
    with write_session() as s:
        s.add(
            OutboxMessage(
                key="x",
                template="test",
                language="en",
                to_addrs=["a@b.org"],
                context={"day": "2026-01-05", "link": None},
                message_id="<x@h.org>",
                next_attempt_at=clock.now(),
                created_at=clock.now(),
            )
        )
    listing = cli("mail", "outbox")
    assert listing.code == 0 and "a@b.org" in listing.out and "queued" in listing.out

"""Each recipient's delivery on its own, through a real SMTP server that refuses chosen
recipients at RCPT: a 5xx refusal dead-letters that recipient only, is listed by ``homeward
mail outbox`` and ``mail show`` with the server's code and text, and is retried or redirected
(signed in, audited) without mailing the recipients already reached; a 4xx refusal is tried
again later, with backoff, for that recipient alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from icalendar import Calendar
from sqlmodel import col, select

from homeward.base.db import read_session, system_scope, write_session
from homeward.base.errors import Conflict, NotFound, Refused
from homeward.base.models import (
    AuditEntry,
    Organisation,
    OutboxRecipient,
    OutboxStatus,
    RecipientStatus,
    StaffMember,
)
from homeward.edges.cli.common import state
from homeward.protection import administrators
from homeward.records.directory import MailboxIn, StaffIn, validate
from notifications import redelivery
from notifications.dropping import drop_case_mail
from notifications.outbox import enqueue, recipients_of
from notifications.redelivery import retry
from notifications.samples import sample_context
from tests import factories as f
from tests.cli.runner import run_cli
from tests.notifications.conftest import run_drain
from tests.notifications.helpers import outbox

COORD, CW, SUP = "coord@iom-it.example.org", "cw@iom-it.example.org", "sup@iom-it.example.org"
GONE = "550 5.1.1 <cw@iom-it.example.org>: mailbox unavailable"


@pytest.fixture
def cli(db_url, capsys, monkeypatch, clock):
    f.seed()
    monkeypatch.setattr(state, "clock", clock)

    def run(*args: str):
        return run_cli(capsys, monkeypatch, *args)

    return run


def escalation(clock, *to: str, key: str = "esc:1") -> int:
    """Queue one escalation (sample content, case_ref only) to ``to``; its outbox number."""
    with write_session() as s:
        row = enqueue(
            s,
            key=key,
            template="escalation",
            to=list(to),
            language="en",
            context=sample_context("escalation", "en", clock.now().date()),
            now=clock.now(),
        )
        assert row is not None and row.id is not None
        return row.id


def states(message_id: int) -> dict[str, tuple[str, int | None]]:
    with read_session() as s:
        return {r.address: (r.status, r.code) for r in recipients_of(s, message_id)}


def audited(action: str) -> list[AuditEntry]:
    with f.admin_read() as s:
        query = select(AuditEntry).where(col(AuditEntry.action).startswith(action))
        return list(s.exec(query))


def test_a_refusal_of_one_recipient_is_dead_alone_and_shown_with_code_and_text(cli, smtp, clock):
    smtp.rcpt_replies = {CW: GONE}
    number = escalation(clock, COORD, CW)
    sent = cli("mail", "send")
    assert "sent 1, retried later 0, dead 0, recipients refused 1" in sent.out
    assert "warning: 1 recipient refused for good" in sent.err
    assert [r.rcpt_tos for r in smtp.received] == [(COORD,)]
    assert states(number) == {COORD: ("delivered", 250), CW: ("dead", 550)}
    (row,) = outbox()
    assert row.status == OutboxStatus.SENT and row.last_error == GONE
    listed = cli("mail", "outbox")
    assert listed.code == 0 and "the outbox is empty" in listed.out
    assert "refused recipients" in listed.out and CW in listed.out and GONE in listed.out
    assert "1 recipient refused for good" in listed.out
    dead = cli("mail", "outbox", "--dead")
    assert CW in dead.out and "550 5.1.1" in dead.out and "queued emails" not in dead.out
    shown = cli("mail", "show", str(number))
    assert shown.code == 0 and f"#{number} escalation (en): sent" in shown.out
    assert "delivered" in shown.out and "250" in shown.out and GONE in shown.out


def test_redirecting_sends_the_same_message_to_a_colleague_and_nobody_else(cli, smtp, clock):
    smtp.rcpt_replies = {CW: GONE}
    number = escalation(clock, COORD, CW)
    cli("mail", "send")
    clock.advance(minutes=5)
    moved = cli("--as", COORD, "mail", "redirect", str(number), "--recipient", CW, "--to", SUP)
    assert moved.code == 0, moved.err
    assert f"message #{number}: redirected from {CW} to {SUP}" in moved.out
    assert "sent 1" in cli("mail", "send").out
    first, second = smtp.received
    assert second.rcpt_tos == (SUP,) and SUP in str(second.parsed()["To"])
    assert first.parsed()["Message-ID"] == second.parsed()["Message-ID"]
    assert states(number) == {
        COORD: ("delivered", 250),
        CW: ("redirected", 550),
        SUP: ("delivered", 250),
    }
    with read_session() as s:
        old = s.exec(select(OutboxRecipient).where(OutboxRecipient.address == CW)).one()
        assert old.redirected_to == SUP
    (entry,) = audited("mail_redirect:")
    assert entry.action == f"mail_redirect:{number}" and entry.actor_id is not None
    assert len(audited("cmd:mail redirect")) == 1
    assert "no dead letters" in cli("mail", "outbox", "--dead").out


def test_retrying_reaches_the_refused_recipient_only(cli, smtp, clock):
    smtp.rcpt_replies = {CW: GONE}
    number = escalation(clock, COORD, CW)
    cli("mail", "send")
    smtp.rcpt_replies = {}  # the mailbox is back
    again = cli("--as", "sup@iom-it.example.org", "mail", "retry", str(number))
    assert again.code == 0 and f"message #{number}: 1 refused recipient queued again ({CW})" in (
        again.out
    )
    assert states(number)[CW] == ("pending", None)
    assert "sent 1" in cli("mail", "send").out
    assert [r.rcpt_tos for r in smtp.received] == [(COORD,), (CW,)]
    assert states(number) == {COORD: ("delivered", 250), CW: ("delivered", 250)}
    assert [e.action for e in audited("mail_retry:")] == [f"mail_retry:{number}"]


def test_a_4xx_refusal_tries_that_recipient_again_later_with_backoff(db_url, smtp, clock):
    f.seed()
    smtp.rcpt_replies = {CW: "450 4.2.1 mailbox busy"}
    number = escalation(clock, COORD, CW)
    assert run_drain(clock).retried == 1
    assert states(number) == {COORD: ("delivered", 250), CW: ("deferred", 450)}
    with read_session() as s:
        waiting = next(r for r in recipients_of(s, number) if r.address == CW)
    first_wait = waiting.next_attempt_at - clock.now()
    assert first_wait == timedelta(seconds=60) and outbox()[0].status == OutboxStatus.QUEUED
    assert run_drain(clock).retried == 0  # not due yet: no hot loop
    clock.current = waiting.next_attempt_at
    assert run_drain(clock).retried == 1  # still busy: the wait doubles
    with read_session() as s:
        waiting = next(r for r in recipients_of(s, number) if r.address == CW)
    assert waiting.next_attempt_at - clock.now() == 2 * first_wait and waiting.attempts == 2
    smtp.rcpt_replies = {}
    clock.current = waiting.next_attempt_at
    assert run_drain(clock).sent == 1
    assert [r.rcpt_tos for r in smtp.received] == [(COORD,), (CW,)]
    assert states(number) == {COORD: ("delivered", 250), CW: ("delivered", 250)}


def test_a_message_refused_for_everyone_is_a_dead_letter_listed_per_recipient(cli, smtp, clock):
    smtp.rcpt_replies = {CW: GONE, SUP: "550 5.7.1 relaying denied"}
    number = escalation(clock, CW, SUP)
    assert "dead 1, recipients refused 2" in cli("mail", "send").out
    assert smtp.received == [] and outbox()[0].status == OutboxStatus.DEAD
    dead = cli("mail", "outbox", "--dead")
    assert "550 5.7.1 relaying denied" in dead.out and GONE in dead.out
    smtp.rcpt_replies = {}
    everyone = cli("--as", f.PLATFORM_ADMIN, "mail", "retry")
    assert everyone.code == 0 and "2 refused recipients queued again" in everyone.out
    assert "sent 1" in cli("mail", "send").out and states(number)[SUP] == ("delivered", 250)


@pytest.mark.parametrize(
    ("who", "argv", "code", "words"),
    [
        (COORD, ["retry", "999"], 3, "message: there is no outbox message #999"),
        (COORD, ["show", "999"], 3, "message: there is no outbox message #999"),
        (COORD, ["redirect", "999", "--recipient", CW, "--to", SUP], 3, "#999"),
        (COORD, ["retry", "{n}", "--recipient", COORD], 3, "was not refused for " + COORD),
        (
            COORD,
            ["redirect", "{n}", "--recipient", CW, "--to", "someone@gmail.example.com"],
            2,
            "to: someone@gmail.example.com is neither an active staff member's address",
        ),
        (
            COORD,
            ["redirect", "{n}", "--recipient", CW, "--to", "coord@iom-ro.example.org"],
            2,
            "not an address of IOM Italy (iom-it)",
        ),
        (
            COORD,
            ["redirect", "{n}", "--recipient", CW, "--to", COORD],
            2,
            "already a recipient of message",
        ),
        (
            COORD,
            ["redirect", "{n}", "--recipient", CW, "--to", "not an address"],
            2,
            "to: give one plain address",
        ),
        (COORD, ["retry", "--recipient", CW], 2, "--recipient: give the message's number"),
        (
            "cw@adpare.example.org",
            ["retry", "{n}"],
            4,
            "ask a coordinator, supervisor or admin of IOM Italy (iom-it)",
        ),
        (
            "mgr@iom-it.example.org",
            ["redirect", "{n}", "--recipient", CW, "--to", SUP],
            4,
            "cannot act on mail refused to " + CW,
        ),
        (None, ["retry", "{n}"], 12, "not signed in"),
    ],
)
def test_bad_requests_are_one_line_and_change_nothing(cli, smtp, clock, who, argv, code, words):
    smtp.rcpt_replies = {CW: GONE}
    number = escalation(clock, COORD, CW)
    cli("mail", "send")
    before, received = f.db_snapshot(), len(smtp.received)
    args = [a.replace("{n}", str(number)) for a in argv]
    result = cli(*(["--as", who] if who else []), "mail", *args)
    assert result.code == code and words in result.err, result.err
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    assert f.db_snapshot() == before and len(smtp.received) == received


def test_redirect_is_refused_to_a_deactivated_colleague(cli, smtp, clock):
    smtp.rcpt_replies = {CW: GONE}
    number = escalation(clock, COORD, CW)
    cli("mail", "send")
    assert cli("--as", f.PLATFORM_ADMIN, "staff", "deactivate", SUP).code == 0
    before = f.db_snapshot()
    moved = cli("--as", COORD, "mail", "redirect", str(number), "--recipient", CW, "--to", SUP)
    assert moved.code == 2 and "neither an active staff member's address" in moved.err
    assert f.db_snapshot() == before


def test_withdrawn_sharing_drops_a_refused_recipient_so_no_retry_resends_it(db_url, smtp, clock):
    f.seed()
    smtp.rcpt_replies = {"cw@adpare.example.org": "550 5.1.1 gone"}
    number = escalation(clock, COORD, "cw@adpare.example.org")
    run_drain(clock)
    case_ref = outbox()[0].context["cases"][0]["case_ref"]  # the escalation digest's one case
    with write_session() as s:
        org_id = _org_id(s, "adpare")
        reason = f"dropped: sharing consent for adpare withdrawn on case {case_ref}"
        assert drop_case_mail(s, case_ref=case_ref, org_id=org_id, reason=reason, now=clock.now())
    assert states(number)["cw@adpare.example.org"] == ("dropped", None)
    with pytest.raises(NotFound, match="was not refused"), write_session() as s:
        retry(s, actor=f.actor(s, f.PLATFORM_ADMIN), message_id=number, now=clock.now())


def _org_id(session, slug: str) -> int:
    org = session.exec(select(Organisation).where(Organisation.slug == slug)).one()
    assert org.id is not None
    return org.id


def test_no_partner_takes_another_organisations_mail_through_a_borrowed_address(db_url, clock):
    """Security review: ADPARE's admin added a 'colleague' with IOM Italy's mailbox address,
    then redirected IOM Italy's refused escalations to itself. The directory now refuses the
    borrowed address; and an address two organisations claim (older data) is nobody's to fix
    but a platform administrator's."""
    box = "office@iom-it.example.org"
    f.seed()
    with write_session() as s, system_scope(s):  # the directory is the system's (0031)
        iom_it = s.exec(select(Organisation).where(Organisation.slug == "iom-it")).one()
        iom_it.email = box
        s.add(iom_it)
    borrowed = validate(StaffIn, org="adpare", name="Xy", email=box, role="caseworker")
    with pytest.raises(Conflict, match="is the mailbox of iom-it"), write_session() as s:
        administrators.add_member(s, actor=f.actor(s, f.ADPARE_ADMIN), staff_in=borrowed)
    with pytest.raises(Conflict, match="belongs to another organisation"), write_session() as s:
        administrators.set_mailbox(
            s,
            actor=f.actor(s, f.ADPARE_ADMIN),
            slug="adpare",
            mailbox=validate(MailboxIn, email="coord@iom-it.example.org"),
            now=clock.now(),
        )
    with write_session() as s, system_scope(s):  # the clash as older data may hold it
        s.add(StaffMember(org_id=_org_id(s, "adpare"), name="X", email=box, role="caseworker"))
        row = enqueue(
            s,
            key="esc:borrowed",
            template="escalation",
            to=[box],
            language="en",
            context=sample_context("escalation", "en", clock.now().date()),
            now=clock.now(),
        )
        for recipient in recipients_of(s, row.id or 0):
            recipient.status, recipient.code = RecipientStatus.DEAD, 550
            s.add(recipient)
        number = row.id or 0
    with pytest.raises(Refused, match="ask a platform_admin"), write_session() as s:
        redelivery.redirect(
            s,
            actor=f.actor(s, f.ADPARE_ADMIN),
            message_id=number,
            address=box,
            to=f.ADPARE_ADMIN,
            now=clock.now(),
        )


def test_retrying_a_message_acts_on_ones_own_recipients_and_never_names_anothers(cli, smtp, clock):
    """Security review: `mail retry N` by a partner used to be refused with the address of
    another organisation's refused recipient in the message. Now it queues again only the
    recipients the actor may act on, and a refusal names organisations, never addresses."""
    theirs = "cw@adpare.example.org"
    smtp.rcpt_replies = {CW: GONE, theirs: "550 5.1.1 gone"}
    number = escalation(clock, COORD, CW, theirs)
    cli("mail", "send")
    partner = f.ADPARE_ADMIN
    done = cli("--as", partner, "mail", "retry", str(number))
    assert done.code == 0 and "1 refused recipient queued again" in done.out, done.err
    assert theirs in done.out and CW not in done.out + done.err
    assert states(number)[CW] == ("dead", 550) and states(number)[theirs] == ("pending", None)
    before = f.db_snapshot()
    again = cli("--as", partner, "mail", "retry", str(number))
    assert again.code == 4 and "ask a coordinator, supervisor or admin of IOM Italy" in again.err
    assert CW not in again.err and f.db_snapshot() == before


def test_a_redirected_invitation_names_its_new_reader_as_the_attendee(cli, smtp, clock):
    """A visit invitation names its reader as the only ATTENDEE: redirected to a colleague, it
    names the colleague, or their calendar shows somebody else's invitation."""
    smtp.rcpt_replies = {CW: GONE}
    context = sample_context("visit", "en", clock.now().date()).model_copy(update={"attendee": CW})
    with write_session() as s:
        row = enqueue(
            s,
            key="visit:1",
            template="visit",
            to=[CW],
            language="en",
            context=context,
            now=clock.now(),
        )
        assert row is not None and row.id is not None
        number = row.id
    cli("mail", "send")
    moved = cli("--as", COORD, "mail", "redirect", str(number), "--recipient", CW, "--to", SUP)
    assert moved.code == 0, moved.err
    assert "sent 1" in cli("mail", "send").out
    (received,) = smtp.received
    (part,) = [p for p in received.parsed().walk() if p.get_content_type() == "text/calendar"]
    event = Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")[0]
    assert str(event["attendee"]).lower() == f"mailto:{SUP}" and received.rcpt_tos == (SUP,)

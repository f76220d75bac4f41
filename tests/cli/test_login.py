"""``homeward login``, ``whoami``, ``sessions`` and ``logout`` through the real entry point, with
the sign-in code arriving at a real SMTP server and typed back from the email it came in."""

from __future__ import annotations

import io
import json
import os
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from homeward.base.clock import SimulatedClock
from homeward.base.db import read_session, system_scope, write_session
from homeward.base.models import AuditEntry, OutboxMessage, StaffMember, StaffSession
from homeward.base.settings import get_settings
from homeward.edges.cli.common import state
from homeward.records.auditlog import verify
from notifications.sink import LocalSmtpServer, Received, RecordingHandler
from tests import factories as f
from tests.cli.runner import Result, run_cli
from tests.notifications.conftest import point_mail_at
from tests.signin import token_for

ANA, SUP, CW = f.COORD, f.SUPERVISOR, "cw@iom-it.example.org"
STRANGER = "nobody@elsewhere.example.org"
CODE = re.compile(r"sign-in code is (\d{4} \d{4})")


@pytest.fixture
def mailbox(db_url, monkeypatch) -> Iterator[RecordingHandler]:
    """A real SMTP server the settings point at; staff seeded; the CLI on a simulated clock."""
    handler = RecordingHandler()
    with LocalSmtpServer(handler) as server:
        point_mail_at(monkeypatch, server.port, HOMEWARD_LOGIN_ANSWER_SECONDS="0")
        monkeypatch.setattr(state, "clock", SimulatedClock())
        f.seed()
        yield handler


@pytest.fixture
def cli(capsys, monkeypatch, mailbox):
    def run(*args: str, stdin: str | io.TextIOBase = "") -> Result:
        return run_cli(capsys, monkeypatch, *args, stdin=stdin)

    return run


def code_in(message: Received) -> str:
    """The code as a person reads it in the email (stdlib parser, the text part)."""
    body = message.parsed().get_body(("plain",))
    assert body is not None
    found = CODE.search(body.get_content())
    assert found, "no code in the sign-in email"
    return found.group(1)


class Typist(io.TextIOBase):
    """Standard input of a person who types the code of the newest sign-in email they got
    (``wrong``: a code of their own making instead)."""

    def __init__(self, mailbox: RecordingHandler, wrong: str | None = None) -> None:
        self.mailbox, self.wrong, self.seen = mailbox, wrong, len(mailbox.received)
        self.typed: str | None = None

    def readline(self, _size: int | None = -1) -> str:
        # A guard against a lost email, not a speed check: the sender may be another thread
        # woken by the database (tests/protect/test_sign_in_the_app_cannot_forge.py), and 10 s
        # was near what a loaded CI can take. Without an email it says so (not an IndexError,
        # nor an older email's code).
        deadline = time.monotonic() + 120
        while len(self.mailbox.received) <= self.seen and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.mailbox.received) > self.seen, "no sign-in email arrived"
        self.typed = code_in(self.mailbox.received[-1])
        return f"{self.wrong or self.typed}\n"

    def readable(self) -> bool:
        return True


def one_line(result: Result) -> str:
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and result.out == "", result
    return lines[0]


def session_file() -> Path:
    return Path(get_settings().session_file)


def stored_token() -> str:
    return next(iter(json.loads(session_file().read_text()).values()))


def audit_actions() -> list[str]:
    with read_session() as s:
        return [e.action for e in s.exec(select(AuditEntry).order_by(col(AuditEntry.id)))]


def login(cli, mailbox, email: str = ANA) -> str:
    """Sign in through the whole ceremony; returns the code that was typed."""
    typist = Typist(mailbox)
    result = cli("login", email, stdin=typist)
    assert result.code == 0, result
    assert typist.typed is not None
    return typist.typed


def test_the_whole_ceremony_through_a_real_mail_server(cli, mailbox):
    typist = Typist(mailbox)
    signed = cli("login", ANA, stdin=typist)
    assert signed.code == 0, signed
    (mail,) = mailbox.received
    assert mail.rcpt_tos == (ANA,) and typist.typed is not None
    assert typist.typed not in str(mail.parsed()["Subject"])  # never in the subject line
    assert "a sign-in code was sent" in signed.out and f"signed in as {ANA}" in signed.out
    mode = stat.S_IMODE(session_file().stat().st_mode)
    assert mode == 0o600 and not list(session_file().parent.glob(".session.*"))  # no leftovers
    token = stored_token()

    me = cli("whoami")
    assert me.code == 0 and ANA in me.out and "coordinator at iom-it" in me.out
    listed = cli("sessions", "list")
    assert listed.code == 0 and "this one" in listed.out
    out = cli("logout")
    assert out.code == 0 and "signed out" in out.out
    after = cli("items", "list", "--mine")
    assert after.code == 12 and one_line(after).startswith("error: session: not signed in")
    assert cli("whoami").code == 12

    everything = signed.out + signed.err + me.out + listed.out + out.out + after.err
    assert token not in everything and typist.typed.replace(" ", "") not in everything
    with read_session() as s:  # the code left the outbox once it was sent
        (row,) = s.exec(select(OutboxMessage)).all()
        assert row.status == "sent" and "code" not in row.context
        assert verify(s).ok
    actions = audit_actions()
    for action in ("login:code-sent", "login:signed-in", "cmd:sessions end", "login:signed-out"):
        assert action in actions


def test_logout_of_an_expired_session_drops_its_token_too(cli, mailbox):
    login(cli, mailbox)
    state.clock.advance(hours=get_settings().session_hours)  # type: ignore[attr-defined]
    expired = cli("whoami")
    assert expired.code == 12 and "expired" in one_line(expired)
    assert cli("logout").code == 12  # refused, but the dead token is gone from the file
    assert session_file().read_text() == "{}"


def test_five_wrong_codes_kill_the_code(cli, mailbox):
    first = Typist(mailbox, wrong="0000-0000")
    refused = cli("login", ANA, stdin=first)
    assert refused.code == 12 and "wrong, used or expired code" in refused.err
    code = first.typed
    assert code is not None and code != "0000 0000"
    for _ in range(4):
        assert cli("login", ANA, "--code", "00000000").code == 12
    late = cli("login", ANA, "--code", code)
    assert late.code == 12 and one_line(late).startswith("error: code: wrong, used or expired")
    assert not session_file().exists()


def test_an_expired_code_and_a_reused_code_are_refused(cli, mailbox):
    assert cli("login", ANA).code == 130  # asked for a code, did not type it
    code = code_in(mailbox.received[-1])
    state.clock.advance(minutes=get_settings().login_code_minutes)  # type: ignore[attr-defined]
    assert cli("login", ANA, "--code", code).code == 12
    used = login(cli, mailbox)
    again = cli("login", ANA, "--code", used)
    assert again.code == 12 and "wrong, used or expired" in one_line(again)


def test_a_code_is_refused_for_another_staff_members_address(cli, mailbox):
    assert cli("login", ANA).code == 130
    anas = code_in(mailbox.received[-1])
    assert cli("login", SUP).code == 130  # the colleague has a live code of their own
    stolen = cli("login", SUP, "--code", anas)
    assert stolen.code == 12 and one_line(stolen).startswith("error: code:")
    assert cli("login", ANA, "--code", anas).code == 0  # still Ana's, and only hers


def test_the_hourly_code_limit_is_one_line_and_the_same_for_any_address(cli, mailbox):
    answers = {}
    for email in (ANA, STRANGER):
        for _ in range(get_settings().login_codes_per_hour):
            assert cli("login", email).code == 130
        refused = cli("login", email)
        assert refused.code == 13
        answers[email] = one_line(refused)
    assert (
        answers[ANA]
        == answers[STRANGER]
        == (
            "error: email: 5 sign-in codes were asked for in the last hour; use the newest one, "
            "or try again later"
        )
    )
    assert len(mailbox.received) == 5  # all to Ana: none to the stranger


def test_an_unknown_address_is_answered_like_a_known_one(cli, mailbox):
    known = cli("login", ANA)
    with read_session() as s:
        before = s.exec(select(AuditEntry)).all()
    unknown = cli("login", STRANGER)
    assert (unknown.code, unknown.err) == (known.code, known.err)
    assert unknown.out.replace(STRANGER, ANA) == known.out
    assert len(mailbox.received) == 1
    with read_session() as s:
        new = s.exec(select(AuditEntry).where(col(AuditEntry.id) > len(before))).all()
        assert [e.action for e in new] == ["login:unknown"] and new[0].actor_id is None
        assert len(s.exec(select(OutboxMessage)).all()) == 1


def test_a_session_expires_with_the_cli_clock(cli, mailbox):
    login(cli, mailbox)
    state.clock.advance(hours=get_settings().session_hours, seconds=-1)  # type: ignore[attr-defined]
    assert cli("whoami").code == 0
    state.clock.advance(seconds=1)  # type: ignore[attr-defined]
    gone = cli("whoami")
    assert gone.code == 12 and one_line(gone) == (
        "error: session: this session expired; run `homeward login` to sign in"
    )


def own_sessions(email: str) -> list[StaffSession]:
    with read_session() as s:
        staff = s.exec(select(StaffMember).where(StaffMember.email == email)).one()
        return list(s.exec(select(StaffSession).where(StaffSession.staff_id == staff.id)))


def test_ending_another_of_ones_own_sessions_but_not_someone_elses(cli, mailbox):
    token_for(ANA, state.clock.now())  # Ana's other session, on a laptop she lost
    sups = token_for(SUP, state.clock.now())
    login(cli, mailbox)
    (lost,) = [s for s in own_sessions(ANA) if s.label == "test"]
    ended = cli("sessions", "end", lost.id)
    assert ended.code == 0 and f"session {lost.id} ended" in ended.out
    laptop = cli("--as", ANA, "whoami")  # the lost laptop's token
    assert laptop.code == 12 and "this session was ended" in one_line(laptop)
    assert cli("whoami").code == 0  # this one goes on

    (other,) = own_sessions(SUP)
    refused = cli("sessions", "end", other.id)
    assert refused.code == 2 and "is not one of your sessions" in one_line(refused)
    assert cli("--as", SUP, "whoami").code == 0 and sups


def test_a_deactivated_staff_members_session_stops_working(cli, mailbox):
    login(cli, mailbox, CW)
    with write_session() as s, system_scope(s):  # the directory (0031)
        staff = s.exec(select(StaffMember).where(StaffMember.email == CW)).one()
        staff.active = False
        s.add(staff)
    refused = cli("whoami")
    assert refused.code == 12 and one_line(refused) == (
        "error: session: this staff member is no longer active"
    )
    assert cli("login", CW).code == 130 and len(mailbox.received) == 1  # no new code


def test_a_token_file_others_can_read_is_refused(cli, mailbox):
    login(cli, mailbox)
    os.chmod(session_file(), 0o644)
    refused = cli("whoami")
    assert refused.code == 4 and "can be read by others (mode 644)" in one_line(refused)
    again = cli("login", ANA)  # refused before a code is asked for, let alone used up
    assert again.code == 4 and len(mailbox.received) == 1
    os.chmod(session_file(), 0o600)
    assert cli("whoami").code == 0


def test_the_answer_waits_as_long_for_any_address(cli, mailbox, monkeypatch):
    monkeypatch.setenv("HOMEWARD_LOGIN_ANSWER_SECONDS", "0.3")
    get_settings.cache_clear()
    for email in (STRANGER, ANA):
        started = time.monotonic()
        assert cli("login", email).code == 130
        assert time.monotonic() - started >= 0.3


def test_signing_in_again_here_ends_the_session_it_replaces(cli, mailbox):
    login(cli, mailbox)
    (first,) = own_sessions(ANA)
    login(cli, mailbox, SUP)  # someone else signs in at this machine
    login(cli, mailbox)
    ended = {s.id: s.revoked_at is not None for s in own_sessions(ANA)}
    assert ended.pop(first.id) is True and list(ended.values()) == [False]
    assert [s.revoked_at is not None for s in own_sessions(SUP)] == [True]
    listed = cli("sessions", "list")
    assert listed.out.count("ended") == 1 and listed.out.count("this one") == 1

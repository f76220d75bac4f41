"""Who is acting, proven (``homeward.protection.identity``), tried as an attacker would: any
token Homeward did not issue, codes guessed, reused, sent to another address or asked for too
often, sessions ended or expired, people deactivated, two runs racing for one assertion, and
what a copied database still holds of a sign-in code. Real database, real SMTP server."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, func, select

from homeward.base.clock import SimulatedClock
from homeward.base.db import get_engine, read_session, system_scope, write_session
from homeward.base.errors import InvalidInput, NotSignedIn, TooMany
from homeward.base.models import (
    AuditEntry,
    LoginChallenge,
    LoginRequest,
    OutboxMessage,
    OutboxStatus,
    RunGrant,
    StaffMember,
    StaffSession,
)
from homeward.base.settings import get_settings
from homeward.commands import signin
from homeward.protection import identity
from homeward.protection.identity import RunAssertion, SessionToken
from homeward.records.auditlog import verify
from notifications.sender import drain
from notifications.sink import LocalSmtpServer, RecordingHandler
from tests import factories as f
from tests.notifications.conftest import point_mail_at
from tests.signin import assertion_for, token_for

FLOW = "advance-case"
RUN = "0b6c1c8e-6f5e-4c1e-9a59-2f1d8a7c0a11"
COORD, SUP, CW = f.COORD, f.SUPERVISOR, "cw@iom-it.example.org"
STRANGER = "nobody@elsewhere.example.org"


@pytest.fixture
def seeded(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEWARD_LOGIN_ANSWER_SECONDS", "0")  # no waiting (but see below)
    get_settings.cache_clear()
    f.seed()


def ask(email: str, clock: SimulatedClock) -> str:
    """A code for ``email`` as the sign-in email would carry it ("" when none is sent)."""
    with write_session() as session:
        return identity.open_challenge(session, email=email, now=clock.now()).code


def redeem(email: str, code: str, clock: SimulatedClock) -> identity.Opened | None:
    with write_session() as session:
        return identity.redeem(session, email=email, code=code, now=clock.now())


def prove(credential: identity.Credential, clock: SimulatedClock) -> identity.Principal:
    with write_session() as session:
        return identity.prove(session, credential, clock.now())


def audit_actions() -> list[str]:
    with read_session() as session:
        rows = session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))
        return [f"{r.action}:{r.fields}" if r.fields else r.action for r in rows]


def audit_verifies() -> bool:
    with read_session() as session:
        return verify(session).ok


def set_active(email: str, active: bool) -> None:
    with write_session() as session, system_scope(session):  # the directory (0031)
        staff = session.exec(select(StaffMember).where(StaffMember.email == email)).one()
        staff.active = active
        session.add(staff)


# ------------------------------------------------------------------------------- the code


@given(st.text(alphabet="0123456789", min_size=8, max_size=8), st.data())
def test_a_code_as_typed_with_spaces_or_dashes_is_its_eight_digits(digits, data):
    gaps = st.text(alphabet=" -\t", max_size=3)
    typed = "".join(data.draw(gaps) + d for d in digits) + data.draw(gaps)
    assert identity.normalise_code(typed) == digits


@given(st.text(st.characters(exclude_categories=())))
def test_normalise_code_accepts_exactly_eight_ascii_digits_and_nothing_else(typed):
    kept = re.sub(r"[\s-]", "", typed)
    if re.fullmatch(r"[0-9]{8}", kept):
        assert identity.normalise_code(typed) == kept
    else:  # "1234567", "123456789", "1234 567x", "١٢٣٤٥٦٧٨" (Arabic-Indic digits)...
        with pytest.raises(InvalidInput):
            identity.normalise_code(typed)


def test_a_code_works_once_and_only_for_the_address_it_was_sent_to(seeded, clock):
    code, other = ask(COORD, clock), ask(SUP, clock)
    assert redeem(SUP, code, clock) is None  # ana's code, typed with a colleague's address
    assert redeem(STRANGER, code, clock) is None
    opened = redeem(COORD, code, clock)
    assert opened is not None and prove(SessionToken(opened.token), clock).staff_id == (
        opened.staff_id
    )
    assert redeem(COORD, code, clock) is None  # used
    assert redeem(SUP, other, clock) is not None  # the colleague's own code was not harmed
    assert "login:refused:wrong-code" in audit_actions() and audit_verifies()


def test_five_wrong_tries_kill_the_code(seeded, clock):
    code = ask(COORD, clock)
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    for _ in range(identity.MAX_TRIES):
        assert redeem(COORD, wrong, clock) is None
    assert redeem(COORD, code, clock) is None  # the right code, too late
    with read_session() as session:
        assert session.exec(select(LoginChallenge)).one().attempts == identity.MAX_TRIES
    assert audit_actions()[-6:] == ["login:refused:wrong-code"] * 5 + ["login:refused:expired"]


def test_an_expired_code_is_refused_and_a_newer_code_replaces_an_older_one(seeded, clock):
    old = ask(COORD, clock)
    clock.advance(minutes=get_settings().login_code_minutes)
    assert redeem(COORD, old, clock) is None
    older, newer = ask(COORD, clock), ask(COORD, clock)
    assert redeem(COORD, older, clock) is None  # only the newest code counts
    assert redeem(COORD, newer, clock) is not None


def test_the_hourly_limit_answers_alike_for_staff_and_for_any_other_address(seeded, clock):
    limit = get_settings().login_codes_per_hour
    answers = {}
    for email in (COORD, STRANGER):
        for _ in range(limit):
            signin.request_code(email, clock=clock)
        with pytest.raises(TooMany) as refused:
            signin.request_code(email, clock=clock)
        answers[email] = str(refused.value)
    assert answers[COORD] == answers[STRANGER] and answers[COORD].startswith("email: ")
    assert audit_actions().count("login:throttled") == 2  # kept, though the request failed
    clock.advance(hours=1, seconds=1)
    assert signin.request_code(COORD, clock=clock).mail_key is not None
    assert signin.request_code(STRANGER, clock=clock).mail_key is None
    with read_session() as session:  # the old counts are gone, and no address is stored
        tags = session.exec(select(LoginRequest.address_tag)).all()
    assert len(tags) == 2 and all(re.fullmatch(r"[0-9a-f]{64}", tag) for tag in tags)


def test_an_unknown_address_leaves_only_an_audit_line_and_a_keyed_count(seeded, clock):
    counts = table_counts()
    requested = signin.request_code(STRANGER.upper(), clock=clock)
    assert requested.mail_key is None
    after = table_counts()
    # (the database also records its keyring with its first write: keyring_binding)
    changed = {t for t in after if after[t] != counts[t]} - {"keyring_binding"}
    assert changed == {"audit_entry", "login_request"}  # (and the audit chain's head row)
    assert after["audit_entry"] == counts["audit_entry"] + 1
    assert audit_actions()[-1] == "login:unknown"
    assert STRANGER not in everything_stored().lower()


def table_counts() -> dict[str, int]:
    from homeward.base import models

    with get_engine().connect() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in models.metadata().sorted_tables
        }


def everything_stored() -> str:
    from homeward.base import models

    with get_engine().connect() as conn:
        rows = (
            repr(row)
            for table in models.metadata().sorted_tables
            for row in conn.execute(table.select())
        )
        return "\n".join(rows)


# ------------------------------------------------------------------------------- tokens


@pytest.fixture
def issued(seeded, clock) -> tuple[str, str]:
    """A real session token and a real, unused run assertion for ``FLOW``, both of COORD."""
    return token_for(COORD, clock.now()), assertion_for(COORD, FLOW, clock.now())


ANY_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=300),  # surrogates too, now and then
    # what the environment (HOMEWARD_SESSION) holds when its bytes are not UTF-8
    st.binary(min_size=1, max_size=100).map(lambda raw: raw.decode("utf-8", "surrogateescape")),
)


def mutations(real: str) -> st.SearchStrategy[str]:
    """Strings made from a real token: cut short, made longer, one bit flipped."""
    cut = st.integers(0, len(real) - 1).map(lambda n: real[:n])
    longer = ANY_TEXT.filter(bool).map(lambda extra: real + extra)
    flipped = st.tuples(st.integers(0, len(real) - 1), st.integers(0, 7)).map(
        lambda spot: flip(real, *spot)
    )
    return st.one_of(cut, longer, flipped)


def flip(real: str, index: int, bit: int) -> str:
    data = bytearray(real.encode("ascii"))
    data[index] ^= 1 << bit
    return data.decode("latin-1")


def forgeries(token: str, assertion: str) -> st.SearchStrategy[identity.Credential]:
    run_ids = st.one_of(st.just(RUN), ANY_TEXT.map(lambda t: t[:40]))
    other_flows = ANY_TEXT.filter(lambda name: name != FLOW)
    return st.one_of(
        st.builds(SessionToken, ANY_TEXT),
        st.builds(SessionToken, mutations(token)),
        st.just(SessionToken(assertion)),  # an assertion is not a session
        st.builds(RunAssertion, ANY_TEXT, st.just(FLOW), run_ids),
        st.builds(RunAssertion, mutations(assertion), st.just(FLOW), run_ids),
        st.builds(RunAssertion, st.just(token), st.just(FLOW), run_ids),  # nor the reverse
        st.builds(RunAssertion, st.just(assertion), other_flows, run_ids),  # another flow's
    )


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_anything_but_an_issued_token_is_refused_as_not_signed_in(issued, clock, data):
    token, assertion = issued
    credential = data.draw(forgeries(token, assertion))
    if credential in (SessionToken(token), RunAssertion(assertion, FLOW, RUN)):
        return  # drawn by chance: the real thing (a flip that hit nothing cannot happen)
    with pytest.raises(NotSignedIn):
        prove(credential, clock)


def test_the_issued_tokens_themselves_are_accepted(issued, clock):
    token, assertion = issued
    assert prove(SessionToken(token), clock).proof.startswith("session ")
    assert prove(RunAssertion(assertion, FLOW, RUN), clock).proof.startswith(f"run {RUN} ")


@pytest.mark.parametrize("flow", ["", "Advance Case", "advance-case\n", "x" * 65])
def test_an_assertion_is_issued_only_for_a_flow_name(seeded, clock, flow):
    with pytest.raises(InvalidInput, match="^flow: "):
        assertion_for(COORD, flow, clock.now())


def test_a_re_encoded_assertion_signature_is_refused(issued, clock):
    """base64 decoding skips a stray character: the same signature spelt otherwise is refused."""
    _, assertion = issued
    payload, _, signature = assertion.rpartition(".")
    for spelt in (f"{payload}.{signature[:5]}!{signature[5:]}", f"{payload}.{signature}="):
        with pytest.raises(NotSignedIn):
            prove(RunAssertion(spelt, FLOW, RUN), clock)


# ------------------------------------------------------------------------------- sessions


def test_an_ended_or_expired_session_and_its_assertions_are_refused(seeded, clock):
    token = token_for(COORD, clock.now())
    bound, unbound = (
        assertion_for(COORD, FLOW, clock.now()),
        assertion_for(COORD, FLOW, clock.now()),
    )
    prove(RunAssertion(bound, FLOW, RUN), clock)  # a run took it
    principal = prove(SessionToken(token), clock)
    with write_session() as session:
        identity.revoke(
            session,
            staff_id=principal.staff_id or 0,
            session_id=principal.session_id or "",
            now=clock.now(),
        )
    for credential in (
        SessionToken(token),
        RunAssertion(bound, FLOW, RUN),
        RunAssertion(unbound, FLOW, "another-run"),
    ):
        with pytest.raises(NotSignedIn, match="ended"):
            prove(credential, clock)


def test_a_session_expires_and_an_unused_assertion_dies_with_it(seeded, clock):
    token = token_for(COORD, clock.now())
    with read_session() as session:
        expires = session.exec(select(StaffSession.expires_at)).one()
    clock.current = expires - timedelta(minutes=5)  # the session's last minutes
    unused, bound = assertion_for(COORD, FLOW, clock.now()), assertion_for(COORD, FLOW, clock.now())
    prove(RunAssertion(bound, FLOW, RUN), clock)
    clock.current = expires
    with pytest.raises(NotSignedIn, match="expired"):
        prove(SessionToken(token), clock)
    with pytest.raises(NotSignedIn, match="session expired before it was used"):
        prove(RunAssertion(unused, FLOW, "a-later-run"), clock)
    # The run that took its assertion in time goes on (a paused run resumes after approval).
    assert prove(RunAssertion(bound, FLOW, RUN), clock).staff_id is not None


def test_a_deactivated_staff_member_is_refused_everywhere(seeded, clock):
    token = token_for(CW, clock.now())
    assertion = assertion_for(CW, FLOW, clock.now())
    code = ask(CW, clock)
    set_active(CW, False)
    with pytest.raises(NotSignedIn, match="no longer active"):
        prove(SessionToken(token), clock)
    with pytest.raises(NotSignedIn, match="no longer active"):
        prove(RunAssertion(assertion, FLOW, RUN), clock)
    assert redeem(CW, code, clock) is None and ask(CW, clock) == ""
    set_active(CW, True)
    assert prove(SessionToken(token), clock).staff_id is not None


# ------------------------------------------------------------------------------- races


def in_thread(work) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def target() -> None:
        try:
            outcome.append(work())
        except Exception as exc:  # noqa: BLE001 - handed to the test to look at
            outcome.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def test_concurrent_wrong_tries_are_all_counted(seeded, clock):
    """Two tries at once: the second waits for the first, so both count (no lost update)."""
    code = ask(COORD, clock)
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    with write_session() as first:
        assert identity.redeem(first, email=COORD, code=wrong, now=clock.now()) is None
        thread, _ = in_thread(lambda: redeem(COORD, wrong, clock))
        time.sleep(0.5)  # the second try has read what it could before the first commits
    thread.join(120)  # a guard against a deadlock, not a speed check
    assert not thread.is_alive()
    with read_session() as session:
        assert session.exec(select(LoginChallenge)).one().attempts == 2


def test_two_runs_racing_for_one_assertion_cannot_both_have_it(seeded, clock):
    assertion = assertion_for(COORD, FLOW, clock.now())
    with write_session() as first:
        identity.prove(first, RunAssertion(assertion, FLOW, RUN), clock.now())
        thread, outcome = in_thread(lambda: prove(RunAssertion(assertion, FLOW, "run-2"), clock))
        time.sleep(0.5)
    thread.join(120)  # a guard against a deadlock, not a speed check
    assert not thread.is_alive()
    assert isinstance(outcome[0], NotSignedIn) and "another run" in str(outcome[0])
    with read_session() as session:
        assert session.exec(select(RunGrant.flow_run_id)).one() == RUN


# ------------------------------------------------------------------------------- the mail


@pytest.fixture
def mailbox(db_url, monkeypatch) -> Iterator[RecordingHandler]:
    handler = RecordingHandler()
    with LocalSmtpServer(handler) as server:
        point_mail_at(monkeypatch, server.port)
        yield handler


def outbox_rows() -> list[OutboxMessage]:
    with read_session() as session:
        return list(session.exec(select(OutboxMessage)))


def test_the_code_leaves_the_outbox_once_the_email_is_sent(seeded, mailbox, clock):
    requested = signin.request_code(COORD, clock=clock)
    (queued,) = outbox_rows()
    assert re.fullmatch(r"[0-9]{8}", queued.context["code"])  # needed until it is sent
    signin.deliver(requested, clock=clock)
    (sent,) = outbox_rows()
    assert sent.status == OutboxStatus.SENT and "code" not in sent.context
    body = mailbox.received[0].parsed().get_body(("plain",))
    assert body is not None and queued.context["code"][:4] in body.get_content()
    assert queued.context["code"] not in everything_stored()


def test_a_code_not_sent_in_its_lifetime_is_never_sent(seeded, mailbox, clock):
    signin.request_code(COORD, clock=clock)  # queued while the mail server was away
    clock.advance(minutes=get_settings().login_code_minutes)
    report = asyncio.run(drain(clock=clock))
    assert (report.sent, report.dead) == (0, 1) and mailbox.received == []
    (row,) = outbox_rows()
    assert "code" not in row.context and "expired" in (row.last_error or "")


def test_the_answer_takes_as_long_for_an_unknown_address(seeded, mailbox, clock, monkeypatch):
    monkeypatch.setenv("HOMEWARD_LOGIN_ANSWER_SECONDS", "0.4")
    get_settings.cache_clear()
    for email in (STRANGER, COORD):
        started = time.monotonic()
        signin.deliver(signin.request_code(email, clock=clock), clock=clock)
        assert time.monotonic() - started >= 0.4
    assert len(mailbox.received) == 1


def test_the_audit_chain_holds_through_every_sign_in_outcome(seeded, clock):
    code = ask(COORD, clock)
    redeem(COORD, "00000000" if code != "00000000" else "11111111", clock)
    opened = redeem(COORD, code, clock)
    assert opened is not None
    ask(STRANGER, clock)
    with write_session() as session:
        identity.revoke(
            session, staff_id=opened.staff_id, session_id=opened.session_id, now=clock.now()
        )
    actions = audit_actions()
    for expected in (
        "login:code-sent:cli",
        "login:refused:wrong-code",
        "login:signed-in:cli",
        "login:unknown",
        "login:signed-out",
    ):
        assert expected in actions
    assert audit_verifies()


@pytest.mark.parametrize(
    ("ahead", "accepted"), [(timedelta(seconds=90), True), (timedelta(minutes=10), False)]
)
def test_an_assertion_signed_on_a_machine_whose_clock_is_ahead(seeded, clock, ahead, accepted):
    """The web workspace signs an assertion; a worker on another machine, whose clock is a
    little behind, binds it. A minute or two apart (NTP keeps far closer) is taken; ten minutes
    apart is refused in one line saying the clocks disagree, not that it expired."""
    with time_machine.travel(datetime.now(UTC) + ahead, tick=True):  # the issuer's clock
        token = assertion_for(COORD, FLOW, clock.now())
    if accepted:
        assert prove(RunAssertion(token, FLOW, RUN), clock).staff_id is not None
    else:
        with pytest.raises(NotSignedIn, match=r"ahead of this machine's clock; set both"):
            prove(RunAssertion(token, FLOW, RUN), clock)

"""PostgreSQL row security on the mail (migration 0026): under the app's login an organisation
reads and changes only its own outbox messages, their recipients and the calendar entries of
the items it sees; the system login (the sender, the sweeps) reads them all. A consent
withdrawal still strips the case from the partner's queued digest (through a definer
function), and no app session reads an unsent sign-in code (0033: the system login sends it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text
from sqlmodel import Session

from homeward.base.db import act_for_token, get_engine, normalise_url
from homeward.base.migrate import alembic_config, head_revision, upgrade
from homeward.commands import signin as signing_in
from homeward.reporting.mailflow import count_outbox
from notifications.dropping import withdrawn_reason
from notifications.message import message_id_for
from notifications.sign_in_mail import send_queued
from notifications.sink import LocalSmtpServer, RecordingHandler
from tests import factories as f
from tests import signin
from tests.cli.runner import run_cli
from tests.conftest import APP_LOGIN, BACKEND, _reset_caches, login_url
from tests.notifications.conftest import ANY_HOUR, point_mail_at, run_drain
from tests.notifications.helpers import outbox, remind
from tests.notifications.test_sharing_withdrawn import (
    ADPARE,
    in_reintegration,
    received_by,
    text_of,
    withdraw_sharing,
)

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="row security is PostgreSQL's")

FMB = "cw@fmb.example.org"  # takes no part in the case (no sharing consent)
TABLES = ("outbox_message", "outbox_recipient", "calendar_entry")
MINE = "SELECT key FROM outbox_message WHERE template = 't25'"
# key: (organisation of its readers, whether its context names the case, its one recipient)
MAIL = {
    "t25:iom-it": ("iom-it", False, f.COORD),
    "t25:fmb": ("fmb", False, FMB),
    "t25:about-the-case": ("fmb", True, "sup@fmb.example.org"),
    "t25:operators": (None, False, "ops@x.org"),  # an alert: no organisation, no case
}


@pytest.fixture
def mail(db_url: str, engine: Engine, clock) -> Iterator[dict[str, int]]:
    """iom-it's case (FMB takes no part), the four messages of ``MAIL``, each with its one
    recipient refused for good, and a calendar entry on the case's first item; their ids."""
    f.seed()
    ref = f.open_case(clock, share=False)
    ids = {}
    with engine.begin() as conn:  # as the owner
        orgs = dict(conn.execute(text("SELECT slug, id FROM organisation")).all())
        for key, (slug, about, address) in MAIL.items():
            ids[key] = conn.execute(
                text(
                    "INSERT INTO outbox_message (key, template, language, to_addrs, context, "
                    "message_id, status, attempts, next_attempt_at, created_at, org_id) VALUES "
                    "(:k, 't25', 'en', :to, :c, '<m@x.org>', 'dead', 8, :at, :at, :o) RETURNING id"
                ),
                {
                    "k": key,
                    "to": json.dumps([address]),
                    "c": json.dumps({"case_ref": ref} if about else {}),
                    "at": clock.now(),
                    "o": orgs.get(slug or ""),
                },
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO outbox_recipient (message_id, address, status, code, reply, "
                    "attempts, next_attempt_at, updated_at) VALUES "
                    "(:m, :a, 'dead', 550, '550 no such user', 8, :at, :at)"
                ),
                {"m": ids[key], "a": address, "at": clock.now()},
            )
        item = conn.execute(text("SELECT min(id) FROM checklist_item")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO calendar_entry (item_id, address, language, tzid, uid, sequence, "
                "starts_at, cancelled, sent_at) VALUES "
                "(:i, :a, 'en', 'Europe/Rome', 'u@x', 0, :at, false, :at)"
            ),
            {"i": item, "a": f.COORD, "at": clock.now()},
        )
    yield ids


def _app(db_url: str) -> psycopg.Connection:
    url = login_url(db_url, APP_LOGIN).replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(url)


def _seen_by(db_url: str, email: str, clock) -> tuple[set[str], set[str], int]:
    """Under the app's login, acting as ``email``: the test's messages, their recipients'
    addresses and the calendar entries it reads."""
    token = signin.token_for(email, clock.now())
    with _app(db_url) as conn, conn.transaction(), conn.cursor() as cursor:
        cursor.execute("SELECT homeward_act(%s)", (token,))
        keys = {row[0] for row in cursor.execute(MINE.encode()).fetchall()}
        cursor.execute(b"SELECT address FROM outbox_recipient")
        addresses = {row[0] for row in cursor.fetchall()}
        entries = cursor.execute(b"SELECT count(*) FROM calendar_entry").fetchone()
        return keys, addresses & {r for _, _, r in MAIL.values()}, entries[0] if entries else 0


def test_each_organisation_reads_its_own_mail_and_the_system_login_all(mail, db_url, clock):
    it = _seen_by(db_url, f.COORD, clock)
    assert it == ({"t25:iom-it", "t25:about-the-case"}, {f.COORD, "sup@fmb.example.org"}, 1)
    fmb = _seen_by(db_url, FMB, clock)
    assert fmb == ({"t25:fmb", "t25:about-the-case"}, {FMB, "sup@fmb.example.org"}, 0)
    with _app(db_url) as conn:  # an app transaction that chose no organisation
        assert conn.execute(MINE.encode()).fetchall() == []
    with get_engine().connect() as conn:  # the system login, as the sender drains
        assert set(conn.execute(text(MINE)).scalars()) == set(MAIL)
        assert conn.execute(text("SELECT count(*) FROM calendar_entry")).scalar_one() == 1


def test_an_organisation_cannot_change_or_forge_anothers_mail(mail, db_url, clock):
    token = signin.token_for(FMB, clock.now())
    with _app(db_url) as conn, conn.transaction(), conn.cursor() as cursor:
        cursor.execute("SELECT homeward_act(%s)", (token,))
        it_org = cursor.execute(b"SELECT id FROM organisation WHERE slug = 'iom-it'").fetchone()
        theirs = mail["t25:iom-it"]
        for sql in (
            "UPDATE outbox_message SET to_addrs = '[\"x@evil.example\"]' WHERE id = %s",
            "UPDATE outbox_recipient SET address = 'x@evil.example' WHERE message_id = %s",
            "DELETE FROM calendar_entry WHERE id > %s",
        ):
            assert cursor.execute(sql, (theirs if "outbox" in sql else 0,)).rowcount == 0, sql
        with pytest.raises(psycopg.Error, match="row-level security"), conn.transaction():
            cursor.execute(
                "INSERT INTO outbox_message (key, template, language, to_addrs, context, "
                "message_id, status, attempts, next_attempt_at, created_at, org_id) VALUES "
                "('forged', 't25', 'en', '[]', '{}', '<f@x.org>', 'queued', 0, now(), now(), %s)",
                (it_org[0] if it_org else None,),
            )
        with pytest.raises(psycopg.Error, match="row-level security"), conn.transaction():
            cursor.execute(
                "INSERT INTO outbox_recipient (message_id, address, status, attempts, "
                "next_attempt_at, updated_at) VALUES (%s, 'x@evil.example', 'pending', 0, "
                "now(), now())",
                (mail["t25:iom-it"],),
            )


def test_mail_commands_work_under_the_app_login_on_its_own_mail(
    mail, db_url, clock, capsys, monkeypatch
):
    monkeypatch.setenv("HOMEWARD_DATABASE_URL", login_url(db_url, APP_LOGIN))
    _reset_caches()
    engine = create_engine(normalise_url(login_url(db_url, APP_LOGIN)))
    with Session(engine) as session:
        act_for_token(session, signin.token_for(f.COORD, clock.now()))
        day = clock.now().date()
        counts = count_outbox(session, first_day=day, last_day=day)
    engine.dispose()
    assert counts[day, "t25", "queued"] == 2 and counts[day, "t25", "refused"] == 2
    others = run_cli(capsys, monkeypatch, "--as", f.COORD, "mail", "retry", str(mail["t25:fmb"]))
    assert others.code != 0 and f"no outbox message #{mail['t25:fmb']}" in others.err
    retried = run_cli(capsys, monkeypatch, "--as", f.COORD, "mail", "retry")
    assert retried.code == 0, retried.err
    assert "1 refused recipient queued again" in retried.out


def test_a_code_asked_for_under_the_app_login_is_sent_by_the_system_login(
    mail, db_url, engine, clock, monkeypatch
):
    """Before anyone is signed in, the web workspace (the app's login) asks for a code: the
    database makes and queues it, the app cannot send it (nor read it), the system login's
    sender does (``notifications.sign_in_mail``); afterwards nobody but the system reads it."""
    handler = RecordingHandler()
    with LocalSmtpServer(handler) as server:
        point_mail_at(monkeypatch, server.port)
        monkeypatch.setenv("HOMEWARD_DATABASE_URL", login_url(db_url, APP_LOGIN))
        _reset_caches()
        requested = signing_in.request_code(f.COORD, channel="web", clock=clock)
        signing_in.deliver(requested, clock=clock)
        assert handler.received == [] and not requested.sends_here
        system = create_engine(normalise_url(db_url))  # the system login (db_url's)
        assert asyncio.run(send_queued(system, clock)) == 1
        system.dispose()
    (got,) = handler.received
    with engine.connect() as conn:  # as the owner: sent, its code wiped
        sent = conn.execute(
            text("SELECT status, context ->> 'code' FROM outbox_message WHERE key = :k"),
            {"k": requested.mail_key},
        ).one()
    assert tuple(sent) == ("sent", None)
    with _app(db_url) as conn:  # no organisation chosen: no mail at all
        assert conn.execute(b"SELECT template FROM outbox_message").fetchall() == []
        assert conn.execute(b"SELECT count(*) FROM outbox_recipient").fetchone() == (0,)


def _unsent_code(db_url: str, engine: Engine, clock, monkeypatch) -> tuple[str, str]:
    """A sign-in code queued under the app's login and not sent: its key and code."""
    monkeypatch.setenv("HOMEWARD_DATABASE_URL", login_url(db_url, APP_LOGIN))
    _reset_caches()
    requested = signing_in.request_code(f.COORD, channel="web", clock=clock)
    assert requested.mail_key is not None
    with engine.connect() as conn:  # as the owner
        code = conn.execute(
            text("SELECT context ->> 'code' FROM outbox_message WHERE key = :k"),
            {"k": requested.mail_key},
        ).scalar_one()
    assert code and code.isdigit()
    return requested.mail_key, code


def test_no_app_session_reads_an_unsent_sign_in_code(mail, db_url, engine, clock, monkeypatch):
    key, code = _unsent_code(db_url, engine, clock, monkeypatch)
    challenge = key.split(":")[1]
    guesses = (None, f"login:{challenge}", f"{key}x", "login:%")
    for email in (None, f.COORD, FMB):  # no organisation chosen, or signed in for one
        token = signin.token_for(email, clock.now()) if email else None
        for guess in guesses:
            with _app(db_url) as conn, conn.transaction(), conn.cursor() as cursor:
                if token:
                    cursor.execute("SELECT homeward_act(%s)", (token,))
                if guess:
                    cursor.execute("SELECT set_config('homeward.mail_keys', %s, true)", (guess,))
                cursor.execute(b"SELECT key, context::text FROM outbox_message")
                seen = " ".join(f"{k} {c}" for k, c in cursor.fetchall())
                assert code not in seen and key not in seen, (email, guess)
                cursor.execute(
                    b"SELECT count(*) FROM outbox_recipient r JOIN outbox_message m "
                    b"ON m.id = r.message_id WHERE m.template = 'login_code'"
                )
                assert cursor.fetchone() == (0,)
    with _app(db_url) as conn, conn.transaction():  # the key it was given: nothing (0033)
        conn.execute("SELECT set_config('homeward.mail_keys', %s, true)", (key,))
        found = conn.execute(b"SELECT key, context ->> 'code' FROM outbox_message").fetchall()
        assert found == []


def test_no_app_session_queues_a_sign_in_email_of_its_own(mail, db_url, engine, clock, monkeypatch):
    key, _code = _unsent_code(db_url, engine, clock, monkeypatch)
    token = signin.token_for(f.COORD, clock.now())
    forged = {
        "key": key.rsplit(":", 1)[0] + ":" + "A" * 32,
        "template": "login_code",
        "language": "en",
        "to_addrs": ["someone@evil.example"],
        "context": {"code": "12345678", "minutes": 10, "link": "https://evil.example/"},
        "message_id": "<f@x.org>",
        "next_attempt_at": clock.now().isoformat(),
        "created_at": clock.now().isoformat(),
    }
    for addresses in (["someone@evil.example"], [f.COORD]):
        with _app(db_url) as conn, conn.transaction(), conn.cursor() as cursor:
            cursor.execute("SELECT homeward_act(%s)", (token,))
            with pytest.raises(psycopg.Error, match="row-level security"), conn.transaction():
                cursor.execute(
                    "INSERT INTO outbox_message (key, template, language, to_addrs, context, "
                    "message_id, status, attempts, next_attempt_at, created_at) VALUES "
                    "(%s, 'login_code', 'en', %s, '{}', '<f@x.org>', 'queued', 0, now(), now())",
                    (forged["key"], json.dumps(addresses)),
                )
            # the function that queued sign-in emails for the app is nobody's now (0032)
            with pytest.raises(psycopg.Error, match="permission denied"), conn.transaction():
                message = forged | {"to_addrs": addresses}
                cursor.execute("SELECT homeward_queue_login_code(%s)", (json.dumps(message),))


def test_a_withdrawal_under_the_app_login_strips_the_case_from_the_partners_digest(
    db_url, engine, clock, capsys, monkeypatch
):
    """The regression that reverted 17a3bb6: the coordinator withdraws sharing with ADPARE,
    under the app's login; ADPARE's queued digest, which lists the case beside another, loses
    the case, and its queued notice about the case is dropped. The drain then sends the rest."""
    f.seed()
    ref, other = in_reintegration(clock, late=True), in_reintegration(clock)
    clock.advance(days=8)  # the two-week visits are coming due: each case is in the digest
    remind(clock)
    (digest,) = [m for m in outbox("digest") if m.to_addrs == [ADPARE]]
    assert {line["case_ref"] for line in digest.context["coming_due"]} == {ref, other}
    monkeypatch.setenv("HOMEWARD_DATABASE_URL", login_url(db_url, APP_LOGIN))
    _reset_caches()
    monkeypatch.setattr("homeward.edges.cli.common.state.clock", clock)
    args = ("consent", "withdraw", ref, "--purpose", "sharing", "--org", "adpare")
    withdrawn = run_cli(capsys, monkeypatch, "--as", f.COORD, *args)
    assert withdrawn.code == 0, withdrawn.err
    with engine.connect() as conn:  # as the owner
        rows = conn.execute(
            text(
                "SELECT template, status, context::text FROM outbox_message "
                "WHERE to_addrs::text LIKE :a ORDER BY id"
            ),
            {"a": f"%{ADPARE}%"},
        ).all()
    (stripped,) = [context for template, _, context in rows if template == "digest"]
    assert ref not in stripped and other in stripped
    about = {(t, s) for t, s, c in rows if ref in c}
    assert about == {("partner_joined", "dropped"), ("sharing_withdrawn", "queued")}
    monkeypatch.setenv("HOMEWARD_DATABASE_URL", db_url)  # the sender: the system login
    _reset_caches()
    handler = RecordingHandler()
    with LocalSmtpServer(handler) as server:
        point_mail_at(monkeypatch, server.port, **ANY_HOUR)
        report = run_drain(clock)
    assert report.sent >= 2
    bodies = [text_of(m) for m in received_by(handler, ADPARE)]
    digests = [body for body in bodies if other in body]
    assert digests and all(ref not in body for body in digests)


@pytest.mark.usefixtures("as_the_owner")  # migrations run as the tables' owner
def test_0026_downgrades_and_upgrades_again(engine):
    def secured() -> dict[str, bool]:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT c.relname, c.relrowsecurity AND c.relforcerowsecurity "
                    "AND EXISTS (SELECT 1 FROM pg_policies p WHERE p.tablename = c.relname) "
                    "FROM pg_class c WHERE c.relname = ANY(:t)"
                ),
                {"t": list(TABLES)},
            ).all()
            return dict(rows)

    command.downgrade(alembic_config(get_engine()), "0025")
    assert secured() == dict.fromkeys(TABLES, False)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT to_regproc('homeward_case_ref_visible')")).scalar() is None
    get_engine().dispose()
    assert upgrade(get_engine()) == head_revision()
    assert secured() == dict.fromkeys(TABLES, True)


# 0028 held an app login that opened challenges itself; from 0032 it opens none: the database
# opens them (``homeward_open_challenge``) and queues their email as it made it.
CHALLENGE = (
    "INSERT INTO login_challenge (id, staff_id, code_hash, created_at, expires_at, attempts, "
    "channel) SELECT 'c1', s.id, repeat('0', 64), now(), now() + interval '10 minutes', 0, "
    "'web' FROM staff_member s WHERE s.email = %s"
)
OPEN = "SELECT mail_key FROM homeward_open_challenge(%s, 'web', %s, 10, 'x.org')"
OPENED = "2026-01-05T09:00:00+00:00"  # when the app's (simulated) clock opens the challenge


def _opened(cursor: psycopg.Cursor[Any], to: str = f.COORD) -> str:
    """A challenge for ``to`` opened by the database, as the app login asks; its email's key."""
    cursor.execute(OPEN, (to, OPENED))
    row = cursor.fetchone()
    assert row is not None
    return str(row[0])


def test_an_app_login_opens_no_challenge_itself(mail, db_url):
    with _app(db_url) as conn, pytest.raises(psycopg.Error, match="permission denied"):
        conn.execute(CHALLENGE, (f.COORD,))


def test_a_sign_in_email_holds_the_code_and_minutes_and_the_senders_own_link(
    mail, db_url, engine, clock, monkeypatch
):
    """A code to a real staff member from our own sender, with a link of the app login's
    choosing, would be phishing: the database writes the code and minutes only, and the
    sender links to its own workspace (``with_signin_link``)."""
    with _app(db_url) as conn, conn.transaction(), conn.cursor() as cursor:
        key = _opened(cursor)
    with engine.connect() as conn:  # as the owner: no link stored
        stored = conn.execute(
            text("SELECT context::text FROM outbox_message WHERE key = :k"), {"k": key}
        ).scalar_one()
    assert sorted(json.loads(stored)) == ["code", "minutes"]
    handler = RecordingHandler()
    with LocalSmtpServer(handler) as server:  # the sender, under the system login
        point_mail_at(monkeypatch, server.port, **ANY_HOUR)
        monkeypatch.setenv("HOMEWARD_MAIL_BASE_URL", "https://homeward.example.org")
        _reset_caches()
        run_drain(clock)
    (sent,) = received_by(handler, f.COORD)
    body = text_of(sent)
    assert "https://homeward.example.org/signin/link?e=" in body and "evil" not in body


def test_the_database_sends_no_one_more_than_ten_codes_an_hour(mail, db_url, engine):
    for _ in range(10):
        with _app(db_url) as conn, conn.transaction(), conn.cursor() as cursor:
            _opened(cursor)
    with _app(db_url) as conn, conn.transaction(), conn.cursor() as cursor:
        with pytest.raises(psycopg.Error, match="10 sign-in codes were sent"):
            _opened(cursor)
    # A system login reads unsent codes anyway: the limit is the app login's (0037; `homeward
    # demo` signs its staff in again at each session's end on its simulated clock)
    with engine.begin() as conn:
        assert conn.exec_driver_sql(OPEN, (f.COORD, OPENED)).scalar_one().startswith("login:")
    with _app(db_url) as conn, conn.transaction(), conn.cursor() as cursor:
        with pytest.raises(psycopg.Error, match="10 sign-in codes were sent"):
            _opened(cursor)
    with _app(db_url) as conn, conn.transaction(), conn.cursor() as cursor:  # another person
        _opened(cursor, to=f.SUPERVISOR)
    for sql in (  # nor can it forget what was sent
        "DELETE FROM homeward_code_mail",
        "UPDATE homeward_code_mail SET at = at - interval '2 hours'",
        "SELECT count(*) FROM homeward_code_mail",
    ):
        with _app(db_url) as conn, pytest.raises(psycopg.Error, match="permission denied"):
            conn.execute(sql.encode())


def test_mail_about_a_case_is_not_dropped_once_its_sharing_is_given_again(db_url, engine, clock):
    """ADPARE's sharing was withdrawn, then given again: the withdrawal event stays in the
    case's history, but another organisation that sees the case may no longer drop ADPARE's
    mail about it."""
    f.seed()
    ref = in_reintegration(clock, late=True)
    withdraw_sharing(ref, "adpare", clock)
    clock.advance(days=1)
    f.give_sharing(ref, clock, "adpare")
    with engine.begin() as conn:  # as the owner: a new notice to ADPARE about the case
        adpare = conn.execute(text("SELECT id FROM organisation WHERE slug = 'adpare'")).scalar()
        message = conn.execute(
            text(
                "INSERT INTO outbox_message (key, template, language, to_addrs, context, "
                "message_id, status, attempts, next_attempt_at, created_at, org_id) VALUES "
                "('t27:adpare', 't27', 'en', :to, :c, '<n@x.org>', 'queued', 0, :at, :at, :o) "
                "RETURNING id"
            ),
            {
                "to": json.dumps([ADPARE]),
                "c": json.dumps({"case_ref": ref}),
                "at": clock.now(),
                "o": adpare,
            },
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO outbox_recipient (message_id, address, status, attempts, "
                "next_attempt_at, updated_at) VALUES (:m, :a, 'pending', 0, :at, :at)"
            ),
            {"m": message, "a": ADPARE, "at": clock.now()},
        )
    token = signin.token_for(f.COORD, clock.now())
    with _app(db_url) as conn, conn.transaction(), conn.cursor() as cursor:
        cursor.execute("SELECT homeward_act(%s)", (token,))
        with pytest.raises(psycopg.Error, match="only a withdrawal of sharing"):
            cursor.execute(
                "SELECT homeward_drop_case_mail(%s, %s, 'dropped', now(), NULL)", (ref, adpare)
            )
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT status FROM outbox_message WHERE id = :m"), {"m": message}
            ).scalar_one()
            == "queued"
        )


@pytest.mark.usefixtures("as_the_owner")  # migrations run as the tables' owner
def test_0028_downgrades_and_upgrades_again(engine):
    def counted() -> bool:
        with engine.connect() as conn:
            return (
                conn.execute(text("SELECT to_regclass('homeward_code_mail')")).scalar() is not None
            )

    command.downgrade(alembic_config(get_engine()), "0027")
    assert not counted()
    get_engine().dispose()
    assert upgrade(get_engine()) == head_revision()
    assert counted()


# 0030: an app session cannot reshape a message of its own into a sign-in code, nor give it a
# recipient it does not name, nor queue the templates only the system or the sender send.
OWN_MESSAGE = (
    "INSERT INTO outbox_message (key, template, language, to_addrs, context, message_id, "
    "status, attempts, next_attempt_at, created_at, org_id) SELECT %(key)s, %(template)s, 'en', "
    "%(to)s, '{}', '<own@x.org>', 'queued', 0, now(), now(), o.id FROM organisation o "
    "WHERE o.slug = 'fmb' RETURNING id"
)
RECIPIENT = (
    "INSERT INTO outbox_recipient (message_id, address, status, attempts, next_attempt_at, "
    "updated_at) VALUES (%s, %s, 'pending', 0, now(), now())"
)


def _own_message(
    cursor: psycopg.Cursor[Any], key: str, to: list[str], template: str = "partner_joined"
) -> int:
    cursor.execute(OWN_MESSAGE, {"key": key, "template": template, "to": json.dumps(to)})
    row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def test_an_app_login_cannot_turn_its_own_message_into_a_sign_in_code(mail, db_url, clock):
    """The review's attack: FMB's session queues a message to itself, gives it a recipient at
    another organisation, then makes it a sign-in email holding its own code (naming the key in
    ``homeward.mail_keys``): the sender would have mailed a genuine sign-in link to FMB's
    account to the coordinator (login CSRF)."""
    token = signin.token_for(FMB, clock.now())
    with _app(db_url) as conn:  # another organisation's address, not the message's: refused
        with pytest.raises(psycopg.Error, match="one of its message's"), conn.transaction():
            cursor = conn.cursor()
            cursor.execute("SELECT homeward_act(%s)", (token,))
            message = _own_message(cursor, "own:1", [FMB])
            cursor.execute(RECIPIENT, (message, f.COORD))
    code = json.dumps({"code": "12345678", "minutes": 60})
    for number, (change, args) in enumerate(
        (
            ("template = 'login_code', context = %s", (code,)),
            ("template = 'login_code'", ()),
            ("key = 'login:c1:' || repeat('A', 32)", ()),
            ("org_id = NULL", ()),
            ("message_id = '<other@x.org>'", ()),
            ("created_at = created_at - interval '1 day'", ()),
            ("to_addrs = %s", (json.dumps([f.COORD]),)),
            ("to_addrs = %s", (json.dumps([f.COORD, FMB]),)),
        )
    ):
        with _app(db_url) as conn, conn.transaction(), conn.cursor() as cursor:
            cursor.execute("SELECT homeward_act(%s)", (token,))
            message = _own_message(cursor, f"own:2:{number}", [FMB])
            cursor.execute(RECIPIENT, (message, FMB))
            cursor.execute(
                "SELECT set_config('homeward.mail_keys', %s, true)", (f"own:2:{number}",)
            )
            with pytest.raises(psycopg.Error, match="keeps its|only grow"), conn.transaction():
                cursor.execute(
                    f"UPDATE outbox_message SET {change} WHERE id = %s", (*args, message)
                )
    with _app(db_url) as conn, conn.transaction(), conn.cursor() as cursor:  # a redirect: fine
        cursor.execute("SELECT homeward_act(%s)", (token,))
        message = _own_message(cursor, "own:3", [FMB])
        cursor.execute(RECIPIENT, (message, FMB))
        cursor.execute(RECIPIENT, (message, "sup@fmb.example.org"))
        cursor.execute(
            'UPDATE outbox_message SET to_addrs = %s, context = \'{"attendee": "x"}\' '
            "WHERE id = %s",
            (json.dumps([FMB, "sup@fmb.example.org"]), message),
        )
        cursor.execute("UPDATE outbox_message SET status = 'dropped' WHERE id = %s", (message,))


def test_an_app_login_cannot_reshape_a_sign_in_code_it_was_told_the_key_of(
    mail, db_url, engine, clock, monkeypatch
):
    """The app is told its code's key (0032); naming it, it changes nothing of the email: not
    its addresses, its code, its template, nor its state (0033: the system login's alone)."""
    key, _code = _unsent_code(db_url, engine, clock, monkeypatch)
    for change, args in (
        ("to_addrs = %s", (json.dumps([f.COORD, FMB]),)),
        ("context = %s", (json.dumps({"code": "87654321", "minutes": 60}),)),
        ("template = 'partner_joined'", ()),
        ("status = 'sent'", ()),
    ):
        with _app(db_url) as conn, conn.transaction(), conn.cursor() as cursor:
            cursor.execute("SELECT set_config('homeward.mail_keys', %s, true)", (key,))
            cursor.execute(f"UPDATE outbox_message SET {change} WHERE key = %s", (*args, key))
            assert cursor.rowcount == 0, change


@pytest.mark.parametrize("template", ["test", "health_alert"])
def test_an_app_login_cannot_queue_the_systems_templates(mail, db_url, clock, template):
    token = signin.token_for(FMB, clock.now())
    with _app(db_url) as conn, conn.transaction(), conn.cursor() as cursor:
        cursor.execute("SELECT homeward_act(%s)", (token,))
        with pytest.raises(psycopg.Error, match="row-level security"), conn.transaction():
            _own_message(cursor, f"own:{template}", [FMB], template=template)
        _own_message(cursor, "own:notice", [FMB])  # a notice of its own: fine


@pytest.mark.usefixtures("as_the_owner")  # migrations run as the tables' owner
def test_0030_downgrades_and_upgrades_again(engine):
    def triggers() -> int:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM pg_trigger WHERE tgname IN (:a, :b)"),
                    {"a": "homeward_kept", "b": "homeward_named"},
                ).scalar_one()
            )

    assert triggers() == 2
    command.downgrade(alembic_config(get_engine()), "0029")
    assert triggers() == 0
    get_engine().dispose()
    assert upgrade(get_engine()) == head_revision()
    assert triggers() == 2


def test_an_organisation_that_sees_a_case_cannot_change_anothers_mail_about_it(mail, db_url, clock):
    """iom-it sees its case, so it reads FMB's message about it; it may not change nor delete
    it, nor its recipient (a withdrawal stops it through homeward_drop_case_mail only)."""
    token = signin.token_for(f.COORD, clock.now())
    theirs = mail["t25:about-the-case"]
    with _app(db_url) as conn, conn.transaction(), conn.cursor() as cursor:
        cursor.execute("SELECT homeward_act(%s)", (token,))
        cursor.execute("SELECT count(*) FROM outbox_message WHERE id = %s", (theirs,))
        assert cursor.fetchone() == (1,)  # it reads it still
        for sql in (
            "UPDATE outbox_message SET status = 'dropped' WHERE id = %s",
            "DELETE FROM outbox_message WHERE id = %s",
            "UPDATE outbox_recipient SET status = 'dropped' WHERE message_id = %s",
            "DELETE FROM outbox_recipient WHERE message_id = %s",
        ):
            assert cursor.execute(sql, (theirs,)).rowcount == 0, sql
        mine = mail["t25:iom-it"]  # its own: fine
        cursor.execute(
            "UPDATE outbox_recipient SET status = 'pending' WHERE message_id = %s", (mine,)
        )
        assert cursor.rowcount == 1


def test_a_withdrawal_stops_anothers_mail_with_its_own_reason_only(db_url, clock):
    """homeward_drop_case_mail writes its reason into the partner's recipients: the app gives
    the withdrawal's reason (``withdrawn_reason``), never text of its own."""
    f.seed()
    ref = in_reintegration(clock, late=True)
    withdraw_sharing(ref, "adpare", clock)
    token = signin.token_for(f.COORD, clock.now())
    with _app(db_url) as conn, conn.transaction(), conn.cursor() as cursor:
        cursor.execute("SELECT homeward_act(%s)", (token,))
        adpare = cursor.execute(b"SELECT id FROM organisation WHERE slug = 'adpare'").fetchone()
        call = "SELECT homeward_drop_case_mail(%s, %s, %s, now(), NULL)"
        for reason in ("Your account is locked: see https://evil.example/", "dropped", None):
            with pytest.raises(psycopg.Error, match="own reason only"), conn.transaction():
                cursor.execute(call, (ref, adpare[0] if adpare else None, reason))
        cursor.execute(call, (ref, adpare[0] if adpare else None, withdrawn_reason("adpare", ref)))


def test_a_sign_in_email_is_dated_by_its_challenge_and_identified_by_its_key(mail, db_url, engine):
    """The database dates the email when it opens the challenge and gives it the Message-ID
    its key gives (``notifications.message.message_id_for``)."""
    with _app(db_url) as conn, conn.transaction(), conn.cursor() as cursor:
        key = _opened(cursor)
    with engine.connect() as conn:  # as the owner
        dated, message_id = conn.execute(
            text(
                "SELECT m.created_at = c.created_at AND m.next_attempt_at = c.created_at "
                "AND r.next_attempt_at = c.created_at, m.message_id FROM outbox_message m "
                "JOIN outbox_recipient r ON r.message_id = m.id "
                "JOIN login_challenge c ON c.id = split_part(m.key, ':', 2) WHERE m.key = :k"
            ),
            {"k": key},
        ).one()
    assert dated is True
    assert message_id == message_id_for(key, "Homeward <mail@x.org>")

"""PostgreSQL: the app's login, with a SQL prompt and a live session of its own, cannot become
another staff member: it cannot change the directory (0031), nor write sessions, sign-in
challenges or run grants itself (0032), nor read a sign-in code (0033). Each escape is tried
as the app login and must be refused by the database (a guard's ``homeward:`` error, or no
privilege), leaving the rows as they were. And ``homeward login`` at a prompt holding the app
login still signs in: the system login's sender mails the code the database made."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from sqlalchemy import Engine, text

from homeward.base.clock import SimulatedClock
from homeward.base.db import get_engine, make_engine
from homeward.base.migrate import alembic_config, head_revision, upgrade
from notifications.sign_in_mail import send_sign_in_mail
from tests import factories as f
from tests import signin
from tests.cli.test_login import Typist, cli, mailbox  # noqa: F401 (fixtures)
from tests.conftest import APP_LOGIN, BACKEND, SYSTEM_LOGIN, _reset_caches, login_url
from tests.protect.app_login import run_steps

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="the app login is PostgreSQL's")

ME = "cw@adpare.example.org"  # the insider: a caseworker at ADPARE, signed in
VICTIM = f.COORD  # a coordinator at IOM Italy


@pytest.fixture
def insider(db_url: str, engine: Engine, clock) -> Iterator[tuple[psycopg.Connection, dict]]:
    """The app's login with the insider's live token, and the ids an insider can read."""
    f.seed()
    with engine.connect() as conn:
        orgs = dict(conn.execute(text("SELECT slug, id FROM organisation")).tuples().all())
        staff = dict(conn.execute(text("SELECT email, id FROM staff_member")).tuples().all())
    values = {
        "me": staff[ME],
        "victim": staff[VICTIM],
        "my_org": orgs["adpare"],
        "other_org": orgs["iom-it"],
        "token": signin.token_for(ME, clock.now()),
        "victim_token": signin.token_for(VICTIM, clock.now()),
        "known_hash": hashlib.sha256(b"chosen-by-the-insider").hexdigest(),
    }
    url = login_url(db_url, APP_LOGIN).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        yield conn, values


def _refused(error: str | None) -> bool:
    return error is not None and ("homeward: " in error or "permission denied" in error)


DIRECTORY = {
    "redirect the victim's codes": [
        "UPDATE staff_member SET email = 'me@evil.example' WHERE id = {victim}"
    ],
    "move oneself into another organisation": [
        "UPDATE staff_member SET org_id = {other_org} WHERE id = {me}"
    ],
    "make oneself a platform admin": [
        "UPDATE staff_member SET role = 'platform_admin' WHERE id = {me}"
    ],
    "change one's own address": [
        "UPDATE staff_member SET email = 'x@evil.example' WHERE id = {me}"
    ],
    "deactivate the victim": ["UPDATE staff_member SET active = false WHERE id = {victim}"],
    "change the victim's language": ["UPDATE staff_member SET language = 'ro' WHERE id = {victim}"],
    "add a staff member": [
        "INSERT INTO staff_member (org_id, name, email, role, language, active, created_at) "
        "VALUES ({other_org}, 'X', 'x@evil.example', 'coordinator', 'en', true, now())"
    ],
    "delete the victim": ["DELETE FROM staff_member WHERE id = {victim}"],
    "add an organisation": [
        "INSERT INTO organisation (slug, name, kind, country, created_at) "
        "VALUES ('evil', 'Evil', 'ngo', 'RO', now())"
    ],
    "change an organisation's mailbox": [
        "UPDATE organisation SET email = 'box@evil.example' WHERE id = {other_org}"
    ],
    "delete an organisation": ["DELETE FROM organisation WHERE id = {other_org}"],
}


def _directory(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        staff = conn.execute(text("SELECT * FROM staff_member ORDER BY id")).all()
        orgs = conn.execute(text("SELECT * FROM organisation ORDER BY id")).all()
    return [tuple(r) for r in [*staff, *orgs]]


def test_the_directory_is_not_the_app_logins(insider, engine):
    conn, values = insider
    before = _directory(engine)
    outcomes = {name: run_steps(conn, steps, values) for name, steps in DIRECTORY.items()}
    assert {n: e for n, e in outcomes.items() if not _refused(e)} == {}
    # the guards', each; a new row's id is refused before them since 0047 (the directory's
    # sequences are the system's to draw)
    drawn = "permission denied for sequence"
    assert all("homeward: " in e or drawn in e for e in outcomes.values() if e)
    assert {n for n, e in outcomes.items() if e and drawn in e} == {
        "add a staff member",
        "add an organisation",
    }
    assert _directory(engine) == before


def test_one_changes_ones_own_language(insider, engine):
    """What the app writes of the directory (``homeward profile language``) still works."""
    conn, values = insider
    assert (
        run_steps(conn, ["UPDATE staff_member SET language = 'ro' WHERE id = {me}"], values) is None
    )
    with engine.connect() as conn2:
        language = conn2.execute(
            text("SELECT language FROM staff_member WHERE id = :i"), {"i": values["me"]}
        ).scalar_one()
    assert language == "ro"


SESSIONS = {
    "insert a session for the victim with a token of one's choosing": [
        "INSERT INTO staff_session (id, staff_id, token_hash, label, created_at, expires_at) "
        "VALUES ('forged', {victim}, '{known_hash}', '', now(), now() + interval '1 day')"
    ],
    "give one's own session to the victim": [
        "UPDATE staff_session SET staff_id = {victim} WHERE staff_id = {me}"
    ],
    "make one's own session last for ever": [
        "UPDATE staff_session SET expires_at = now() + interval '100 years' WHERE staff_id = {me}"
    ],
    "delete the victim's sessions": ["DELETE FROM staff_session WHERE staff_id = {victim}"],
    "open a challenge with a known hash": [
        "INSERT INTO login_challenge (id, staff_id, code_hash, created_at, expires_at, attempts, "
        "channel) VALUES ('forged', {victim}, '{known_hash}', now(), now() + interval '1 hour', "
        "0, 'cli')"
    ],
    "read the challenges": ["SELECT code_hash FROM login_challenge"],
    "reset the tries of a challenge": ["UPDATE login_challenge SET attempts = 0"],
    "issue a run grant for the victim's session": [
        "INSERT INTO run_grant (id, session_id, staff_id, flow, issued_at, expires_at) "
        "SELECT 'forged', id, staff_id, 'advance-case', now(), now() + interval '1 hour' "
        "FROM staff_session"
    ],
    "read the run grants": ["SELECT id FROM run_grant"],
    "bind a run grant": ["UPDATE run_grant SET flow_run_id = 'my-run'"],
    "read the pepper": ["SELECT pepper FROM homeward_sign_in_pepper"],
    "end the victim's sessions": ["SELECT homeward_end_sessions({victim}, NULL, now())"],
    "queue a sign-in email of one's own": [
        "SELECT homeward_queue_login_code('{{}}'::json)",
    ],
    "hash a code of one's choosing": ["SELECT homeward_sign_in_hash('a', '12345678')"],
}


def _identity(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [
            tuple(row)
            for table in ("staff_session", "login_challenge", "run_grant")
            for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1"))  # noqa: S608
        ]


def test_sessions_challenges_and_grants_are_the_databases_to_write(insider, engine):
    conn, values = insider
    before = _identity(engine)
    outcomes = {name: run_steps(conn, steps, values) for name, steps in SESSIONS.items()}
    assert {n: e for n, e in outcomes.items() if not _refused(e)} == {}
    assert "homeward: one ends only one's own sessions" in outcomes["end the victim's sessions"]
    assert _identity(engine) == before


def test_the_forged_token_opens_nothing(insider):
    """The reviewer's escape, whole: insert a session with the hash of a chosen token, then act
    with the token. The insert is refused, so the token opens nothing."""
    conn, values = insider
    forged = "chosen-by-the-insider"
    assert _refused(run_steps(conn, SESSIONS[next(iter(SESSIONS))], values))
    assert "homeward: no live session has this token" in (
        run_steps(conn, [], {**values, "token": forged}) or ""
    )


def test_one_reads_ones_own_sessions_only(insider):
    conn, values = insider
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(b"SELECT homeward_act(%s)", [values["token"]])
        cursor.execute(b"SELECT DISTINCT staff_id FROM staff_session")
        assert cursor.fetchall() == [(values["me"],)]
        cursor.execute(b"SELECT count(*) FROM homeward_session_of(%s)", [values["victim_token"]])
        assert cursor.fetchone() == (1,)  # the token is the capability: it reads its own row


def test_a_run_grant_goes_to_the_session_acting_only(insider):
    conn, values = insider
    with conn.transaction(), conn.cursor() as cursor:  # acting for nobody: no grant
        with pytest.raises(psycopg.errors.RaiseException, match="homeward: a run grant"):
            cursor.execute(b"SELECT homeward_issue_run_grant('advance-case', now(), 5)")
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(b"SELECT homeward_act(%s)", [values["token"]])
        cursor.execute(b"SELECT homeward_issue_run_grant('advance-case', now(), 5)")
        (grant,) = cursor.fetchone() or ("",)
        cursor.execute(b"SELECT staff_id FROM homeward_run_grant(%s)", [grant])
        assert cursor.fetchone() == (values["me"],)


def test_wrong_codes_are_counted_by_the_database(insider):
    """Redeeming through the function, as the app login: the sixth try finds no live code,
    the right one included (the app cannot read it, nor reset the count). A try is answered
    only once the transaction that counted it has committed (0036): each is asked twice."""
    conn, values = insider
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(
            b"SELECT staff FROM homeward_open_challenge(%s, 'cli', now(), 10, 'x.example')",
            [VICTIM],
        )
        assert cursor.fetchone() == (values["victim"],)
    outcomes = []
    for _ in range(6):
        for _asked in range(2):  # counted (committed), then answered
            with conn.transaction(), conn.cursor() as cursor:
                cursor.execute(
                    b"SELECT outcome FROM homeward_redeem_code(%s, '00000000', '', now(), 1)",
                    [VICTIM],
                )
                outcome = (cursor.fetchone() or ("",))[0]
        outcomes.append(outcome)
    assert outcomes == ["wrong-code"] * 5 + ["expired"]  # (the code is 00000000: 1 in 10^8)


def test_no_app_session_reads_a_sign_in_code(insider):
    """The app login opens a challenge for the victim (it may: that is a sign-in form) and is
    told the email's key; naming it, acting for itself or for nobody, it still reads, changes
    and deletes nothing of that email (0033)."""
    conn, values = insider
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(
            b"SELECT mail_key FROM homeward_open_challenge(%s, 'cli', now(), 10, 'x.example')",
            [VICTIM],
        )
        (key,) = cursor.fetchone() or ("",)
    assert key.startswith("login:")
    probes = (
        "SELECT context::text FROM outbox_message WHERE key = %(k)s",
        "SELECT context::text FROM outbox_message WHERE template = 'login_code'",
        "SELECT r.address FROM outbox_recipient r",
        "UPDATE outbox_message SET status = 'sent' WHERE key = %(k)s RETURNING id",
        "DELETE FROM outbox_message WHERE key = %(k)s RETURNING id",
    )
    for acting in (True, False):
        for probe in probes:
            with conn.transaction(), conn.cursor() as cursor:
                if acting:
                    cursor.execute(b"SELECT homeward_act(%s)", [values["token"]])
                cursor.execute(b"SELECT set_config('homeward.mail_keys', %s, true)", [key])
                cursor.execute(probe.encode(), {"k": key})
                assert cursor.fetchall() == [], probe


@pytest.fixture
def system_sender(db_url: str, mailbox) -> Iterator[None]:  # noqa: F811
    """The system login's sign-in sender (``homeward up``'s, ``homeward health --watch``'s),
    listening in a thread of its own."""
    engine = make_engine(login_url(db_url, SYSTEM_LOGIN))
    loop = asyncio.new_event_loop()
    clock = SimulatedClock()  # the CLI's (``mailbox``): codes are dated by it
    task = loop.create_task(send_sign_in_mail(engine=engine, poll_seconds=5, clock=clock))

    def serve() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield
    loop.call_soon_threadsafe(task.cancel)
    thread.join(120)  # a sender mid-query ends it first; a loop still running cannot close
    assert not thread.is_alive(), "the sign-in sender did not stop"
    loop.close()
    engine.dispose()


@pytest.mark.usefixtures("system_sender")
def test_homeward_login_under_the_app_login_gets_its_code_from_the_system_sender(
    cli,  # noqa: F811
    mailbox,  # noqa: F811
    db_url,
    monkeypatch,
):
    """The whole way, as staff do it at a prompt holding the app's login: the code is made in
    the database, which wakes the system login's sender; it arrives by SMTP and is typed back."""
    monkeypatch.setenv("HOMEWARD_DATABASE_URL", login_url(db_url, APP_LOGIN))
    _reset_caches()
    typist = Typist(mailbox)
    done = cli("login", f.COORD, stdin=typist)
    assert done.code == 0, done.err
    assert f"signed in as {f.COORD}" in done.out
    assert typist.typed is not None and cli("whoami").code == 0


@pytest.mark.usefixtures("as_the_owner")  # migrations run as the tables' owner
def test_0031_to_0033_downgrade_and_upgrade_again(engine):
    def state() -> tuple[bool, bool, bool]:
        with engine.connect() as conn:
            return tuple(  # type: ignore[return-value]
                conn.execute(
                    text(
                        "SELECT has_table_privilege('homeward_app', 'staff_session', 'INSERT'), "
                        "to_regprocedure('homeward_open_challenge(text, text, "
                        "timestamp with time zone, integer, text)') IS NOT NULL, "
                        "EXISTS (SELECT FROM pg_trigger WHERE tgname = 'homeward_staff_kept')"
                    )
                ).one()
            )

    assert state() == (False, True, True)
    command.downgrade(alembic_config(get_engine()), "0030")
    assert state() == (True, False, False)
    get_engine().dispose()
    assert upgrade(get_engine()) == head_revision()
    assert state() == (False, True, True)

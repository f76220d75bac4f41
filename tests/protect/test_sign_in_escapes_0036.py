"""PostgreSQL: the escapes a review of 0031-0033 found, as the app login with a SQL prompt and
a live session of its own (``test_sign_in_the_app_cannot_forge``'s insider), each refused from
0036:

- a try at a code whose transaction is rolled back was not counted, yet answered whether the
  code was right: unlimited guesses at anyone's code (then a session as them);
- ``homeward_act_run`` took a run id and a session id, both printed in the case history
  (``proof``: "run R for session S"), as the capability: anyone reading a history acted as the
  person whose run it was (and issued new run grants to their session);
- ``p_at`` was the app's word alone: a session or a code lived as long as it liked.
"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from homeward.protection import identity
from tests import factories as f
from tests.conftest import BACKEND
from tests.protect.test_sign_in_the_app_cannot_forge import VICTIM, insider  # noqa: F401

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="the app login is PostgreSQL's")


def _open_for_victim(conn: psycopg.Connection, engine) -> str:
    """The insider asks for a code for the victim (as the sign-in form may); the code the
    victim's email carries, read as the tables' owner (the insider cannot)."""
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(
            b"SELECT mail_key FROM homeward_open_challenge(%s, 'cli', now(), 10, 'x.example')",
            [VICTIM],
        )
        (key,) = cursor.fetchone() or ("",)
    with engine.connect() as admin:
        return str(
            admin.execute(
                text("SELECT context ->> 'code' FROM outbox_message WHERE key = :k"), {"k": key}
            ).scalar_one()
        )


def test_a_try_rolled_back_tells_nothing(insider, engine):  # noqa: F811
    """Twenty wrong guesses and then the right one, each in a transaction rolled back: none
    may answer whether it was right (before 0036 the last one opened a session)."""
    conn, _values = insider
    code = _open_for_victim(conn, engine)
    guesses = [f"{(int(code) + i) % 10**8:08d}" for i in range(1, 21)] + [code]
    outcomes = []
    for guess in guesses:
        with conn.transaction(force_rollback=True), conn.cursor() as cursor:
            cursor.execute(
                b"SELECT outcome, token FROM homeward_redeem_code(%s, %s, '', now(), 1)",
                [VICTIM, guess],
            )
            outcomes.append((cursor.fetchone() or ("", None))[0])
    assert set(outcomes) == {"pending"}, outcomes


def test_a_committed_try_is_counted_before_it_is_answered(insider, engine):  # noqa: F811
    """Five wrong tries, each committed and then asked for its answer: the right code is dead."""
    conn, _values = insider
    code = _open_for_victim(conn, engine)
    answers = []
    for guess in [f"{(int(code) + i) % 10**8:08d}" for i in range(1, 6)] + [code]:
        for _ in range(2):  # the try, committed; then its answer
            with conn.transaction(), conn.cursor() as cursor:
                cursor.execute(
                    b"SELECT outcome FROM homeward_redeem_code(%s, %s, '', now(), 1)",
                    [VICTIM, guess],
                )
                outcome = (cursor.fetchone() or ("",))[0]
        answers.append(outcome)
    assert answers == ["wrong-code"] * 5 + ["expired"]


def test_the_run_and_session_ids_of_a_history_do_not_act(insider, clock):  # noqa: F811
    """The victim's run proves itself (its history events then say "run R for session S");
    the insider, knowing R and S only, must not act as the victim."""
    from homeward.base.db import write_session
    from tests import signin

    conn, values = insider
    assertion = signin.assertion_for(VICTIM, "advance-case", clock.now())
    with write_session() as session:  # the victim's run, as the runner proves it
        run = identity.RunAssertion(assertion, "advance-case", "run-of-the-victim")
        proof = identity.prove(session, run, clock.now()).proof
    assert proof.startswith("run run-of-the-victim for session ")
    run_id, session_id = "run-of-the-victim", proof.rsplit(" ", 1)[1]
    with conn.transaction(force_rollback=True), conn.cursor() as cursor:
        try:
            cursor.execute(b"SELECT homeward_act_run(%s, %s)", [run_id, session_id])
            cursor.execute(b"SELECT homeward_current_staff()")
            acting = (cursor.fetchone() or (None,))[0]
        except psycopg.Error:
            acting = None
    assert acting != values["victim"]


def _token_now() -> str:
    """The insider's token, signed in at the database's own time: the real clock's, not the
    suite's wall clock when ``HOMEWARD_TEST_WALL_CLOCK`` moved it (tests/wallclock)."""
    import os
    from datetime import UTC, datetime, timedelta

    from tests import signin
    from tests.protect.test_sign_in_the_app_cannot_forge import ME
    from tests.wallclock.sitecustomize import OFFSET_ENV

    moved = timedelta(seconds=float(os.environ.get(OFFSET_ENV) or 0))
    return signin.token_for(ME, datetime.now(UTC) - moved)


@pytest.fixture
def real_clock(insider, engine):  # noqa: F811 (the insider signed in on the shifted clock)
    """The database's clock unshifted (as in production), put back after the test."""
    with engine.begin() as admin:
        shift = admin.execute(text("SELECT shift FROM homeward_db_clock")).scalar_one_or_none()
        admin.execute(text("DELETE FROM homeward_db_clock"))
    yield
    with engine.begin() as admin:
        admin.execute(text("DELETE FROM homeward_db_clock"))
        if shift is not None:
            admin.execute(text("INSERT INTO homeward_db_clock VALUES (1, :s)"), {"s": shift})


@pytest.mark.usefixtures("real_clock")
@pytest.mark.parametrize(
    "call",
    [
        "SELECT * FROM homeward_open_challenge(%(v)s, 'cli', now() + interval '9 years', 9, 'x')",
        "SELECT * FROM homeward_redeem_code(%(v)s, '00000000', '', now() + interval '10 years', 1)",
        "SELECT * FROM homeward_redeem_code(%(v)s, '00000000', '', now() - interval '1 day', 1)",
        "SELECT homeward_issue_run_grant('advance-case', now() + interval '10 years', 5)",
        "SELECT homeward_bind_run_grant('x', 'run', now() - interval '10 years')",
        "SELECT homeward_end_sessions(%(me)s, NULL, NULL)",
    ],
)
def test_the_time_is_the_databases(insider, call):  # noqa: F811
    conn, values = insider
    with conn.transaction(force_rollback=True), conn.cursor() as cursor:
        cursor.execute(b"SELECT homeward_act(%s)", [_token_now()])
        with pytest.raises(psycopg.errors.RaiseException, match="homeward: the time"):
            cursor.execute(call.encode(), {"v": VICTIM, "me": values["me"]})


@pytest.mark.usefixtures("real_clock")
def test_the_time_the_app_gives_now_is_taken(insider):  # noqa: F811
    conn, values = insider
    with conn.transaction(force_rollback=True), conn.cursor() as cursor:
        cursor.execute(b"SELECT homeward_act(%s)", [_token_now()])
        cursor.execute(
            b"SELECT staff FROM homeward_open_challenge(%s, 'cli', now() + interval '2 minutes',"
            b" 10, 'x.e')",
            [f.COORD],
        )
        assert cursor.fetchone() == (values["victim"],)


DIRECTORY_OTHER_WAYS = {
    "truncate the staff": "TRUNCATE staff_member CASCADE",
    "truncate the organisations": "TRUNCATE organisation CASCADE",
    "redirect codes by an upsert": (
        "INSERT INTO staff_member (id, org_id, name, email, role, language, active, created_at) "
        "SELECT id, org_id, name, 'me@evil.example', role, language, active, created_at "
        "FROM staff_member WHERE id = %(victim)s "
        "ON CONFLICT (id) DO UPDATE SET email = excluded.email"
    ),
    "turn the guard off": "ALTER TABLE staff_member DISABLE TRIGGER homeward_staff_kept",
    "drop the guard": "DROP TRIGGER homeward_staff_kept ON staff_member",
}


@pytest.mark.parametrize("step", DIRECTORY_OTHER_WAYS.values(), ids=DIRECTORY_OTHER_WAYS)
def test_the_directory_is_kept_every_other_way(insider, step):  # noqa: F811
    """0031's guards hold for TRUNCATE, an upsert, COPY and the triggers themselves."""
    conn, values = insider
    with conn.transaction(force_rollback=True), conn.cursor() as cursor:
        cursor.execute(b"SELECT homeward_act(%s)", [values["token"]])
        with pytest.raises(psycopg.Error, match="homeward: |permission denied|must be owner"):
            cursor.execute(step.encode(), {"victim": values["victim"]})


def test_copy_into_the_directory_is_refused(insider):  # noqa: F811
    conn, values = insider
    with conn.transaction(force_rollback=True), conn.cursor() as cursor:
        cursor.execute(b"SELECT homeward_act(%s)", [values["token"]])
        with pytest.raises(psycopg.Error, match="homeward: |row-level security"):  # noqa: PT012
            with cursor.copy(
                b"COPY staff_member (org_id, name, email, role, language, active, created_at) "
                b"FROM STDIN"
            ) as copy:
                copy.write_row(
                    (
                        values["other_org"],
                        "X",
                        "x@evil.example",
                        "coordinator",
                        "en",
                        True,
                        "2026-01-01T00:00:00Z",
                    )
                )

"""PostgreSQL: the app's login, with a SQL prompt and a live session of its own, cannot become
another staff member: it cannot change the directory (0031). Each escape is tried as the app
login and must be refused by the database (a guard's ``homeward:`` error, or no privilege),
leaving the rows as they were."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text

from tests import factories as f
from tests import signin
from tests.conftest import APP_LOGIN, BACKEND, login_url

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


def _run(conn: psycopg.Connection, steps: list[str], values: dict) -> str | None:
    """Run the steps as the insider in one transaction (committed); the error, None if none."""
    try:
        with conn.transaction(), conn.cursor() as cursor:
            cursor.execute(b"SELECT homeward_act(%s)", [values["token"]])
            for step in steps:
                cursor.execute(step.format(**values).encode())
    except psycopg.Error as exc:
        return str(exc).splitlines()[0]
    return None


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
    outcomes = {name: _run(conn, steps, values) for name, steps in DIRECTORY.items()}
    assert {n: e for n, e in outcomes.items() if not _refused(e)} == {}
    assert all("homeward: " in e for e in outcomes.values() if e)  # the guards', each
    assert _directory(engine) == before


def test_one_changes_ones_own_language(insider, engine):
    """What the app writes of the directory (``homeward profile language``) still works."""
    conn, values = insider
    assert _run(conn, ["UPDATE staff_member SET language = 'ro' WHERE id = {me}"], values) is None
    with engine.connect() as conn2:
        language = conn2.execute(
            text("SELECT language FROM staff_member WHERE id = :i"), {"i": values["me"]}
        ).scalar_one()
    assert language == "ro"


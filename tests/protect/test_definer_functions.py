"""PostgreSQL: the definer functions are callable only by the logins that need them (migration
0025); PUBLIC, the register login and a role with no grants are refused every one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from sqlalchemy import Engine, text

from homeward.base.db import get_engine
from homeward.base.migrate import alembic_config, head_revision, upgrade
from homeward.base.roles import FUNCTION_GRANTS
from tests import factories as f
from tests import signin
from tests.cli.runner import run_cli
from tests.conftest import APP_LOGIN, BACKEND, SYSTEM_LOGIN, _reset_caches, login_url

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="definer functions are PostgreSQL's")

# What a caller with no business in Homeward's rows tries: a case_ref's existence, acting for
# a session, the visibility rule, the scope, a programme code, a case's version.
PROBES = (
    "SELECT * FROM homeward_case_refs_taken(ARRAY['RT-7KQ2-M9'])",
    "SELECT homeward_act('not-a-token')",
    "SELECT homeward_act_run('some-run', 'some-session')",
    "SELECT homeward_case_visible(1)",
    "SELECT homeward_is_system()",
    "SELECT homeward_current_org()",
    "SELECT homeward_programme_code_taken('P1')",
    "SELECT homeward_case_version(1)",
    "SELECT homeward_item_offered(1)",
    "SELECT homeward_system(true)",
    "SELECT homeward_act_for(1, NULL)",
)


def _callers(engine: Engine) -> dict[str, set[str]]:
    """Each public ``homeward_*`` function, and the roles it grants EXECUTE to besides its
    owner (``PUBLIC`` for the grant to everyone)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.oid::regprocedure::text, "
                "coalesce(CASE WHEN a.grantee = 0 THEN 'PUBLIC' "
                "ELSE pg_get_userbyid(a.grantee) END, '') "
                "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "LEFT JOIN LATERAL aclexplode(coalesce(p.proacl, "
                "acldefault('f', p.proowner))) a ON a.privilege_type = 'EXECUTE' "
                "AND a.grantee <> p.proowner "
                "WHERE n.nspname = 'public' AND p.proname LIKE 'homeward%'"
            )
        ).all()
    found: dict[str, set[str]] = {}
    for function, grantee in rows:
        found.setdefault(function.replace(",", ", "), set()).update({grantee} - {""})
    return found


def _expected() -> dict[str, set[str]]:
    return {function: {group} if group else set() for function, group in FUNCTION_GRANTS.items()}


def _refused(url: str, sql: str) -> bool:
    """Whether ``sql``, as the login of ``url``, is refused for want of EXECUTE."""
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as conn:
        try:
            conn.execute(sql.encode())
        except psycopg.errors.InsufficientPrivilege as exc:
            return "permission denied for function" in str(exc)
        except psycopg.Error:
            return False  # called, and it refused by itself (or failed): not the grant
        return False


@pytest.fixture
def stranger(db_url: str, engine: Engine) -> Iterator[str]:
    """A login made on the cluster with no grant at all: the URL it connects with."""
    name = f"hw_t_stranger_{uuid.uuid4().hex[:8]}"
    with engine.connect() as conn:
        conn.execute(text(f"CREATE ROLE {name} LOGIN"))
        conn.commit()
    yield login_url(db_url, name)
    with engine.connect() as conn:
        conn.execute(text(f"DROP ROLE IF EXISTS {name}"))
        conn.commit()


def test_every_definer_function_is_callable_only_by_the_logins_that_need_it(engine):
    assert _callers(engine) == _expected()


def test_a_role_with_no_grants_is_refused_every_definer_function(stranger):
    assert [sql for sql in PROBES if not _refused(stranger, sql)] == []


def test_the_register_login_is_refused_every_definer_function(
    db_url, _template_db, capsys, monkeypatch
):
    monkeypatch.setenv("HOMEWARD_DATABASE_URL", _template_db)  # the owner issues them
    _reset_caches()
    args = ("db", "roles", "--app-login", "hw_t_app", "--system-login", "hw_t_sys")
    made = run_cli(capsys, monkeypatch, *args, "--register-login", "hw_t_reg", "--apply")
    assert made.code == 0, made.err
    register = login_url(db_url, "hw_t_reg")
    assert [sql for sql in PROBES if not _refused(register, sql)] == []
    # the logins it made call theirs (through their groups): the app's is refused the system's
    for login, system in (("hw_t_app", False), ("hw_t_sys", True)):
        url = login_url(db_url, login)
        assert not _refused(url, "SELECT * FROM homeward_case_refs_taken(ARRAY['x'])")
        assert _refused(url, "SELECT homeward_system(true)") is not system


def test_the_app_login_still_signs_in_and_asks_its_questions(db_url, clock):
    f.seed()
    ref = f.open_case(clock)
    token = signin.token_for(f.COORD, clock.now())
    url = login_url(db_url, APP_LOGIN).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute(b"SELECT homeward_act(%s)", (token,))
        taken = conn.execute(b"SELECT * FROM homeward_case_refs_taken(%s)", ([ref, "X"],))
        assert taken.fetchall() == [(ref,)]
        assert conn.execute(b"SELECT case_ref FROM return_case").fetchall() == [(ref,)]
    for login, may in ((APP_LOGIN, False), (SYSTEM_LOGIN, True)):
        assert _refused(login_url(db_url, login), "SELECT homeward_act_for(1, NULL)") is not may


@pytest.mark.usefixtures("as_the_owner")  # migrations run as the tables' owner
def test_0025_downgrade_gives_public_its_grants_back_and_upgrade_takes_them(engine, stranger):
    probe = "SELECT * FROM homeward_case_refs_taken(ARRAY['x'])"
    command.downgrade(alembic_config(get_engine()), "0024")
    assert not _refused(stranger, probe)
    assert all("PUBLIC" in roles for f, roles in _callers(engine).items() if "set_scope" not in f)
    get_engine().dispose()
    assert upgrade(get_engine()) == head_revision()
    assert _refused(stranger, probe)
    assert _callers(engine) == _expected()


def test_acting_for_a_session_writes_the_scope_once(db_url, engine, clock):
    """0039: ``homeward_act`` writes the whole scope (organisation, staff member, session) in
    one statement, no longer through ``homeward_set_scope`` and then an update."""
    f.seed()
    token = signin.token_for(f.COORD, clock.now())
    with engine.connect() as conn:  # the superuser: it may count the transaction's calls
        conn.execute(text("SET track_functions = 'all'"))
        org = conn.execute(text("SELECT homeward_act(:t)"), {"t": token}).scalar_one()
        called = conn.execute(text("SELECT funcname, calls FROM pg_stat_xact_user_functions")).all()
        scope = conn.execute(
            text(
                "SELECT org_id, staff_id, system, session_id IS NOT NULL FROM homeward_scope "
                "WHERE pid = pg_backend_pid() AND xact = txid_current()"
            )
        ).one()
        session_of_token = conn.execute(
            text(
                "SELECT s.id FROM staff_session s WHERE s.token_hash = "
                "encode(sha256(convert_to(:t, 'UTF8')), 'hex')"
            ),
            {"t": token},
        ).scalar_one()
        held = conn.execute(
            text("SELECT session_id FROM homeward_scope WHERE pid = pg_backend_pid()")
        ).scalar_one()
        staff = conn.execute(
            text("SELECT id FROM staff_member WHERE email = :e"), {"e": f.COORD}
        ).scalar_one()
    assert dict(called) == {"homeward_act": 1}, called
    assert scope == (org, staff, False, True)
    assert held == session_of_token

"""PostgreSQL row security the app's login cannot lift (issue 14): every escape tried as that
login, signed in for an organisation that does not take part in a case, fails to read it."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, text
from sqlalchemy.pool import Pool

from homeward.base.roles import QUIET_LOGS
from tests import factories as f
from tests import signin
from tests.cli.runner import run_cli
from tests.conftest import APP_LOGIN, BACKEND, _reset_caches, login_url
from tests.logins import takes_system_scope
from workflows.deployments import read_directory

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="row security is PostgreSQL's")

FMB = "cw@fmb.example.org"  # no part in the case (no sharing consent)
READ = "SELECT case_ref FROM return_case"
# The case's other rows: its history, the person, its key and the rows' seals (migration 0014).
ALSO = ("case_event", "beneficiary", "case_key", "row_seal")

# Each escape: statements run in one transaction as the app's login (``{token}``: a live
# session of FMB's caseworker, ``{owner_org}``: the case owner's organisation id), then READ.
ESCAPES: dict[str, list[str]] = {
    "set_config homeward.system on": [
        "SELECT set_config('homeward.system', 'on', false)",
        "SELECT homeward_act('{token}')",
    ],
    "set_config homeward.org_id to the owner": [
        "SELECT homeward_act('{token}')",
        "SELECT set_config('homeward.org_id', '{owner_org}', false)",
    ],
    "set_config homeward.org_id without a session": [
        "SELECT set_config('homeward.org_id', '{owner_org}', false)"
    ],
    "SET ROLE to the tables' owner": ["SET ROLE postgres"],
    "SET ROLE homeward_definer": ["SET ROLE homeward_definer"],
    "SET ROLE homeward_system_scope": ["SET ROLE homeward_system_scope"],
    "SET ROLE homeward_app, then act": ["SET ROLE homeward_app", "SELECT homeward_act('{token}')"],
    "RESET ROLE": ["RESET ROLE", "SELECT homeward_act('{token}')"],
    "SET SESSION AUTHORIZATION": ["SET SESSION AUTHORIZATION postgres"],
    "row_security off": ["SET row_security = off", "SELECT homeward_act('{token}')"],
    "system scope while signed in": [
        "SELECT homeward_act('{token}')",
        "SELECT homeward_system(true)",
    ],
    "system scope without a session": ["SELECT homeward_system(true)"],
    "name an organisation": ["SELECT homeward_act_for({owner_org}, NULL)"],
    "set the scope directly": ["SELECT homeward_set_scope({owner_org}, NULL)"],
    "a forged token": ["SELECT homeward_act('not-a-token-anyone-was-given')"],
    "an expired token": ["SELECT homeward_act('expired-token')"],
    "an ended token": ["SELECT homeward_act('ended-token')"],
    "a run no grant is bound to": ["SELECT homeward_act_run('some-run', 'some-session')"],
    "insert into the scope table": [
        "INSERT INTO homeward_scope VALUES (pg_backend_pid(), txid_current(), {owner_org}, "
        "NULL, true)"
    ],
    "update the scope table": [
        "SELECT homeward_act('{token}')",
        "UPDATE homeward_scope SET system = true",
    ],
    "shift the database's clock": ["INSERT INTO homeward_db_clock VALUES (1, '-1000 years')"],
    "a temporary staff_session shadowing the real one": [
        "CREATE TEMP TABLE staff_session (LIKE public.staff_session)",
        "INSERT INTO pg_temp.staff_session SELECT * FROM public.staff_session",
        "UPDATE pg_temp.staff_session SET staff_id = (SELECT min(id) FROM staff_member "
        "WHERE org_id = {owner_org})",
        "SELECT homeward_act('{token}')",
    ],
    "a temporary return_case shadowing the real one": [
        "SELECT homeward_act('{token}')",
        "CREATE TEMP TABLE return_case AS SELECT 0 AS id, 0 AS owner_org_id",
        "INSERT INTO pg_temp.return_case SELECT id, {owner_org} FROM public.return_case",
    ],
    "a definer function of its own": [
        "CREATE FUNCTION public.peek() RETURNS SETOF text LANGUAGE sql SECURITY DEFINER "
        "AS 'SELECT case_ref FROM public.return_case'"
    ],
    "a temporary view": [
        "SELECT homeward_act('{token}')",
        "CREATE TEMP VIEW peek AS SELECT * FROM public.return_case",
    ],
    "disable row security on the table": [
        "ALTER TABLE return_case DISABLE ROW LEVEL SECURITY",
    ],
    "drop the policy": ["DROP POLICY homeward_scope ON return_case"],
    "replace the visibility function": [
        "CREATE OR REPLACE FUNCTION homeward_case_visible(cid integer) RETURNS boolean "
        "LANGUAGE sql AS 'SELECT true'"
    ],
}


@pytest.fixture
def app_login(db_url: str, engine, clock) -> Iterator[tuple[psycopg.Connection, dict[str, str]]]:
    """A connection as the app's login, FMB's live token, and the case FMB must not read."""
    f.seed()
    ref = f.open_case(clock, share=False)
    token = signin.token_for(FMB, clock.now())
    with engine.begin() as conn:  # as the owner: a session ended, one expired
        owner_org, case_id = conn.execute(text("SELECT owner_org_id, id FROM return_case")).one()
        for kind, ends in (
            ("ended", "revoked_at = now()"),
            ("expired", "expires_at = '1900-01-01'"),
        ):
            conn.execute(
                text(
                    "INSERT INTO staff_session SELECT :id, staff_id, "
                    "encode(sha256(convert_to(:t, 'UTF8')), 'hex'), label, created_at, "
                    "expires_at, revoked_at FROM staff_session LIMIT 1"
                ),
                {"id": kind, "t": f"{kind}-token"},
            )
            conn.execute(text(f"UPDATE staff_session SET {ends} WHERE id = :id"), {"id": kind})
    url = login_url(db_url, APP_LOGIN).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        yield conn, {"token": token, "owner_org": str(owner_org), "ref": ref, "id": str(case_id)}


def _reads_foreign_row(conn: psycopg.Connection, steps: list[str], values: dict[str, str]) -> bool:
    """Whether the steps, then READ (and COPY), show the foreign case; an error is a refusal."""
    try:
        with conn.transaction(), conn.cursor() as cursor:
            for step in steps:
                cursor.execute(step.format(**values).encode())
            cursor.execute(READ.encode())
            seen = {row[0] for row in cursor.fetchall()}
            for table in ALSO:
                query = f"SELECT count(*) FROM {table} WHERE case_id = {values['id']}"
                cursor.execute(query.encode())
                if cursor.fetchone() != (0,):
                    seen.add(values["ref"])
            with cursor.copy(b"COPY return_case (case_ref) TO STDOUT") as copy:
                seen |= {bytes(row).decode().strip() for row in copy}
            if "peek" in " ".join(steps):
                name = "public.peek()" if "FUNCTION" in steps[0] else "peek"
                cursor.execute(f"SELECT * FROM {name}".encode())
                seen |= {row[0] for row in cursor.fetchall()}
            return values["ref"] in seen
    except psycopg.Error:
        return False


def test_signed_in_the_app_login_reads_only_its_organisations_cases(app_login):
    conn, values = app_login
    assert not _reads_foreign_row(conn, ["SELECT homeward_act('{token}')"], values)
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(b"SELECT homeward_act(%s)", [values["token"]])
        cursor.execute(READ.encode())
        assert cursor.fetchall() == []  # acting for FMB, and allowed to: no error, no case


def test_a_scope_ends_with_its_transaction(app_login):
    conn, values = app_login
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(b"SELECT homeward_act(%s)", [values["token"]])
    with pytest.raises(psycopg.Error, match="acts for no organisation"):
        with conn.transaction(), conn.cursor() as cursor:
            cursor.execute(b"SELECT * FROM checklist_item")


def test_every_escape_is_refused(app_login, capsys):
    conn, values = app_login
    escaped = [name for name, steps in ESCAPES.items() if _reads_foreign_row(conn, steps, values)]
    tally = f"{len(ESCAPES)} escapes tried, {len(ESCAPES) - len(escaped)} refused"
    with capsys.disabled():
        print(f"\nrow security: {tally}")  # noqa: T201
    assert escaped == []


def test_the_owners_login_reads_the_case_so_the_check_can_see_it(app_login, _template_db):
    """The control: the same steps as the owner do show the case (the check is not blind)."""
    _conn, values = app_login
    url = _template_db.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as owner:
        assert _reads_foreign_row(owner, ["SELECT homeward_act_for({owner_org}, NULL)"], values)


def test_db_roles_makes_an_app_login_that_cannot_act_for_the_system(
    db_url, _template_db, capsys, monkeypatch
):
    shown = run_cli(capsys, monkeypatch, "db", "roles", "--app-login", "x", "--system-login", "x")
    assert shown.code == 2 and "must differ" in shown.err
    printed = run_cli(
        capsys, monkeypatch, "db", "roles", "--app-login", "hw_t_app", "--system-login", "hw_t_sys"
    )
    assert (
        printed.code == 0 and "GRANT homeward_app, homeward_system_scope TO hw_t_sys" in printed.out
    )
    assert "ALTER ROLE hw_t_app SET log_parameter_max_length = '0';" in printed.out
    monkeypatch.setenv("HOMEWARD_DATABASE_URL", _template_db)  # the owner issues them
    _reset_caches()
    monkeypatch.setenv("HW_T_PASSWORD", "not-printed-4711")
    args = ("db", "roles", "--app-login", "hw_t_app", "--system-login", "hw_t_sys", "--apply")
    args += ("--system-password-env", "HW_T_PASSWORD")
    applied = [run_cli(capsys, monkeypatch, *args) for _ in range(2)]  # again: nothing to add
    assert [r.code for r in applied] == [0, 0]
    assert all("not-printed-4711" not in r.out + r.err for r in applied)
    for login, may in (("hw_t_app", False), ("hw_t_sys", True)):
        assert takes_system_scope(db_url, login) is may
    # neither login's statements, nor the secrets they bind, go to the server's log
    with psycopg.connect(_template_db.replace("postgresql+psycopg://", "postgresql://")) as conn:
        settings = dict(
            conn.execute(
                b"SELECT r.rolname, s.setconfig FROM pg_db_role_setting s "
                b"JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname LIKE 'hw_t_%'"
            ).fetchall()
        )
    quiet = {f"{name}={value}" for name, value in QUIET_LOGS.items()}
    assert {login: quiet <= set(found) for login, found in settings.items()} == {
        "hw_t_app": True,
        "hw_t_sys": True,
    }
    url = login_url(db_url, "hw_t_app").replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        shown = {name: conn.execute(f"SHOW {name}".encode()).fetchone() for name in QUIET_LOGS}
        with pytest.raises(psycopg.Error, match="permission denied"):
            conn.execute(b"SET log_parameter_max_length = -1")  # a superuser's setting
    assert shown == {name: (value,) for name, value in QUIET_LOGS.items()}


def _scram_verifies(verifier: str, password: str) -> bool:
    """Whether ``verifier`` (``SCRAM-SHA-256$iter:salt$StoredKey:ServerKey``, RFC 5802/7677)
    was made from ``password``."""
    head, keys = verifier.removeprefix("SCRAM-SHA-256$").split("$")
    iterations, salt = head.split(":")
    stored, server = (base64.b64decode(k) for k in keys.split(":"))
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client = hmac.new(salted, b"Client Key", "sha256").digest()
    return (
        hashlib.sha256(client).digest() == stored
        and hmac.new(salted, b"Server Key", "sha256").digest() == server
    )


def test_db_roles_sends_the_server_a_verifier_never_the_password(
    db_url, _template_db, capsys, monkeypatch, tmp_path
):
    """A password the server receives shows in its log when the owner's session logs
    statements (``log_statement = ddl``): libpq's own trace of every message the command's
    connections send holds the SCRAM verifier, never the password; the verifier is the
    password's."""
    secret = "n0t-in-the-log-4711"
    monkeypatch.setenv("HOMEWARD_DATABASE_URL", _template_db)  # the owner issues them
    _reset_caches()
    monkeypatch.setenv("HW_T_PASSWORD", secret)
    traces: list[Path] = []

    def trace(dbapi_connection: Any, _record: Any) -> None:
        traces.append(tmp_path / f"libpq-{len(traces)}.trace")
        sink = traces[-1].open("wb")  # closed with the test's tmp_path
        dbapi_connection.pgconn.trace(sink.fileno())
        sink_files.append(sink)

    sink_files: list[Any] = []
    event.listen(Pool, "connect", trace)
    try:
        args = ("db", "roles", "--app-login", "hw_t_app", "--system-login", "hw_t_sys", "--apply")
        done = run_cli(capsys, monkeypatch, *args, "--system-password-env", "HW_T_PASSWORD")
    finally:
        event.remove(Pool, "connect", trace)
        for sink in sink_files:
            sink.close()
    assert done.code == 0, done.err
    sent = b"".join(path.read_bytes() for path in traces)
    assert b"ALTER ROLE" in sent  # the trace saw the statement
    assert secret.encode() not in sent
    assert b"SCRAM-SHA-256$" in sent
    with psycopg.connect(_template_db.replace("postgresql+psycopg://", "postgresql://")) as conn:
        found = conn.execute(b"SELECT rolpassword FROM pg_authid WHERE rolname = 'hw_t_sys'")
        (verifier,) = found.fetchone() or (None,)
    assert isinstance(verifier, str) and _scram_verifies(verifier, secret)
    assert not _scram_verifies(verifier, secret + "x")


def test_the_register_login_reads_the_organisations_and_nothing_else(
    db_url, _template_db, capsys, monkeypatch
):
    """``homeward deploy`` in its own container: the forms' organisations, as a login that
    reads that table alone, with no keyring at all."""
    f.seed()
    monkeypatch.setenv("HOMEWARD_DATABASE_URL", _template_db)  # the owner issues them
    _reset_caches()
    args = ("db", "roles", "--app-login", "hw_t_app", "--system-login", "hw_t_sys")
    made = run_cli(capsys, monkeypatch, *args, "--register-login", "hw_t_reg", "--apply")
    assert made.code == 0 and "hw_t_reg (register)" in made.out, made.err
    monkeypatch.setenv("HOMEWARD_DATABASE_URL", login_url(db_url, "hw_t_reg"))
    monkeypatch.setenv("HOMEWARD_KEY_FILE", "/nonexistent/keys.json")  # none mounted
    _reset_caches()
    directory = read_directory()
    assert directory is not None
    assert "adpare" in {slug for orgs in directory.values() for slug, _, _ in orgs}
    url = login_url(db_url, "hw_t_reg").replace("postgresql+psycopg://", "postgresql://")
    for table in ("staff_member", "return_case", "outbox_message", "staff_session"):
        with psycopg.connect(url) as conn, pytest.raises(psycopg.Error, match="permission"):
            conn.execute(f"SELECT 1 FROM {table}".encode())
    with psycopg.connect(url) as conn, pytest.raises(psycopg.Error, match="permission denied"):
        conn.execute(b"SELECT homeward_system(true)")  # not even called (migration 0025)


def _as_app_login(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEWARD_DATABASE_URL", login_url(db_url, APP_LOGIN))
    _reset_caches()


def test_a_staff_journey_runs_under_the_app_login(db_url, engine, capsys, monkeypatch):
    f.seed()
    _as_app_login(db_url, monkeypatch)

    def cli(*args: str, stdin: str = "") -> None:
        done = run_cli(capsys, monkeypatch, "--as", *args, stdin=stdin)
        assert done.code == 0, (args, done.err)
        return done

    person = '{"given_name": "Zenobia", "family_name": "Canarycanary"}'
    ref = cli(f.COORD, "case", "start", "--person", "-", stdin=person).out.split()[1]
    with engine.connect() as conn:
        ids = conn.execute(text("SELECT id FROM checklist_item ORDER BY id")).scalars().all()
    for item in ids:
        cli(f.COORD, "items", "done", str(item))
    cli(
        f.COORD,
        "case",
        "advance",
        ref,
        "record_consent",
        "--set",
        "method=signed",
        "--set",
        "language=RO",
        "--set",
        "interpreter=true",
    )
    cli(f.COORD, "case", "show", ref)
    cli(f.COORD, "case", "history", ref)
    cli(f.COORD, "case", "list")
    cli(f.COORD, "items", "list")
    for org in ("iom-ro", "adpare"):
        cli(
            f.COORD,
            "consent",
            "give",
            ref,
            "--purpose",
            "sharing",
            "--org",
            org,
            "--method",
            "signed",
            "--language",
            "ro",
        )
    with engine.connect() as conn:
        item = conn.execute(text("SELECT max(id) FROM checklist_item")).scalar_one()
    cli(f.COORD, "items", "handoff", str(item), "--to", "adpare")
    cli("cw@adpare.example.org", "items", "reject", str(item), "--reason", "not ours")
    cli(f.COORD, "case", "handoff", ref, "--to", "iom-ro")
    cli("coord@iom-ro.example.org", "case", "accept", ref)
    with engine.connect() as conn:  # the notices of each handoff and answer were queued
        queued = conn.execute(text("SELECT count(*) FROM outbox_message")).scalar_one()
    assert queued >= 4
    # Across organisations is the system login's: the app's is told so, in one line.
    stages = run_cli(capsys, monkeypatch, "--as", f.SUPERVISOR, "report", "stages")
    assert stages.code == 4 and "system login" in stages.err

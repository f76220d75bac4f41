"""PostgreSQL backups: ``pg_dump --format=custom`` from a snapshot we export, ``pg_restore`` in
one transaction.

The tools connect as the user of ``HOMEWARD_DATABASE_URL`` (the tables' owner, not
``HOMEWARD_DB_ROLE``), given as a libpq conninfo without the password, which travels in
``PGPASSWORD`` only: never on a command line, never in an error. Their messages are not echoed
whole (pg_restore quotes rows): only the first ``error:`` line, with the password masked.

Row security: dumping needs a user that bypasses it (superuser or BYPASSRLS), or pg_dump
would see only what the policies let through. The restore skips owners and grants from the
archive (the target's owner may have another name) and then gives them back as migration 0005
does: the roles ``homeward_app`` and ``homeward_definer``, their grants, and the visibility
functions owned by ``homeward_definer``, so the restored database works for the app's role;
then what migration 0015 secures (``homeward.base.roles.SECURE_SCOPE``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from psycopg.conninfo import make_conninfo
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import URL

from homeward.base.errors import HomewardError, InvalidInput, Refused
from homeward.base.roles import SECURE_SCOPE
from homeward.protection.backup.common import (
    NOTHING_TO_BACK_UP,
    Hook,
    Summary,
    count_rows,
    partial_file,
    publish,
)

MAGIC = b"PGDMP"

ROLES = """
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'homeward_app') THEN
        CREATE ROLE homeward_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'homeward_definer') THEN
        CREATE ROLE homeward_definer NOLOGIN BYPASSRLS;
    END IF;
    IF NOT pg_has_role(current_user, 'homeward_app', 'MEMBER') THEN
        EXECUTE format('GRANT homeward_app TO %I', current_user);
    END IF;
    IF NOT pg_has_role(current_user, 'homeward_definer', 'MEMBER') THEN
        EXECUTE format('GRANT homeward_definer TO %I', current_user);
    END IF;
END $$
"""
# What migrations 0005, 0006 and 0047 grant, given back after a restore without the archive's
# ACLs (a backup older than 0005 has no functions yet: the upgrade after the restore makes them).
GRANTS = """
GRANT USAGE ON SCHEMA public TO homeward_app, homeward_definer;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO homeward_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO homeward_app;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO homeward_definer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO homeward_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO homeward_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO homeward_definer;
DO $$ BEGIN
    IF to_regprocedure('homeward_case_visible(integer)') IS NOT NULL THEN
        ALTER FUNCTION homeward_case_visible(integer) OWNER TO homeward_definer;
    END IF;
    IF to_regprocedure('homeward_case_touched(integer)') IS NOT NULL THEN
        ALTER FUNCTION homeward_case_touched(integer) OWNER TO homeward_definer;
    END IF;
    IF to_regprocedure('homeward_case_visible(bigint)') IS NOT NULL THEN  -- 0047's
        ALTER FUNCTION homeward_case_visible(bigint) OWNER TO homeward_definer;
        ALTER FUNCTION homeward_case_touched(bigint) OWNER TO homeward_definer;
        -- the directory's ids are the system's to draw, the keyring binding's no one's
        REVOKE USAGE ON SEQUENCE organisation_id_seq, staff_member_id_seq,
            keyring_binding_id_seq FROM homeward_app;
        GRANT USAGE ON SEQUENCE organisation_id_seq, staff_member_id_seq
            TO homeward_system_scope;
    END IF;
END $$
"""


class ToolFailed(HomewardError):
    """pg_dump or pg_restore failed (the database is unchanged: the restore is one transaction)."""

    exit_code = 6


def libpq(url: URL) -> tuple[str, dict[str, str]]:
    """The conninfo (without password) and the environment (with ``PGPASSWORD``) for ``url``."""
    params: dict[str, object] = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "dbname": url.database,
    }
    for key, value in url.query.items():
        params[key] = value if isinstance(value, str) else value[-1]
    conninfo = make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    return conninfo, env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ToolFailed(
            f"{name} not found; install the PostgreSQL client tools (same major "
            "version as the server or newer) and put them on PATH"
        )
    return found


def _first_error(stderr: str, secret: str | None) -> str:
    lines = [ln for ln in stderr.splitlines() if "error:" in ln] or stderr.splitlines() or [""]
    line = lines[0][:240]
    return line.replace(secret, "***") if secret else line


def run(
    name: str, args: list[str], env: dict[str, str] | None = None, *, quote_rows: bool = False
) -> str:
    """Run a PostgreSQL tool; its stdout, or ``ToolFailed`` with its first error line.

    A tool that may quote rows in its errors (pg_restore loading data) shows that line only
    with ``HOMEWARD_DEBUG=1``.
    """
    proc = subprocess.run(  # noqa: S603 - fixed tool, arguments built here
        [_tool(name), *args], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode:
        if quote_rows and os.environ.get("HOMEWARD_DEBUG") != "1":
            detail = "nothing was changed; rerun with HOMEWARD_DEBUG=1 to see its first error"
        else:
            detail = _first_error(proc.stderr, (env or {}).get("PGPASSWORD"))
        raise ToolFailed(f"{name} failed (exit {proc.returncode}): {detail}")
    return proc.stdout


def _owner(url: URL) -> Connection:
    """A connection as the URL's user itself (no ``SET ROLE``), in REPEATABLE READ."""
    engine = create_engine(url)
    return engine.connect().execution_options(isolation_level="REPEATABLE READ")


def _ensure_bypass(conn: Connection) -> None:
    query = "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
    if not conn.execute(text(query)).scalar():
        raise Refused(
            "HOMEWARD_DATABASE_URL: its user cannot bypass row security, so a dump would "
            "miss cases; back up as the tables' owner with BYPASSRLS, or as a superuser"
        )


def _summarise(conn: Connection) -> Summary:
    if conn.execute(text("SELECT to_regclass('alembic_version')")).scalar() is None:
        raise Refused(NOTHING_TO_BACK_UP)
    revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return Summary("postgresql", revision or "empty", **count_rows(conn))


def _dump(url: URL, tmp: Path, after_snapshot: Hook | None) -> Summary:
    """``pg_dump`` into ``tmp`` from a snapshot exported here, in which the summary is read:
    the revision and counts describe exactly what was dumped."""
    conninfo, env = libpq(url)
    conn = _owner(url)
    try:
        _ensure_bypass(conn)
        snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        summary = _summarise(conn)
        if after_snapshot:
            after_snapshot()
        args = ["--format=custom", f"--snapshot={snapshot}", "--no-password", f"--file={tmp}"]
        run("pg_dump", [*args, f"--dbname={conninfo}"], env)
    finally:
        conn.close()
        conn.engine.dispose()
    return summary


def backup(url: URL, target: Path, *, force: bool, after_snapshot: Hook | None) -> Summary:
    """Dump the database to ``target`` online and read the archive back before naming it."""
    with partial_file(target, force) as tmp:
        summary = _dump(url, tmp, after_snapshot)
        if check_archive(tmp) != summary.revision:  # pragma: no cover - same snapshot
            raise Refused("the archive does not hold the schema revision it was taken at")
        publish(tmp, target, force)
    return summary


def check_archive(path: Path) -> str:
    """Refuse a file pg_restore cannot read to the end, or not of Homeward; its revision."""
    _tool("pg_restore")  # a missing tool is not a damaged file
    try:
        toc = run("pg_restore", ["--list", str(path)])
        run("pg_restore", [f"--file={os.devnull}", str(path)])  # every data block reads
        data = run("pg_restore", ["--data-only", "--table=alembic_version", "--file=-", str(path)])
    except ToolFailed:
        raise InvalidInput(
            f"{path}: the backup cannot be read to the end (damaged or not a pg_dump "
            "archive); choose another file"
        ) from None
    if not re.search(r"\bTABLE public return_case\b", toc):
        raise InvalidInput(f"{path}: not a Homeward database; choose another file")
    found = re.search(r"^COPY public\.alembic_version .*\n(\w+)\n", data, re.MULTILINE)
    return found.group(1) if found else "empty"


def restore(url: URL, path: Path) -> None:
    """Replace the database's content with the archive in one transaction; then the roles."""
    conninfo, env = libpq(url)
    conn = _owner(url)
    try:
        conn.execute(text(ROLES))
        conn.commit()
        run(
            "pg_restore",
            [
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                "--no-password",
                f"--dbname={conninfo}",
                str(path),
            ],
            env,
            quote_rows=True,
        )
        conn.execute(text(GRANTS))
        conn.execute(text(SECURE_SCOPE))  # after GRANTS: the scope is the definer's alone
        conn.commit()
    finally:
        conn.close()
        conn.engine.dispose()

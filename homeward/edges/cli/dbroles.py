"""``homeward db roles``: the app's login, the system login (PostgreSQL row security) and,
if asked, the register login (``homeward deploy``: the organisations only)."""

from __future__ import annotations

import os

import typer
from sqlalchemy import Connection

from homeward.base.db import get_engine
from homeward.base.errors import InvalidInput
from homeward.base.roles import QUIET_LOGS, apply_roles, quiet_log_statements, role_statements
from homeward.edges.cli.common import console, err_console


def _set_password(conn: Connection, login: str, variable: str | None) -> None:
    """``ALTER ROLE login PASSWORD`` from the environment variable ``variable``: the server
    gets only the password's SCRAM verifier, made here by libpq (``PQencryptPasswordConn``,
    as ``psql``'s ``\\password`` does), never the password itself: with ``log_statement`` at
    ``ddl`` or ``all`` on the owner's session, the statement (and a bound parameter) goes to the
    server's log. The password is never printed."""
    if variable is None:
        return
    password = os.environ.get(variable)
    if not password:
        raise InvalidInput(
            f"{variable}: set it to the password of {login}, or leave the option out"
        )
    driver = conn.connection.driver_connection
    pgconn = getattr(driver, "pgconn", None)
    if driver is None or pgconn is None:  # not psycopg 3: no libpq to make the verifier with
        raise InvalidInput("database: give a postgresql+psycopg:// URL to set a login's password")
    from psycopg import sql

    verifier = pgconn.encrypt_password(password.encode(), login.encode(), b"scram-sha-256")
    # composed and quoted by psycopg (a verifier's ``:`` would read as a bind in ``text()``)
    statement = sql.SQL("ALTER ROLE {} PASSWORD {}").format(
        sql.Identifier(login), sql.Literal(verifier.decode("ascii"))
    )
    driver.execute(statement)


def db_roles(
    app_login: str = typer.Option(..., help="login of staff commands and the web workspace"),
    system_login: str = typer.Option(..., help="login of the scheduler and operator commands"),
    apply: bool = typer.Option(False, "--apply", help="issue the statements (as the owner)"),
    app_password_env: str = typer.Option(None, help="with --apply: variable holding its password"),
    system_password_env: str = typer.Option(None, help="the same for the system login"),
    register_login: str = typer.Option(
        None, help="also a login reading only the organisations (`homeward deploy`'s forms)"
    ),
    register_password_env: str = typer.Option(None, help="the same for the register login"),
) -> None:
    """Print (or, with --apply, issue as the tables' owner) the SQL making both logins (and
    the register login, if asked)."""
    statements = role_statements(
        app_login=app_login, system_login=system_login, register_login=register_login
    )
    engine = get_engine()
    if engine.dialect.name != "postgresql":
        raise InvalidInput("database: roles are PostgreSQL's; SQLite has no row security")
    if not apply:
        for statement in statements:
            console.print(f"{statement};", markup=False, highlight=False)
        return
    quiet = quiet_log_statements(app_login, system_login)
    with engine.begin() as conn:
        logs_quiet = apply_roles(
            conn, app_login=app_login, system_login=system_login, register_login=register_login
        )
        _set_password(conn, app_login, app_password_env)
        _set_password(conn, system_login, system_password_env)
        if register_login is not None:
            _set_password(conn, register_login, register_password_env)
    register = f" and {register_login} (register)" if register_login else ""
    console.print(f"logins {app_login} (app), {system_login} (system){register} ready")
    if not logs_quiet:
        err_console.print(
            f"log settings: not set: {', '.join(QUIET_LOGS)} of {app_login} and {system_login} "
            "need a superuser; run `homeward db roles` again as one, or have one issue: "
            + "; ".join(quiet),
            markup=False,
            highlight=False,
        )

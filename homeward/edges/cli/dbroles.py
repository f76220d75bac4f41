"""``homeward db roles``: the app's login, the system login (PostgreSQL row security) and,
if asked, the register login (``homeward deploy``: the organisations only)."""

from __future__ import annotations

import os

import typer
from sqlalchemy import Connection, text

from homeward.base.db import get_engine
from homeward.base.errors import InvalidInput
from homeward.base.roles import QUIET_LOGS, apply_roles, quiet_log_statements, role_statements
from homeward.edges.cli.common import console, err_console


def _set_password(conn: Connection, login: str, variable: str | None) -> None:
    """``ALTER ROLE login PASSWORD`` from the environment variable ``variable`` (quoted by the
    server's own ``format``; the password is never printed)."""
    if variable is None:
        return
    password = os.environ.get(variable)
    if not password:
        raise InvalidInput(
            f"{variable}: set it to the password of {login}, or leave the option out"
        )
    query = text(
        "SELECT format('ALTER ROLE %I PASSWORD %L', CAST(:login AS text), CAST(:password AS text))"
    )
    conn.execute(text(conn.execute(query, {"login": login, "password": password}).scalar_one()))


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

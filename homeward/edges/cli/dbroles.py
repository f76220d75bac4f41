"""``homeward db roles``: the app's login and the system login (PostgreSQL row security)."""

from __future__ import annotations

import typer
from sqlalchemy import text

from homeward.base.db import get_engine
from homeward.base.errors import InvalidInput
from homeward.base.roles import role_statements
from homeward.edges.cli.common import console


def db_roles(
    app_login: str = typer.Option(..., help="login of staff commands and the web workspace"),
    system_login: str = typer.Option(..., help="login of the scheduler and operator commands"),
    apply: bool = typer.Option(False, "--apply", help="issue the statements (as the owner)"),
) -> None:
    """Print (or, with --apply, issue as the tables' owner) the SQL making both logins."""
    statements = role_statements(app_login=app_login, system_login=system_login)
    engine = get_engine()
    if engine.dialect.name != "postgresql":
        raise InvalidInput("database: roles are PostgreSQL's; SQLite has no row security")
    if not apply:
        for statement in statements:
            console.print(f"{statement};", markup=False, highlight=False)
        return
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    console.print(f"logins {app_login} (app) and {system_login} (system) ready; set passwords")

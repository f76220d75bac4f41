"""The ``homeward`` command line: typer commands over the engine, rich tables for people.

Every error a user can cause becomes one line on stderr and a non-zero exit; an unexpected
failure prints only its type (never its message, which could carry data) unless
``HOMEWARD_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys

import typer
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from homeward.base.errors import HomewardError
from homeward.edges.cli import (
    adhoc,
    admin,
    assessments,
    backup,
    cases,
    closures,
    dbroles,
    deploy,
    family,
    health,
    imports,
    items,
    journal,
    mail,
    plan,
    protect,
    referral,
    reports,
    signin,
    up,
    visits,
    web,
)
from homeward.edges.cli.common import err_console

app = typer.Typer(
    help="Homeward: assisted return and reintegration workflows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # rich tracebacks print local variables: never with our data
    add_completion=False,
)
signin.register(app)  # login first: every staff command acts as the signed-in person
admin.db_app.command("roles")(dbroles.db_roles)
app.add_typer(admin.db_app, name="db")
app.add_typer(admin.org_app, name="org")
app.add_typer(admin.staff_app, name="staff")
app.add_typer(admin.admin_app, name="admin")
closures.register(cases.case_app)
app.add_typer(cases.case_app, name="case")
app.add_typer(items.items_app, name="items")
app.add_typer(protect.consent_app, name="consent")
app.add_typer(protect.keys_app, name="keys")
app.add_typer(protect.audit_app, name="audit")
app.add_typer(protect.retention_app, name="retention")
app.add_typer(mail.mail_app, name="mail")
app.add_typer(reports.programme_app, name="programme")
app.add_typer(reports.report_app, name="report")
app.add_typer(reports.export_app, name="export")
app.add_typer(imports.import_app, name="import")
for casework in (plan, visits, journal, adhoc, family, referral, assessments):  # issue 16
    casework.register(app)
app.command("up")(up.up)
app.command("deploy")(deploy.deploy)
app.command("health")(health.health)
app.command("web")(web.web)
app.command("backup", help=backup.BACKUP_HELP)(backup.backup_command)
app.command("restore", help=backup.RESTORE_HELP)(backup.restore_command)


@app.command()
def demo(
    keep: str = typer.Option(None, help="keep the demo database at this path (default: discard)"),
) -> None:
    """Seed a fresh temporary database, run a family case, an internal case and a minor's case to
    closure, print each one's timeline, plan and visits."""
    from homeward.edges.demo import run_demo  # edge module: reaches into the card packages

    run_demo(keep=keep)


def _fail(message: str, code: int) -> None:
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(code)


def main() -> None:
    """Console-script entry point."""
    try:
        result = app(standalone_mode=False)
    except HomewardError as exc:
        _fail(str(exc), exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _fail("aborted", 130)
    except typer.TyperException as exc:  # usage errors: unknown command, missing option...
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        _fail(message.replace("\n", " "), getattr(exc, "exit_code", 2))
    except ValidationError as exc:  # settings read from the environment
        error = exc.errors()[0]
        field = "HOMEWARD_" + str(error["loc"][0]).upper() if error["loc"] else "settings"
        _fail(f"{field}: {error['msg']}", 2)
    except OperationalError as exc:
        _fail(
            f"database error ({type(exc.orig).__name__}); check HOMEWARD_DATABASE_URL "
            "and that the database is reachable and upgraded (`homeward db upgrade`)",
            6,
        )
    except Exception as exc:
        if os.environ.get("HOMEWARD_DEBUG") == "1":
            raise
        _fail(
            f"unexpected failure ({type(exc).__name__}); rerun with HOMEWARD_DEBUG=1 "
            "on a test database to see the traceback",
            70,
        )
    if isinstance(result, int) and result:
        sys.exit(result)

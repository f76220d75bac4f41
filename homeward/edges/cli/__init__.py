"""The ``homeward`` command line: typer commands over the engine, rich tables for people.

Every error a user can cause becomes one line on stderr and a non-zero exit; an unexpected
failure prints only its type (never its message, which could carry data) unless
``HOMEWARD_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import cache
from typing import Any

import typer
import typer.main
from typer.core import TyperGroup

from homeward.base.errors import HomewardError
from homeward.edges.cli.consoles import err_console

# The command tree is loaded lazily: ``homeward case show`` imports the modules behind
# ``homeward case`` and nothing else (no mail, imports, reporting, Prefect or psycopg), and
# ``homeward --help`` imports none of them (tests/cli/test_imports.py holds this). Each loader
# registers its commands on a holder app exactly as they were registered eagerly, once a process.


def _holder() -> typer.Typer:
    return typer.Typer()


@cache
def _signin() -> typer.Typer:
    from homeward.edges.cli import signin

    holder = _holder()
    signin.register(holder)  # login first: every staff command acts as the signed-in person
    return holder


@cache
def _up() -> typer.Typer:
    from homeward.edges.cli import up

    holder = _holder()
    holder.command("up")(up.up)
    return holder


@cache
def _deploy() -> typer.Typer:
    from homeward.edges.cli import deploy

    holder = _holder()
    holder.command("deploy")(deploy.deploy)
    return holder


@cache
def _health() -> typer.Typer:
    from homeward.edges.cli import health

    holder = _holder()
    holder.command("health")(health.health)
    return holder


@cache
def _web() -> typer.Typer:
    from homeward.edges.cli import web

    holder = _holder()
    holder.command("web")(web.web)
    return holder


@cache
def _backup() -> typer.Typer:
    from homeward.edges.cli import backup

    holder = _holder()
    holder.command("backup", help=backup.BACKUP_HELP)(backup.backup_command)
    holder.command("restore", help=backup.RESTORE_HELP)(backup.restore_command)
    return holder


@cache
def _directory() -> typer.Typer:
    from homeward.edges.cli import admin, dbroles

    admin.db_app.command("roles")(dbroles.db_roles)
    holder = _holder()
    holder.add_typer(admin.db_app, name="db")
    holder.add_typer(admin.org_app, name="org")
    holder.add_typer(admin.staff_app, name="staff")
    holder.add_typer(admin.admin_app, name="admin")
    return holder


@cache
def _case() -> typer.Typer:
    from homeward.edges.cli import assessments, cases, closures, family

    closures.register(cases.case_app)
    family.register_case(cases.case_app)
    assessments.register_case(cases.case_app)
    holder = _holder()
    holder.add_typer(cases.case_app, name="case")
    return holder


@cache
def _items() -> typer.Typer:
    from homeward.edges.cli import adhoc, items

    adhoc.register(items.items_app)
    holder = _holder()
    holder.add_typer(items.items_app, name="items")
    return holder


@cache
def _protect() -> typer.Typer:
    from homeward.edges.cli import family, protect

    family.register_keys(protect.keys_app)
    holder = _holder()
    holder.add_typer(protect.consent_app, name="consent")
    holder.add_typer(protect.keys_app, name="keys")
    holder.add_typer(protect.audit_app, name="audit")
    holder.add_typer(protect.retention_app, name="retention")
    return holder


@cache
def _mail() -> typer.Typer:
    from homeward.edges.cli import mail

    holder = _holder()
    holder.add_typer(mail.mail_app, name="mail")
    return holder


@cache
def _reports() -> typer.Typer:
    from homeward.edges.cli import reports

    holder = _holder()
    holder.add_typer(reports.programme_app, name="programme")
    holder.add_typer(reports.report_app, name="report")
    holder.add_typer(reports.export_app, name="export")
    return holder


@cache
def _imports() -> typer.Typer:
    from homeward.edges.cli import imports

    holder = _holder()
    holder.add_typer(imports.import_app, name="import")
    return holder


@cache
def _casework() -> typer.Typer:  # issue 16
    from homeward.edges.cli import assessments, journal, plan, referral, visits

    holder = _holder()
    plan.register(holder)
    visits.register(holder)
    journal.register(holder)
    referral.register(holder)
    assessments.register(holder)
    return holder


_Loader = Callable[[], typer.Typer]
# Every top-level command in the order ``homeward --help`` lists it: its name, the first
# paragraph of its help (what the list shows, without importing it) and what loads it.
# tests/cli/test_imports.py checks the help against the loaded command.
LAZY: dict[str, tuple[str, _Loader]] = {
    "login": (
        "Sign in: a one-time code is sent to your staff email; type it to open a session.",
        _signin,
    ),
    "logout": ("End this session here and on the server.", _signin),
    "whoami": ("Who you are signed in as.", _signin),
    "assertion": (
        "A signed assertion for one Prefect run of FLOW: paste it into the run's `assertion`\n"
        "field. It acts for you, works for one run, and must be used within minutes.",
        _signin,
    ),
    "up": (
        "Start Prefect (server and UI) and serve Homeward's flows on their schedules until Ctrl-C.",
        _up,
    ),
    "deploy": (
        "Register every flow as a deployment on a work pool (PREFECT_API_URL's server), with the\n"
        "forms, schedules and schema checks `homeward up` serves them with.",
        _deploy,
    ),
    "health": (
        "Say whether the schedules ran on time, their last runs succeeded and mail flows.",
        _health,
    ),
    "web": ("Serve the staff web workspace (sign in, my work, cases) until Ctrl-C.", _web),
    "backup": (
        "Back up the database to FILE while Homeward keeps working (one consistent snapshot).",
        _backup,
    ),
    "restore": (
        "Replace the database's content with the backup in FILE, then verify the audit log.",
        _backup,
    ),
    "demo": ("", _holder),  # defined below, loaded with the app
    "sessions": ("Your sessions: list them, end one.", _signin),
    "db": ("Database schema.", _directory),
    "org": ("Organisations taking part in returns.", _directory),
    "staff": ("Staff members of the organisations.", _directory),
    "admin": ("The first platform administrator.", _directory),
    "case": ("Return cases.", _case),
    "items": ("Checklist items and their handoffs.", _items),
    "consent": ("The person's consents, per purpose.", _protect),
    "keys": ("Encryption keys (keep the key file backed up offline).", _protect),
    "audit": ("The tamper-evident audit log.", _protect),
    "retention": ("Purging closed cases' personal data.", _protect),
    "mail": ("Email reminders and notices: preview, outbox, sending.", _mail),
    "programme": ("Programmes (grants) and their targets.", _reports),
    "report": ("Aggregate reports, small cells suppressed.", _reports),
    "export": ("Case-level exports (audited).", _reports),
    "import": ("Import existing cases.", _imports),
    "plan": ("A case's reintegration plan: versions, goals, services, approval.", _casework),
    "visit": ("Follow-up visits and their monitoring form.", _casework),
    "journal": ("The case journal: encrypted notes, newest first.", _casework),
    "document": ("A case's documents (PDF, PNG, JPEG, plain text), stored encrypted.", _casework),
    "referral": ("A case's NRM referral: ANITP record number, date, referring body.", _casework),
    "assess": (
        "Structured assessments (risk, needs and skills, family) and proposed services.",
        _casework,
    ),
    "providers": (
        "The service directory: services offered per county, with capacity.",
        _casework,
    ),
}


@cache
def _stubs() -> dict[str, Any]:
    """Stand-ins that only list a command in ``--help``: its name and help, nothing imported."""
    holder = _holder()
    for name, (help_text, _) in LAZY.items():
        if name != "demo":
            holder.command(name, help=help_text)(_unloaded)
    return dict(typer.main.get_group(holder).commands)


def _unloaded() -> None:  # pragma: no cover (a stand-in is listed, never run)
    raise AssertionError("a stand-in command ran")


class LazyGroup(TyperGroup):
    """The ``homeward`` group: a command's module is imported when the command is looked up to
    run (or for its own ``--help``); listing the commands (``homeward --help``) imports none."""

    listing = False

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        eager = dict(self.commands)  # those defined in this module (demo)
        stubs = _stubs()
        self.commands = {name: eager.get(name) or stubs[name] for name in LAZY}
        self._stubs = {id(stub) for stub in stubs.values()}

    def get_command(self, ctx: Any, cmd_name: str) -> Any:  # noqa: ARG002 (click's signature)
        command = self.commands.get(cmd_name)
        if command is None or self.listing or id(command) not in self._stubs:
            return command
        return self.load(cmd_name)

    def load(self, cmd_name: str) -> Any:
        """The real command ``cmd_name`` (and the others its loader registers)."""
        loaded = typer.main.get_group(LAZY[cmd_name][1]()).commands
        self.commands.update({name: loaded[name] for name in loaded if name in self.commands})
        return self.commands[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False


app = typer.Typer(
    cls=LazyGroup,
    help="Homeward: assisted return and reintegration workflows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # rich tracebacks print local variables: never with our data
    add_completion=False,
)


@app.callback()
def _root() -> None:
    # A callback makes ``app`` a group (its one eager command would otherwise be the whole app);
    # without a docstring, the help above stays the group's.
    pass


def loaded_command() -> Any:
    """The whole ``homeward`` command tree, every command loaded (for tests that walk it)."""
    group = typer.main.get_command(app)
    assert isinstance(group, LazyGroup)  # noqa: S101 (how app is built)
    for name in LAZY:
        if name != "demo":
            group.load(name)
    return group


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
    except Exception as exc:  # noqa: BLE001 (sorted below)
        _fail_unexpected(exc)
    if isinstance(result, int) and result:
        sys.exit(result)


def _raised(exc: Exception, module: str, name: str) -> bool:
    """Whether ``exc`` is ``module.name``: never true when that module was never imported (the
    command did not use it), so naming the class does not cost its import."""
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(exc, getattr(loaded, name))


def _fail_unexpected(exc: Exception) -> None:
    if _raised(exc, "pydantic_core", "ValidationError"):  # settings read from the environment
        error = exc.errors()[0]  # type: ignore[attr-defined]
        field = "HOMEWARD_" + str(error["loc"][0]).upper() if error["loc"] else "settings"
        _fail(f"{field}: {error['msg']}", 2)
    elif _raised(exc, "sqlalchemy.exc", "OperationalError"):
        _fail(
            f"database error ({type(getattr(exc, 'orig', None)).__name__}); check "
            "HOMEWARD_DATABASE_URL and that the database is reachable and upgraded "
            "(`homeward db upgrade`)",
            6,
        )
    else:
        if os.environ.get("HOMEWARD_DEBUG") == "1":
            raise exc
        _fail(
            f"unexpected failure ({type(exc).__name__}); rerun with HOMEWARD_DEBUG=1 "
            "on a test database to see the traceback",
            70,
        )

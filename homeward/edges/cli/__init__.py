"""The ``homeward`` command line: typer commands over the engine, rich tables for people.

Every error a user can cause becomes one line on stderr and a non-zero exit; an unexpected
failure prints only its type (never its message, which could carry data) unless
``HOMEWARD_DEBUG=1``.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from functools import cache
from typing import Any, NamedTuple

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from homeward.base.errors import HomewardError
from homeward.edges.cli.consoles import err_console

# The command tree is loaded lazily: ``homeward case show`` imports the modules behind
# ``homeward case`` and nothing else (no mail, imports, reporting, Prefect or psycopg), and
# ``homeward --help`` imports none of them (tests/cli/test_imports.py holds this). Each loader
# registers its commands on a holder app exactly as they were registered eagerly, once a process.


class _Step(NamedTuple):
    """One thing a loader puts on its holder app: ``attribute`` of the CLI module ``module``.

    Without a ``name``, the attribute is a register function, called with the holder (or with
    ``onto``); with one, it is a sub-app added as that group, or a function added as that command
    (its help the module's ``help`` attribute when given, else its docstring)."""

    module: str
    attribute: str
    name: str = ""
    onto: str = ""  # "module.app": registered on that app instead of the holder
    help: str = ""


# What each loader imports and registers, in the order it registers it.
_LOADERS: dict[str, tuple[_Step, ...]] = {
    # login first: every staff command acts as the signed-in person
    "signin": (_Step("signin", "register"),),
    "up": (_Step("up", "up", "up"),),
    "deploy": (_Step("deploy", "deploy", "deploy"),),
    "health": (_Step("health", "health", "health"),),
    "web": (_Step("web", "web", "web"),),
    "backup": (
        _Step("backup", "backup_command", "backup", help="BACKUP_HELP"),
        _Step("backup", "restore_command", "restore", help="RESTORE_HELP"),
    ),
    "directory": (
        _Step("dbroles", "db_roles", "roles", onto="admin.db_app"),
        _Step("admin", "db_app", "db"),
        _Step("admin", "org_app", "org"),
        _Step("admin", "staff_app", "staff"),
        _Step("admin", "admin_app", "admin"),
    ),
    "case": (_Step("cases", "case_app", "case"),),  # its other modules: CASE_PARTS
    "items": (
        _Step("adhoc", "register", onto="items.items_app"),
        _Step("items", "items_app", "items"),
    ),
    "protect": (
        _Step("family", "register_keys", onto="protect.keys_app"),
        _Step("protect", "consent_app", "consent"),
        _Step("protect", "keys_app", "keys"),
        _Step("protect", "audit_app", "audit"),
        _Step("protect", "retention_app", "retention"),
    ),
    "mail": (_Step("mail", "mail_app", "mail"),),
    "reports": (
        _Step("reports", "programme_app", "programme"),
        _Step("reports", "report_app", "report"),
        _Step("reports", "export_app", "export"),
    ),
    "imports": (_Step("imports", "import_app", "import"),),
    "casework": (  # issue 16
        _Step("plan", "register"),
        _Step("visits", "register"),
        _Step("journal", "register"),
        _Step("referral", "register"),
        _Step("assessments", "register"),
    ),
}


# The parts of ``homeward case`` in other modules, in the order ``homeward case --help`` lists
# them (after cases.py's own): each register function and the sub-commands it adds. A part is
# imported when one of its sub-commands is looked up to run (or for its own ``--help``), and
# every part for ``homeward case --help``; ``homeward case show`` imports none of them.
# tests/cli/test_imports.py checks the names against what each register function adds.
CASE_PARTS: dict[_Step, tuple[str, ...]] = {
    _Step("closures", "register"): ("request-closure", "approve-closure", "reject-closure"),
    _Step("family", "register_case"): ("add-person", "people", "remove-person", "find"),
    _Step("assessments", "register_case"): ("set-county",),
}


def _cli(dotted: str) -> Any:
    """``module.attribute`` of a CLI module (importing the module)."""
    module, attribute = dotted.split(".")
    return getattr(importlib.import_module(f"homeward.edges.cli.{module}"), attribute)


@cache
def _load(loader: str) -> typer.Typer:
    """A holder app with the commands of ``loader`` registered on it (once a process)."""
    holder = typer.Typer()
    for step in _LOADERS[loader]:
        found = _cli(f"{step.module}.{step.attribute}")
        target = _cli(step.onto) if step.onto else holder
        if not step.name:
            found(target)
        elif isinstance(found, typer.Typer):
            target.add_typer(found, name=step.name)
        else:
            helps = {"help": _cli(f"{step.module}.{step.help}")} if step.help else {}
            target.command(step.name, **helps)(found)
    return holder


# Every top-level command in the order ``homeward --help`` lists it: its name, the first
# paragraph of its help (what the list shows, without importing it) and its loader.
# tests/cli/test_imports.py checks the help against the loaded command.
LAZY: dict[str, tuple[str, str]] = {
    "login": (
        "Sign in: a one-time code is sent to your staff email; type it to open a session.",
        "signin",
    ),
    "logout": ("End this session here and on the server.", "signin"),
    "whoami": ("Who you are signed in as.", "signin"),
    "assertion": (
        "A signed assertion for one Prefect run of FLOW: paste it into the run's `assertion`\n"
        "field. It acts for you, works for one run, and must be used within minutes.",
        "signin",
    ),
    "up": (
        "Start Prefect (server and UI) and serve Homeward's flows on their schedules until Ctrl-C.",
        "up",
    ),
    "deploy": (
        "Register every flow as a deployment on a work pool (PREFECT_API_URL's server), with the\n"
        "forms, schedules and schema checks `homeward up` serves them with.",
        "deploy",
    ),
    "health": (
        "Say whether the schedules ran on time, their last runs succeeded and mail flows.",
        "health",
    ),
    "web": ("Serve the staff web workspace (sign in, my work, cases) until Ctrl-C.", "web"),
    "backup": (
        "Back up the database to FILE while Homeward keeps working (one consistent snapshot).",
        "backup",
    ),
    "restore": (
        "Replace the database's content with the backup in FILE, then verify the audit log.",
        "backup",
    ),
    "demo": ("", ""),  # defined below, loaded with the app
    "sessions": ("Your sessions: list them, end one.", "signin"),
    "db": ("Database schema.", "directory"),
    "org": ("Organisations taking part in returns.", "directory"),
    "staff": ("Staff members of the organisations.", "directory"),
    "admin": ("The first platform administrator.", "directory"),
    "case": ("Return cases.", "case"),
    "items": ("Checklist items and their handoffs.", "items"),
    "consent": ("The person's consents, per purpose.", "protect"),
    "keys": ("Encryption keys (keep the key file backed up offline).", "protect"),
    "audit": ("The tamper-evident audit log.", "protect"),
    "retention": ("Purging closed cases' personal data.", "protect"),
    "mail": ("Email reminders and notices: preview, outbox, sending.", "mail"),
    "programme": ("Programmes (grants) and their targets.", "reports"),
    "report": ("Aggregate reports, small cells suppressed.", "reports"),
    "export": ("Case-level exports (audited).", "reports"),
    "import": ("Import existing cases.", "imports"),
    "plan": ("A case's reintegration plan: versions, goals, services, approval.", "casework"),
    "visit": ("Follow-up visits and their monitoring form.", "casework"),
    "journal": ("The case journal: encrypted notes, newest first.", "casework"),
    "document": ("A case's documents (PDF, PNG, JPEG, plain text), stored encrypted.", "casework"),
    "referral": ("A case's NRM referral: ANITP record number, date, referring body.", "casework"),
    "assess": (
        "Structured assessments (risk, needs and skills, family) and proposed services.",
        "casework",
    ),
    "providers": (
        "The service directory: services offered per county, with capacity.",
        "casework",
    ),
}


@cache
def _stubs() -> dict[str, Any]:
    """Stand-ins that only list a command in ``--help``: its name and help, nothing imported.

    Made as the click commands typer would make of a function without parameters, not through
    ``typer.main.get_group``, which reads each stand-in's signature and type hints: half a per
    cent of ``homeward case show``'s CPU for 36 commands it does not run (issue 19)."""
    return {
        name: TyperCommand(name=name, help=help_text, callback=_unloaded)
        for name, (help_text, _) in LAZY.items()
        if name != "demo"
    }


def _unloaded() -> None:  # pragma: no cover (a stand-in is listed, never run)
    raise AssertionError("a stand-in command ran")


@cache
def _part(step: _Step) -> dict[str, Any]:
    """The click commands a part's register function adds (importing its module once)."""
    holder = typer.Typer()
    _cli(f"{step.module}.{step.attribute}")(holder)
    return dict(typer.main.get_group(holder).commands)


class LazyCaseGroup(TyperGroup):
    """The ``homeward case`` group: cases.py's own commands, and the parts in ``CASE_PARTS``
    added when first needed, always in the order they were registered eagerly."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._own = list(self.commands)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:  # noqa: ARG002 (click's signature)
        if cmd_name not in self.commands:
            for step, names in CASE_PARTS.items():
                if cmd_name in names:
                    self._add(step)
        return self.commands.get(cmd_name)

    def list_commands(self, ctx: Any) -> list[str]:
        self.load_all()
        return super().list_commands(ctx)

    def load_all(self) -> None:
        """Every part's commands (for ``homeward case --help`` and tests walking the tree)."""
        for step in CASE_PARTS:
            self._add(step)

    def _add(self, step: _Step) -> None:
        added = {**self.commands, **_part(step)}
        order = self._own + [name for names in CASE_PARTS.values() for name in names]
        self.commands = {name: added[name] for name in order if name in added}


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

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        found = super().resolve_command(ctx, args)
        _collect_from_now_on()  # the command's modules are loaded
        return found

    def load(self, cmd_name: str) -> Any:
        """The real command ``cmd_name`` (and the others its loader registers)."""
        loaded = typer.main.get_group(_load(LAZY[cmd_name][1])).commands
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
    case = group.commands["case"]
    assert isinstance(case, LazyCaseGroup)  # noqa: S101 (how case_app is built)
    case.load_all()
    return group


@app.command()
def demo(
    keep: str = typer.Option(None, help="keep the demo database at this path (default: discard)"),
) -> None:
    """Seed a fresh temporary database, run a family case, an internal case and a minor's case to
    closure, print each one's timeline, plan and visits."""
    from homeward.edges.demo import run_demo  # edge module: reaches into the card packages

    run_demo(keep=keep)


# A process's first ``main`` turns Python's cyclic garbage collector off while the command's
# modules load, and on again once they are: the objects loaded by then (SQLAlchemy's, pydantic's,
# typer's, the tables'...) are moved to the permanent generation (``gc.freeze``), which no
# collection walks. Loading ``homeward case show``'s modules with it on ran about 200
# collections, each walking all that was loaded so far: a tenth of the command's CPU (issue 19).
# A long-running command (``up``, ``web``) collects as usual from then on; what it loaded lives
# as long as it does anyway. (Tests call ``main`` many times in one process: only the first.)
_first = True
_loading = False


def _collect_from_now_on() -> None:
    global _loading  # noqa: PLW0603 (once a process)
    if _loading:
        _loading = False
        gc.freeze()
        gc.enable()


def _fail(message: str, code: int) -> None:
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(code)


def main() -> None:
    """Console-script entry point."""
    global _first, _loading  # noqa: PLW0603 (once a process)
    # pydantic looks for plugins (entry points of every installed distribution: 1.3% of ``homeward
    # case show``'s CPU, issue 19) when it builds its first validator. A plugin is handed every
    # value validated, the person's data among them: Homeward runs none, unless an operator sets
    # the variable himself.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if _first and gc.isenabled():
        _first, _loading = False, True
        gc.disable()
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
    finally:
        _collect_from_now_on()  # if no command was found (``--help``, a usage error)
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

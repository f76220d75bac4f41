"""Each command imports only what it uses (issue 19): ``homeward --help`` loads none of the
engine, and a read such as ``homeward case show`` none of the mail, calendar, import, reporting,
Prefect, web server or PostgreSQL driver machinery. Most of a command's wait is imports; speed
itself is measured by bench/cli_bench.py, never here.

Each command runs as a new process through the real entry point, and reports the modules it had
loaded when it exited, which table classes it had defined (``homeward.base.models`` defines a
table's class when it is first named: defining all 39 was a fifth of ``case show``'s start-up),
which of them had built their pydantic validator (none for a read: building them all at import
was a tenth of it), and whether the garbage collector was on again after the command loaded."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from homeward.base.clock import SYSTEM_CLOCK
from tests import factories as f
from tests.signin import token_for

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import gc, json, sys
out, sys.argv = sys.argv[1], ["homeward", *sys.argv[2:]]
from homeward.edges.cli import main
try:
    main()
finally:
    models = sys.modules.get("homeward.base.models")
    tables = [m.class_ for m in models.SQLModel._sa_registry.mappers] if models else []
    built = sorted(t.__name__ for t in tables if t.__pydantic_complete__)
    found = {"modules": sorted(sys.modules), "tables": len(tables), "built": built}
    found["metadata"] = sorted(models.SQLModel.metadata.tables) if models else []
    found["gc"] = {"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}
    loader = sys.modules.get("pydantic.plugin._loader")
    found["plugins_sought"] = loader is not None and loader._plugins is not None
    with open(out, "w") as file:
        json.dump(found, file)
"""
# Never needed by a command that does not start servers, mail, import, report or back up.
HEAVY = [
    "prefect",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "openpyxl",
    "alembic",
    "aiosmtplib",
    "homeward.intake",
    "homeward.reporting",
    "homeward.edges.web",
]
MAIL = ["notifications", "jinja2", "icalendar"]  # loaded for a write (it may queue mail)
# (not pydantic: typer itself converts some option values with it)
ENGINE = ["sqlalchemy", "sqlmodel", "cryptography", "homeward.base.models", "homeward.crypt"]


def probe(args: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``homeward ARGS``: the modules it loaded, how many table classes it defined and
    which of them had their pydantic validator built."""
    out = tmp_path / "modules.json"
    done = subprocess.run(  # noqa: S603 (our own entry point)
        [sys.executable, "-c", PROBE, str(out), *args],
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.exists(), done.stderr[-2000:]
    return dict(json.loads(out.read_text()))


def loaded(args: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> set[str]:
    return set(probe(args, tmp_path, env)["modules"])


def unneeded(modules: set[str], forbidden: list[str]) -> list[str]:
    """The forbidden packages among ``modules`` (a package counts with any of its modules)."""
    return sorted({f for f in forbidden for m in modules if m == f or m.startswith(f + ".")})


def on_sqlite() -> list[str]:
    """PostgreSQL's driver, and SQLAlchemy's PostgreSQL dialect (loaded by a model's index
    options or a dialect's ``insert`` once: now only when a PostgreSQL engine is made)."""
    on = os.environ.get("HOMEWARD_TEST_DB", "sqlite") == "sqlite"
    return ["psycopg", "sqlalchemy.dialects.postgresql"] if on else []


# ``homeward case``'s parts in other modules (closures, family, assessments): loaded for their
# own sub-commands and ``homeward case --help``, never for cases.py's own commands.
CASE_PARTS = [
    "homeward.edges.cli.closures",
    "homeward.edges.cli.family",
    "homeward.edges.cli.assessments",
    "homeward.commands.closures",
    "homeward.commands.family",
    "homeward.commands.assessments",
    "homeward.commands.providers",
]

# The table modules (``homeward.base.models``) of mail, programmes, imports and the casework
# depth: no read below names their tables. ``case show`` defines 9 of the 39 tables.
UNUSED_TABLES = [
    "homeward.base.models.mail",
    "homeward.base.models.programmes",
    "homeward.base.models.plans",
    "homeward.base.models.visits",
    "homeward.base.models.notes",
    "homeward.base.models.referrals",
]
# ... nor, but for ``homeward case --help`` (which loads ``CASE_PARTS``), these.
PART_TABLES = ["homeward.base.models.assessments", "homeward.base.models.providers"]
# ... nor these, which a change, a sign-in or a read of personal data names: the audit log's and
# the row seals' tables (``records.auditlog``, ``records.seals``) and the person's own (the
# vault's; ``case show`` lists family members from ``models.family``).
WRITTEN_TABLES = ["homeward.base.models.audit", "homeward.base.models.personal"]
# ... nor, but for ``homeward case history``, the case history's; nor, but for the item
# commands, the handoffs' and item changes' (``case show`` lists items, not their handoffs).
HISTORY_TABLES = ["homeward.base.models.events"]
ITEM_TABLES = ["homeward.base.models.handoffs"]
# The commands that change a case or an item: ``case show`` and ``case history`` load neither
# (``homeward.commands.texts`` holds what ``show --personal`` shares with ``items show``).
CHANGES = ["homeward.commands.cases", "homeward.commands.items"]

# Loaded by a model that checks an email address, when it first checks one; a read checks none.
# click itself (typer carries its own copy): only for ``--edit``, which opens $EDITOR.
# itsdangerous: signs and reads run assertions (Prefect runs); a CLI command shows a session.
NOT_FOR_A_READ = ["email_validator", "click", "itsdangerous"]


@pytest.mark.parametrize("args", [["--help"], [], ["no-such-command"]])
def test_help_and_usage_errors_load_none_of_the_engine(args, tmp_path):
    modules = loaded(args, tmp_path)
    assert "typer" in modules
    forbidden = [*HEAVY, *MAIL, *ENGINE, *NOT_FOR_A_READ, "psycopg", "homeward.commands"]
    assert unneeded(modules, forbidden) == []
    assert [m for m in modules if m.startswith("homeward.edges.cli.")] == [
        "homeward.edges.cli.consoles"
    ]


@pytest.fixture
def signed_in(db_url, clock) -> tuple[dict[str, str], str]:
    f.seed()
    ref = f.open_case(clock)
    return {"HOMEWARD_SESSION": token_for(f.COORD, SYSTEM_CLOCK.now())}, ref


@pytest.mark.parametrize(
    "args",
    [
        ["case", "show", "REF"],
        ["case", "--help"],
        ["items", "list", "--case", "REF"],
        ["whoami"],
        ["org", "list"],
        ["case", "history", "REF"],
    ],
    ids=" ".join,
)
def test_a_read_loads_no_mail_server_import_or_report_machinery(args, signed_in, tmp_path):
    env, ref = signed_in
    found = probe([ref if a == "REF" else a for a in args], tmp_path, env)
    modules = set(found["modules"])
    assert "homeward.commands.runner" in modules or args[-1] == "--help"
    assert unneeded(modules, [*HEAVY, *MAIL, *NOT_FOR_A_READ, *UNUSED_TABLES, *on_sqlite()]) == []
    if args[-1] != "--help":
        assert unneeded(modules, PART_TABLES) == []
    assert unneeded(modules, WRITTEN_TABLES) == []
    if args[:2] != ["case", "history"]:
        assert unneeded(modules, HISTORY_TABLES) == []
    # the collector was off while the command loaded, and is on for what it does next
    assert found["gc"]["enabled"] and found["gc"]["frozen"] > 0
    # pydantic never read every installed distribution's entry points for plugins
    assert not found["plugins_sought"]
    # A read validates no row: the table classes' pydantic validators are built on first use
    # (``models.TableModel``), never at import.
    assert found["tables"] > 0 and found["built"] == []
    if args[:2] in (["case", "show"], ["case", "history"]):
        assert unneeded(modules, [*CASE_PARTS, *CHANGES, *ITEM_TABLES]) == []
    if args == ["case", "--help"]:  # lists every sub-command, so loads every part
        assert unneeded(modules, CASE_PARTS) == sorted(CASE_PARTS)


def test_a_write_subscribes_the_mail_listeners(signed_in, tmp_path):
    """A change and the emails it causes commit together: the case history's listeners
    (``notifications``) are loaded for every write, whichever command makes it."""
    env, ref = signed_in
    modules = loaded(["case", "advance", ref, "lose_contact"], tmp_path, env)
    assert "notifications.notices" in modules and "notifications.invitations" in modules
    assert unneeded(modules, [*HEAVY, *on_sqlite()]) == []


def test_the_command_list_shows_each_command_as_loaded():
    """``homeward --help`` lists the commands from their stand-ins (nothing imported): each
    stand-in's help is the loaded command's first paragraph."""
    import inspect

    from homeward.edges.cli import LAZY, loaded_command

    group = loaded_command()
    assert list(group.commands) == list(LAZY)
    for name, (help_text, _) in LAZY.items():
        command = group.commands[name]
        real = inspect.cleandoc(command.short_help or command.help or "").split("\n\n")[0]
        assert (help_text or real) == real.strip(), name


def test_each_case_part_lists_the_commands_it_registers():
    """``homeward case`` finds a part's module by the sub-command names listed in
    ``CASE_PARTS``: they are exactly what the part's register function adds."""
    import typer

    from homeward.edges.cli import CASE_PARTS as parts
    from homeward.edges.cli import _cli

    for step, names in parts.items():
        holder = typer.Typer()
        _cli(f"{step.module}.{step.attribute}")(holder)
        assert tuple(c.name for c in holder.registered_commands) == names, step.module


def test_what_needs_every_table_defines_them(db_url, tmp_path):
    """Migrations (and so the backup's restore, which upgrades) compare and create with every
    table; the row seals find a case's tables by name: each in a new process, as a command
    would, gets the table classes it names defined, and ``metadata()`` all of them."""
    from homeward.base import models

    every = sorted(models.metadata().tables)
    assert len(every) == sum(name[0].isupper() for name in models.TABLES)  # each table class
    found = probe(["db", "upgrade"], tmp_path)
    assert "alembic" in found["modules"] and found["metadata"] == every
    sealed = subprocess.run(  # noqa: S603 (our own modules)
        [sys.executable, "-c", SEALS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(sealed.stdout) == every


SEALS = """
import json
from sqlmodel import SQLModel
from homeward.records import seals
named = [seals._table(name).name for name in seals.SEALED]
print(json.dumps(sorted(SQLModel.metadata.tables)))
"""

METADATA_READER = re.compile(r"\bSQLModel\s*\.\s*metadata\b|_sa_registry\b")


def test_only_the_models_package_reads_the_metadata():
    """``SQLModel.metadata`` holds only the tables a process has named so far: whatever walks
    every table asks ``models.metadata()`` (or ``models.table(name)``), never the attribute, so
    none can forget to define them first."""
    own = {ROOT / "homeward/base/models/__init__.py", Path(__file__).resolve()}
    readers = [
        str(path.relative_to(ROOT))
        for folder in ("homeward", "workflows", "notifications", "statemachines", "tasks", "tests")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path not in own and METADATA_READER.search(path.read_text(encoding="utf-8"))
    ]
    assert readers == ["tests/workflows/test_serving.py"]  # its mappers left to configure


FRESH_CASE = """
import json
from homeward.base.models import Case
from sqlalchemy import inspect
print(json.dumps(sorted(t.name for t in inspect(Case)._sorted_tables)))
"""


def test_a_table_class_brings_the_tables_its_foreign_keys_point_at():
    """Naming one table class defines the classes of the tables its foreign keys point at: a
    flush sorts a table by them, and fails on a foreign key to a table not defined (a command
    that named ``Case`` but never ``StaffMember`` could not insert a case). Each table module
    imports the modules its foreign keys point into; checked here from their sources, and once
    in a new process."""
    import ast

    from homeward.base import models

    models.load_all_tables()
    module_of = {
        mapper.local_table.name: mapper.class_.__module__
        for mapper in models.SQLModel._sa_registry.mappers
    }

    def imported(module: str) -> set[str]:
        """The table modules ``module`` imports, and theirs."""
        path = ROOT / (module.replace(".", "/") + ".py")
        found = {
            alias.name
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Import)
            for alias in node.names
            if alias.name.startswith("homeward.base.models.")
        }
        return found.union(*(imported(m) for m in found))

    missing = {
        (name, fk.column.table.name)
        for name, table in models.metadata().tables.items()
        for fk in table.foreign_keys
        if module_of[fk.column.table.name] not in {module_of[name], *imported(module_of[name])}
    }
    assert missing == set()
    done = subprocess.run(  # noqa: S603 (our own modules)
        [sys.executable, "-c", FRESH_CASE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout) == ["return_case"]

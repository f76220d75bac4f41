"""Schema migrations with Alembic, driven from code (``homeward db upgrade``)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

from homeward.base.db import get_engine
from homeward.base.errors import SetupRefused

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic (and the Mako, Pygments and dialect modules it brings) is imported only to change a
# schema: every command checks the schema (``ensure_schema``), and that check reads the version
# table and the migration files' headers without it (tests/homeward/test_db.py compares).
MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"
# A line's start is spelt ``\n`` (the source is read with one put before it), not ``^``: a pattern
# that opens with a literal is searched for as a string, while ``^`` under ``re.M`` was tried at
# each of the 330 kB's characters, 2% of ``homeward case show``'s CPU (issue 19).
_REVISION = re.compile(r"\nrevision\s*(?::[^=\n]*)?=\s*[\"']([^\"'\n]+)[\"']\s*$", re.M)
_DOWN = re.compile(r"\ndown_revision\s*(?::[^=\n]*)?=\s*(?:None|[\"']([^\"'\n]+)[\"'])\s*$", re.M)


def alembic_config(engine: Engine) -> Config:
    """An Alembic config pointing at our migrations and at ``engine``'s database."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine | None = None, revision: str = "head") -> str:
    """Bring the database up to ``revision``; return the revision it is at afterwards."""
    from alembic import command

    engine = engine or get_engine()
    config = alembic_config(engine)
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        with conn.begin():
            if postgres:
                conn.exec_driver_sql("RESET ROLE")  # schema changes are the owner's
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
        if postgres:
            conn.invalidate()  # it has left its role behind: never back into the pool
    return current_revision(engine) or "base"


def current_revision(engine: Engine | None = None) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with (engine or get_engine()).connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        found = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        if len(found) <= 1:
            return found[0] if found else None
        from alembic.runtime.migration import MigrationContext  # several heads: its refusal

        return MigrationContext.configure(conn).get_current_revision()


@cache
def head_revision() -> str:
    """The newest revision shipped with this version of Homeward."""
    return shipped_head() or alembic_head()


def shipped_head() -> str | None:
    """The head read from the migration files' ``revision``/``down_revision`` lines, without
    importing them or Alembic; None when they do not form one plain chain (Alembic decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = "\n" + path.read_text(encoding="utf-8")
        revision, down = _REVISION.findall(source), _DOWN.search(source)
        if len(revision) != 1 or down is None:
            return None  # a merge (a tuple), or a file written some other way
        revisions.add(revision[0])
        if down.group(1):
            parents.add(down.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None


def alembic_head() -> str:
    """The head as Alembic finds it (importing every migration)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None, "no migrations shipped"  # noqa: S101 (packaging invariant)
    return head


_AT_HEAD: set[str] = set()  # databases this process found at the head revision


def ensure_schema(engine: Engine | None = None) -> None:
    """Refuse to work on a database that is not at this version's schema.

    Asked once per database and process: a schema is only ever upgraded, by ``homeward db
    upgrade`` while Homeward is stopped, so a database once found at the head stays there."""
    engine = engine or get_engine()
    where = engine.url.render_as_string(hide_password=True)
    if where in _AT_HEAD:
        return
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SetupRefused(
            f"the database is at schema {current or 'empty'}, this Homeward needs "
            f"{head}; run `homeward db upgrade`"
        )
    _AT_HEAD.add(where)

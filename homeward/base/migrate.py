"""Schema migrations with Alembic, driven from code (``homeward db upgrade``)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from homeward.base.db import get_engine
from homeward.base.errors import SetupRefused

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    """An Alembic config pointing at our migrations and at ``engine``'s database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine | None = None, revision: str = "head") -> str:
    """Bring the database up to ``revision``; return the revision it is at afterwards."""
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
        return MigrationContext.configure(conn).get_current_revision()


@cache
def head_revision() -> str:
    """The newest revision shipped with this version of Homeward."""
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

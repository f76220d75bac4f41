"""Alembic environment: runs against the connection Homeward hands it (see
homeward.base.migrate)."""

from __future__ import annotations

from alembic import context

from homeward.base.db import get_engine
from homeward.base.models import metadata

config = context.config
target_metadata = metadata()  # every table defined


def run_migrations_online() -> None:
    """Use the connection passed in ``config.attributes`` or open one to the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    with get_engine(config.get_main_option("sqlalchemy.url") or None).connect() as conn:
        _run(conn)
        conn.commit()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite needs batch mode to alter tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()

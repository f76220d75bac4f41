"""Narrow facts across organisations, asked without the system scope.

The app's login may not act for the system on PostgreSQL (migration 0015), yet a few steps of
an ordinary command need one fact about rows the acting organisation cannot see: whether a
case_ref or a programme code is taken, the version another transaction committed. Each is one
definer function there, answering only that; SQLite has no row security and reads the table.
(The duplicate-person check asks nothing across organisations: it looks at the opener's own.)
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import text
from sqlmodel import Session, col, select

from homeward.base import models
from homeward.base.db import is_postgres
from homeward.base.models import Case


def refs_taken(session: Session, refs: Collection[str]) -> set[str]:
    """Which of ``refs`` a case of any organisation already holds."""
    if is_postgres(session):
        found = session.execute(
            text("SELECT * FROM homeward_case_refs_taken(:r)"), {"r": list(refs)}
        )
        return set(found.scalars())
    return set(session.exec(select(Case.case_ref).where(col(Case.case_ref).in_(refs))))


def programme_code_taken(session: Session, code: str) -> bool:
    """Whether a programme of any organisation has ``code``."""
    if is_postgres(session):
        query = text("SELECT homeward_programme_code_taken(:c)")
        return bool(session.execute(query, {"c": code}).scalar_one())
    programme = models.Programme  # named here: no other function of this module uses it
    return session.exec(select(programme.id).where(programme.code == code)).first() is not None


def committed_version(session: Session, case_id: int) -> int | None:
    """The case's version as committed (PostgreSQL: read on a connection of its own)."""
    with session.get_bind().engine.connect() as conn:
        query = text("SELECT homeward_case_version(:i)")
        version: int | None = conn.execute(query, {"i": case_id}).scalar_one_or_none()
        return version

"""Optimistic locking on a case: every change to a case or its items bumps ``Case.version``.

A caller that read the case at some version may pass it as ``expected_version``; if the case
has moved on since, the change is refused with one line saying both versions and how to
reload. Two writers that read the same version race on the version column: the second one's
``UPDATE ... WHERE version = v`` matches no row and is refused the same way (``Conflict``),
so a transition and an item change on one case can never both build on the same state.
"""

from __future__ import annotations

from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session

from homeward.base.errors import Conflict
from homeward.base.models import Case
from homeward.records.crossorg import committed_version


def changed_elsewhere(case_ref: str, current: int | None, had: int) -> Conflict:
    """The one-line refusal of a change based on an old version of the case."""
    now_at = f"version {current}, " if current is not None else ""
    return Conflict(
        f"case {case_ref} was changed by someone else ({now_at}you had {had}); "
        f"reload it with `homeward case show {case_ref}` and retry"
    )


def check_version(case: Case, expected_version: int | None) -> None:
    """Refuse if the caller read the case at another version than it is at now."""
    if expected_version is not None and case.version != expected_version:
        raise changed_elsewhere(case.case_ref, case.version, expected_version)


def bump(session: Session, case: Case, expected_version: int | None = None) -> None:
    """Check ``expected_version``, then write the case's next version now (an UPDATE guarded by
    the version read): the row is locked for the rest of the transaction, and a concurrent
    change committed since this transaction read the case makes it a ``Conflict``."""
    check_version(case, expected_version)
    had, ref, case_id = case.version, case.case_ref, case.id  # a failed flush expires the row
    flag_modified(case, "state")  # an UPDATE of an unchanged column still bumps the version
    session.add(case)
    try:
        session.flush()
    except StaleDataError:
        raise changed_elsewhere(ref, _committed_version(session, case_id), had) from None


def _committed_version(session: Session, case_id: int | None) -> int | None:
    """The version another transaction committed (PostgreSQL; SQLite writers queue instead)."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql" or case_id is None:
        return None
    return committed_version(session, case_id)

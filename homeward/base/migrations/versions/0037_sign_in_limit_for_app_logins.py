"""the database's hourly limit on sign-in codes holds the app's login, not the system's

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07 10:20:00

0032's ``homeward_open_challenge`` counts the codes sent to a staff member in the last hour
(``homeward_code_mail``, the database's clock) and refuses the eleventh. That limit is there for
an insider with the app's login, who could otherwise flood a person's mailbox and replace their
live code at will. A login of ``homeward_system_scope`` (the scheduler's, the operator's, the
tables' owner) reads unsent codes and acts for any organisation already: the limit guards
nothing against it, and it broke ``homeward demo`` on PostgreSQL, which signs its staff in again
each time a session expires on its simulated clock (months of casework in a few real seconds).
From here the count and the refusal apply to every other login; the hourly limit of
``homeward.protection.identity`` (``login_codes_per_hour``, by address) still applies to all.
Every other line of the function is 0036's.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

from homeward.base.migrations.earlier import earlier

revision: str = "0037"
down_revision: str | Sequence[str] | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIMITED = "IF (SELECT count(*) FROM public.homeward_code_mail c WHERE c.staff_id = member.id)"
TRUSTED = "pg_has_role(session_user, 'homeward_system_scope', 'MEMBER')"



def _open_challenge_0036() -> str:
    """``homeward_open_challenge`` as 0036 left it (``CREATE OR REPLACE``)."""
    before = earlier("0036_sign_in_tries_runs_and_times_the_app_cannot_bend.py")
    return str(before._checked(before._functions_of_0032()["homeward_open_challenge"]))


def _limited_to_app_logins(source: str) -> str:
    assert source.count(LIMITED) == 1  # noqa: S101 (our own source)
    return source.replace(LIMITED, f"IF NOT {TRUSTED} AND {LIMITED.removeprefix('IF ')}")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # CREATE OR REPLACE keeps the function's owner (homeward_definer) and its grants
    op.execute(_limited_to_app_logins(_open_challenge_0036()))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_open_challenge_0036())

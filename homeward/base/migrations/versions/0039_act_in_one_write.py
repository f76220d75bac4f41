"""a signed-in person's scope is written in one statement, not set and then updated

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-07 12:30:00

0032's ``homeward_act`` (the app's login acting for the live session its token opens) wrote the
transaction's scope twice: ``homeward_set_scope`` inserted or reset the row (session empty), then
an ``UPDATE`` put the session's id in it, under the same lock, in the same function. From here
one ``INSERT ... ON CONFLICT`` writes the same row: the organisation, the staff member, the
system flag off and the session's id. The lookup, its refusal and the value returned are
0032's lines; so are every other function and the grants (``CREATE OR REPLACE`` keeps the
function's owner, ``homeward_definer``, and who may call it).
"""

from collections.abc import Sequence

from alembic import op

from homeward.base.migrations.earlier import earlier

revision: str = "0039"
down_revision: str | Sequence[str] | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SET_THEN_UPDATE = """    PERFORM public.homeward_set_scope(found.org_id, found.id);
    UPDATE public.homeward_scope SET session_id = found.session_id WHERE pid = pg_backend_pid();
"""
# homeward_set_scope's statement (0032), the session's id written with the rest
IN_ONE = """    INSERT INTO public.homeward_scope (pid, xact, org_id, staff_id, system, session_id)
    VALUES (pg_backend_pid(), txid_current(), found.org_id, found.id, false, found.session_id)
    ON CONFLICT (pid) DO UPDATE SET xact = excluded.xact, org_id = excluded.org_id,
        staff_id = excluded.staff_id, system = false, session_id = excluded.session_id;
"""


def _act_0032() -> str:
    """``homeward_act`` as 0032 left it (``CREATE OR REPLACE``; no later migration changed it)."""
    scope: str = earlier("0032_sign_in_made_in_the_database.py").SCOPE
    start = scope.index("CREATE OR REPLACE FUNCTION homeward_act(token text)")
    end = scope.index("END $$", start) + len("END $$")
    return scope[start:end]


def _act_in_one_write() -> str:
    source = _act_0032()
    assert source.count(SET_THEN_UPDATE) == 1  # noqa: S101 (our own source)
    return source.replace(SET_THEN_UPDATE, IN_ONE)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_act_in_one_write())


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_act_0032())

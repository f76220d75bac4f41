"""the definer functions are no longer PUBLIC's: each is callable by the logins that need it

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 05:40:00

PostgreSQL gives ``EXECUTE`` on a new function to ``PUBLIC``. Only ``homeward_set_scope`` had
it taken back (0015), so every other ``homeward_*`` function (all ``SECURITY DEFINER``, run as
``homeward_definer``, which bypasses row security) was callable by any role on the cluster:
the register login, say, could ask ``homeward_case_refs_taken`` whether a case_ref exists.

From here ``PUBLIC`` may call none of them. ``homeward_app`` (the app's login and the system
login are its members; so is whoever ran the migrations) calls the ones its commands and the
policies use: policies call theirs as the querying role, so every login reading case tables
needs them. ``homeward_act_for`` and ``homeward_system`` are ``homeward_system_scope``'s (they
refused any other login already). ``homeward_set_scope`` and ``homeward_scope_row`` are
``homeward_definer``'s alone. ``homeward db roles`` and a restore grant the same
(``homeward.base.roles.EXECUTE_GRANTS``). SQLite has no functions: nothing to do.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP, SYSTEM = "homeward_app", "homeward_system_scope"
# Each definer function at 0024, and who may call it from here (None: its owner alone).
CALLERS: dict[str, str | None] = {
    "homeward_case_visible(integer)": APP,
    "homeward_case_touched(integer)": APP,
    "homeward_scope_row()": None,
    "homeward_current_org()": APP,
    "homeward_current_staff()": APP,
    "homeward_is_system()": APP,
    "homeward_set_scope(integer, integer)": None,
    "homeward_act(text)": APP,
    "homeward_act_run(text, text)": APP,
    "homeward_act_for(integer, integer)": SYSTEM,
    "homeward_system(boolean)": SYSTEM,
    "homeward_case_refs_taken(text[])": APP,
    "homeward_programme_code_taken(text)": APP,
    "homeward_item_offered(integer)": APP,
    "homeward_case_version(integer)": APP,
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for function, group in CALLERS.items():
        op.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")
        if group is not None:
            op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {group}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for function, group in CALLERS.items():
        if group is not None:
            op.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM {group}")
        if function != "homeward_set_scope(integer, integer)":  # 0015 took it from PUBLIC
            op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO PUBLIC")

"""an unsent sign-in email is the system login's alone to read and send: the app's login no
longer reads one by naming its key (``homeward.mail_keys``, 0026)

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 09:20:00

From 0032 the database queues the sign-in email itself and answers its outbox key: an app
session naming that key in ``homeward.mail_keys`` would read the code it never should (and
sign in as anyone whose address it typed). From here, on PostgreSQL, ``outbox_message`` rows
of ``login_code`` are read and changed only by the system login (a member of
``homeward_system_scope``: the sender of ``homeward up``, or ``homeward health --watch``,
which ``homeward_open_challenge`` wakes with ``NOTIFY homeward_sign_in``) or in the system
scope; their recipients follow their message (0026, 0030). The app's own mail is as before.
SQLite has no such login: the process that asks for a code sends it.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0033"
down_revision: str | Sequence[str] | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SYSTEM = (
    "(SELECT pg_has_role(session_user, 'homeward_system_scope', 'MEMBER')) "
    "OR (SELECT homeward_is_system())"
)
ORG = "(SELECT homeward_current_org())"
OWN = (
    f"(template <> 'login_code' AND (org_id = {ORG} "
    "OR homeward_case_ref_visible(context ->> 'case_ref')))"
)
OWN_ORG = f"(template <> 'login_code' AND org_id = {ORG})"
HELD = (
    "(template = 'login_code' AND key = ANY(string_to_array("
    "current_setting('homeward.mail_keys', true), E'\\n')))"
)
# (policy, command, USING, WITH CHECK): from here, and before (0026's read, 0030's update)
POLICIES = (
    (
        ("homeward_read", "SELECT", f"{SYSTEM} OR {OWN}", None),
        ("homeward_read", "SELECT", f"{SYSTEM} OR {OWN} OR {HELD}", None),
    ),
    (
        ("homeward_update", "UPDATE", *(f"{SYSTEM} OR {OWN_ORG}",) * 2),
        ("homeward_update", "UPDATE", *(f"{SYSTEM} OR {OWN_ORG} OR {HELD}",) * 2),
    ),
)


def _policy(name: str, command: str, using: str | None, check: str | None) -> None:
    op.execute(f"DROP POLICY IF EXISTS {name} ON outbox_message")
    rules = (f" USING ({using})" if using else "") + (f" WITH CHECK ({check})" if check else "")
    op.execute(f"CREATE POLICY {name} ON outbox_message FOR {command}{rules}")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for after, _before in POLICIES:
        _policy(*after)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for _after, before in POLICIES:
        _policy(*before)

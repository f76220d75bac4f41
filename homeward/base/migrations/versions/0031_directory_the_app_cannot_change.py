"""the directory (organisations, staff) changes only in the system scope: an app login can no
longer redirect anyone's sign-in codes, move itself into another organisation or reactivate
anyone (security review of 0005's ``USING (true) WITH CHECK (true)`` on ``staff_member``)

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 08:40:00

On PostgreSQL, outside the system scope (``homeward_is_system()``: the system login acting for
the system, as the directory commands do) and for every role row security holds (not a
superuser's nor a BYPASSRLS role's, nor the tables' owner's):

- ``organisation`` is neither inserted, changed nor deleted;
- ``staff_member`` is neither inserted nor deleted, and a row changes only as the app changes
  it today: the signed-in person's own ``language`` (``homeward profile language``), nothing
  else of theirs, nobody else's. ``email`` (where sign-in codes go), ``org_id``, ``role`` and
  ``active`` change only in the system scope.

The directory commands (``homeward org ...``, ``homeward staff ...``, the first platform
administrator) act for the system from here, so they run under the system login; under the
app login they are refused in one line. As 0029's, these are BEFORE triggers run as the
caller, not definer functions. SQLite has no such login: the app's checks apply.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0031"
down_revision: str | Sequence[str] | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PINNED = "SET search_path = pg_catalog, public, pg_temp"
# Whom row security does not hold (a superuser, a BYPASSRLS role), and the tables' owner (a
# migration's data step): a guard that held them would guard nothing.
EXEMPT = (
    "public.homeward_is_system() OR (SELECT r.rolsuper OR r.rolbypassrls "
    "FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) "
    "OR pg_has_role(current_user, (SELECT c.relowner FROM pg_catalog.pg_class c "
    "WHERE c.oid = TG_RELID), 'MEMBER')"
)

ORGANISATION_GUARD = f"""
CREATE OR REPLACE FUNCTION homeward_organisation_kept() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
BEGIN
    IF {EXEMPT} THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION 'homeward: organisations are changed by the directory commands only, under '
        'the system login' USING ERRCODE = 'insufficient_privilege';
END $$
"""

STAFF_GUARD = f"""
CREATE OR REPLACE FUNCTION homeward_staff_kept() RETURNS trigger
LANGUAGE plpgsql {PINNED} AS $$
BEGIN
    IF {EXEMPT} THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.id = public.homeward_current_staff()
       AND (NEW.id, NEW.org_id, NEW.name, NEW.email, NEW.role, NEW.active, NEW.created_at)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.org_id, OLD.name, OLD.email, OLD.role, OLD.active, OLD.created_at) THEN
        RETURN NEW;  -- one's own language, nothing else
    END IF;
    RAISE EXCEPTION 'homeward: staff are added, changed and deactivated by the directory '
        'commands only, under the system login (a person changes only their own language)'
        USING ERRCODE = 'insufficient_privilege';
END $$
"""

FUNCTIONS = ("homeward_organisation_kept()", "homeward_staff_kept()")

TRIGGERS = """
CREATE TRIGGER homeward_organisation_kept BEFORE INSERT OR UPDATE OR DELETE ON organisation
    FOR EACH ROW EXECUTE FUNCTION homeward_organisation_kept();
CREATE TRIGGER homeward_staff_kept BEFORE INSERT OR UPDATE OR DELETE ON staff_member
    FOR EACH ROW EXECUTE FUNCTION homeward_staff_kept();
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(ORGANISATION_GUARD)
    op.execute(STAFF_GUARD)
    for function in FUNCTIONS:  # a trigger calls it; no one else needs to (0025)
        op.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")
    op.execute(TRIGGERS)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS homeward_staff_kept ON staff_member")
    op.execute("DROP TRIGGER IF EXISTS homeward_organisation_kept ON organisation")
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")

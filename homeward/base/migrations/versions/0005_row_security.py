"""row-level security on PostgreSQL: every case table scoped to the acting organisation

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 21:30:00

The app connects as (or SETs ROLE to) ``homeward_app``, which does not own the tables; each
transaction names its organisation (``homeward.org_id``) or says it is the system
(``homeward.system = on``). ``homeward_case_visible`` is the one rule, the same as
``homeward.protection.access.case_org_ids``; it runs as ``homeward_definer`` (BYPASSRLS) so policies never
recurse, and it raises when a transaction said neither, so a forgotten scope fails loudly
instead of silently returning nothing. SQLite has no row security: the app's checks apply.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tables holding case data, with the column naming their case.
CASE_TABLES = {
    "return_case": "id",
    "case_participant": "case_id",
    "checklist_item": "case_id",
    "handoff": "case_id",
    "consent": "case_id",
    "case_event": "case_id",
    "beneficiary": "case_id",
    "case_key": "case_id",
}
DIRECTORY_TABLES = ("organisation", "staff_member")  # shared by all organisations

VISIBLE = """
CREATE OR REPLACE FUNCTION homeward_case_visible(cid integer) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
DECLARE
    org integer := nullif(current_setting('homeward.org_id', true), '')::integer;
BEGIN
    IF coalesce(current_setting('homeward.system', true), '') = 'on' THEN
        RETURN true;
    END IF;
    IF org IS NULL THEN
        RAISE EXCEPTION 'homeward: this transaction acts for no organisation';
    END IF;
    RETURN EXISTS (SELECT 1 FROM return_case c WHERE c.id = cid AND c.owner_org_id = org)
        OR EXISTS (SELECT 1 FROM case_participant p WHERE p.case_id = cid AND p.org_id = org)
        OR EXISTS (SELECT 1 FROM checklist_item i WHERE i.case_id = cid AND i.owner_org_id = org)
        OR EXISTS (SELECT 1 FROM handoff h WHERE h.case_id = cid AND h.to_org_id = org
                   AND h.status IN ('proposed', 'accepted'));
END $$
"""

TOUCHED = """
CREATE OR REPLACE FUNCTION homeward_case_touched(cid integer) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
BEGIN
    RETURN homeward_case_visible(cid) OR EXISTS (
        SELECT 1 FROM handoff h WHERE h.case_id = cid
        AND h.to_org_id = nullif(current_setting('homeward.org_id', true), '')::integer);
END $$
"""

ORG = "nullif(current_setting('homeward.org_id', true), '')::integer"
SYSTEM = "coalesce(current_setting('homeward.system', true), '') = 'on'"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'homeward_app') THEN
                CREATE ROLE homeward_app NOLOGIN;
            END IF;
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'homeward_definer') THEN
                CREATE ROLE homeward_definer NOLOGIN BYPASSRLS;
            END IF;
        END $$""")
    op.execute("GRANT homeward_app TO CURRENT_USER")
    op.execute("GRANT homeward_definer TO CURRENT_USER")
    for role in ("homeward_app", "homeward_definer"):
        op.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
    op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public "
               "TO homeward_app")
    op.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO homeward_app")
    op.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO homeward_definer")
    op.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE "
               "ON TABLES TO homeward_app")
    op.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES "
               "TO homeward_app")
    op.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES "
               "TO homeward_definer")
    op.execute(VISIBLE)
    op.execute("ALTER FUNCTION homeward_case_visible(integer) OWNER TO homeward_definer")
    op.execute(TOUCHED)  # an organisation answering a handoff may record its answer
    op.execute("ALTER FUNCTION homeward_case_touched(integer) OWNER TO homeward_definer")
    for table in DIRECTORY_TABLES:
        _force(table)
        op.execute(f"CREATE POLICY homeward_scope ON {table} USING (true) WITH CHECK (true)")
    for table, column in CASE_TABLES.items():
        _force(table)
        using = check = f"homeward_case_visible({column})"
        if table in ("handoff", "case_event"):
            check = f"homeward_case_touched({column})"
        if table == "return_case":  # a new case is the opening organisation's (INSERT RETURNING)
            using = check = f"({SYSTEM}) OR owner_org_id = {ORG} OR {using}"
        op.execute(f"CREATE POLICY homeward_scope ON {table} USING ({using}) WITH CHECK ({check})")


def _force(table: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in (*DIRECTORY_TABLES, *CASE_TABLES):
        op.execute(f"DROP POLICY IF EXISTS homeward_scope ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP FUNCTION IF EXISTS homeward_case_touched(integer)")
    op.execute("DROP FUNCTION IF EXISTS homeward_case_visible(integer)")

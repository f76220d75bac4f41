"""consent gates participation: participant status, partner-needed items, the representative

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 10:00:00

``case_participant.status`` says whether an organisation takes part yet (``live``), waits for
the person's consent to sharing (``pending_consent``) or took part until that consent was
withdrawn (``ended``, kept for history). One current organisation per role: the unique
(case_id, role) constraint becomes a partial unique index over rows not ended. Rows that exist
already stay ``live`` (their work is under way; a coordinator withdraws consent to end one).

``checklist_item.partner_needed`` names the role an item waits for while the case owner holds
it; ``consent.representative`` the capacity of who gave a minor's consent (a code, no name).

On PostgreSQL ``homeward_case_visible`` is redefined to match ``homeward.protection.access.case_org_ids``:
only live participants count, and owning an item that is not cancelled, or receiving a live
handoff, shows a case only to an organisation that is not a pending or ended participant of it
and whose sharing consent was not withdrawn (and not given again).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_ENDED = sa.text("status != 'ended'")
# SQLite reflects the old unique constraint without a name: the convention gives it one.
NAMING = {"uq": "%(table_name)s_%(column_0_name)s_%(column_1_name)s_key"}
OLD_UNIQUE = "case_participant_case_id_role_key"  # PostgreSQL's own name for it, too

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
        OR EXISTS (SELECT 1 FROM case_participant p WHERE p.case_id = cid AND p.org_id = org
                   AND p.status = 'live')
        OR (NOT EXISTS (SELECT 1 FROM case_participant p WHERE p.case_id = cid
                        AND p.org_id = org AND p.status != 'live')
            AND NOT (EXISTS (SELECT 1 FROM consent k WHERE k.case_id = cid AND k.org_id = org
                             AND k.purpose = 'sharing' AND k.withdrawn_on IS NOT NULL)
                     AND NOT EXISTS (SELECT 1 FROM consent k WHERE k.case_id = cid
                                     AND k.org_id = org AND k.purpose = 'sharing'
                                     AND k.withdrawn_on IS NULL))
            AND (EXISTS (SELECT 1 FROM checklist_item i WHERE i.case_id = cid
                         AND i.owner_org_id = org AND i.status != 'cancelled')
                 OR EXISTS (SELECT 1 FROM handoff h WHERE h.case_id = cid AND h.to_org_id = org
                            AND h.status IN ('proposed', 'accepted'))));
END $$
"""

OLD_VISIBLE = """
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


def upgrade() -> None:
    with op.batch_alter_table("case_participant", naming_convention=NAMING) as batch:
        batch.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="live")
        )
        batch.drop_constraint(OLD_UNIQUE, type_="unique")
    op.create_index(
        "uq_case_participant_current_role",
        "case_participant",
        ["case_id", "role"],
        unique=True,
        sqlite_where=NOT_ENDED,
        postgresql_where=NOT_ENDED,
    )
    with op.batch_alter_table("checklist_item") as batch:
        batch.add_column(sa.Column("partner_needed", sa.String(length=16), nullable=True))
    with op.batch_alter_table("consent") as batch:
        batch.add_column(sa.Column("representative", sa.String(length=32), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(VISIBLE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(OLD_VISIBLE)
    with op.batch_alter_table("consent") as batch:
        batch.drop_column("representative")
    with op.batch_alter_table("checklist_item") as batch:
        batch.drop_column("partner_needed")
    op.drop_index("uq_case_participant_current_role", table_name="case_participant")
    op.execute("DELETE FROM case_participant WHERE status = 'ended'")
    with op.batch_alter_table("case_participant") as batch:
        batch.drop_column("status")
        batch.create_unique_constraint(OLD_UNIQUE, ["case_id", "role"])

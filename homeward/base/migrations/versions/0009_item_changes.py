"""item changes: a checklist item reopened or its due date moved, with an encrypted reason

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 10:00:00

``item_change`` holds one row per reopening or due-date change (``tasks.checklist_changes``):
codes, dates and staff ids, and the free-text reason encrypted under the case's data key. On
PostgreSQL it is a case table like ``checklist_item``: row security shows a row to the
organisations taking part in its case (``homeward_case_visible``, migration 0005).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "item_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_before", sa.String(length=16), nullable=False),
        sa.Column("due_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["return_case.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["checklist_item.id"]),
        sa.ForeignKeyConstraint(["actor_id"], ["staff_member.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_item_change_case_id", "item_change", ["case_id"])
    op.create_index("ix_item_change_item_id", "item_change", ["item_id"])
    if op.get_bind().dialect.name == "postgresql":
        visible = "homeward_case_visible(case_id)"
        op.execute("ALTER TABLE item_change ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE item_change FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY homeward_scope ON item_change USING ({visible}) WITH CHECK ({visible})"
        )
        op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON item_change TO homeward_app")
        op.execute("GRANT SELECT ON item_change TO homeward_definer")
        op.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO homeward_app")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY IF EXISTS homeward_scope ON item_change")
    op.drop_index("ix_item_change_item_id", table_name="item_change")
    op.drop_index("ix_item_change_case_id", table_name="item_change")
    op.drop_table("item_change")

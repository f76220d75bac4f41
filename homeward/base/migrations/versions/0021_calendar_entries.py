"""calendar entries: what each attendee's calendar was last sent about a visit or appointment

Revision ID: 0021
Revises: 0020
Create Date: 2027-01-20 10:00:00

``calendar_entry`` holds, per checklist item and attendee address, the start, ``SEQUENCE`` and
cancelled flag of the last invitation sent (``notifications.invitations``), so a moved visit
updates its one calendar event and a cancelled one is removed. Mail bookkeeping like
``reminder``: item ids, dates and a staff or organisation address, no personal data, so no row
security of its own.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("tzid", sa.String(length=64), nullable=False),
        sa.Column("uid", sa.String(length=120), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["checklist_item.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_id", "address"),
    )
    op.create_index("ix_calendar_entry_item_id", "calendar_entry", ["item_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON calendar_entry TO homeward_app")
        op.execute("GRANT SELECT ON calendar_entry TO homeward_definer")
        op.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO homeward_app")


def downgrade() -> None:
    op.drop_index("ix_calendar_entry_item_id", table_name="calendar_entry")
    op.drop_table("calendar_entry")

"""mail working days: the outbox row names its recipients' organisation

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08 10:00:00

Issue 17 point 4. ``outbox_message.org_id`` is the organisation whose working days, hours and
time zone decide when mail that can wait goes (``notifications.urgency``). Rows queued before
have none and follow the home country's calendar. No personal data: an organisation's id.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("org_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "outbox_message_org_id_fkey", "organisation", ["org_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_constraint("outbox_message_org_id_fkey", type_="foreignkey")
        batch_op.drop_column("org_id")

"""reminder run in batches: when the day's run last committed a batch, and when it finished

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 22:30:00

Issue 19 point 5. The day's reminder run (a catch-up over an imported backlog above all) was
one transaction, and every writer waited for it. It now commits in batches: ``heartbeat_at``
says when its last batch committed (a run silent too long is taken over and resumed), and
``finished_at`` when its digests were queued. Runs recorded before were finished in one go.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("reminder_run", sa.Column("heartbeat_at", sa.DateTime(timezone=True)))
    op.add_column("reminder_run", sa.Column("finished_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE reminder_run SET heartbeat_at = ran_at, finished_at = ran_at")


def downgrade() -> None:
    op.drop_column("reminder_run", "finished_at")
    op.drop_column("reminder_run", "heartbeat_at")

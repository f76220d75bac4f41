"""idempotency: request keys, so a retried create returns what the first attempt did

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 19:00:00

``request_key`` holds one row per idempotency key (``homeward.records.idempotency``): the command, a
hash of the request's non-personal arguments, and the result as codes and ids. On PostgreSQL
only the system scope reads or writes it (the engine looks keys up in ``system_scope``, so a
key is unique across organisations and one organisation's keys never show another's results).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SYSTEM = "coalesce(current_setting('homeward.system', true), '') = 'on'"


def upgrade() -> None:
    op.create_table(
        "request_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("command", sa.String(length=48), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["staff_member.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["return_case.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_request_key_key", "request_key", ["key"], unique=True)
    op.create_index("ix_request_key_case_id", "request_key", ["case_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE request_key ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE request_key FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY homeward_scope ON request_key USING ({SYSTEM}) WITH CHECK ({SYSTEM})"
        )
        op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON request_key TO homeward_app")
        op.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO homeward_app")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY IF EXISTS homeward_scope ON request_key")
    op.drop_index("ix_request_key_case_id", table_name="request_key")
    op.drop_index("ix_request_key_key", table_name="request_key")
    op.drop_table("request_key")

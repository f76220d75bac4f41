"""identity: one-time sign-in codes, staff sessions, run assertions; how each change was proven

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 04:00:00

``login_challenge`` keeps a keyed hash of each one-time code, ``staff_session`` the SHA-256 of
each session token, ``run_grant`` the assertions issued for Prefect runs (never the token
itself). ``case_event.proof`` says how the actor of each change proved who they were. The
identity tables carry no case data and no row security: they are read before anyone acts.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "login_challenge",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", WHEN, nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_member.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_challenge_staff_id", "login_challenge", ["staff_id"])
    op.create_index("ix_login_challenge_created_at", "login_challenge", ["created_at"])
    op.create_table(
        "staff_session",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=80), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("revoked_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_member.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_staff_session_staff_id", "staff_session", ["staff_id"])
    op.create_index("ix_staff_session_token_hash", "staff_session", ["token_hash"], unique=True)
    op.create_table(
        "run_grant",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("flow", sa.String(length=64), nullable=False),
        sa.Column("issued_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("flow_run_id", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["staff_session.id"]),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_member.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_run_grant_session_id", "run_grant", ["session_id"])
    with op.batch_alter_table("case_event") as batch:
        batch.add_column(sa.Column("proof", sa.String(length=120), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        for table in ("login_challenge", "staff_session", "run_grant"):
            op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO homeward_app")


def downgrade() -> None:
    with op.batch_alter_table("case_event") as batch:
        batch.drop_column("proof")
    op.drop_index("ix_run_grant_session_id", table_name="run_grant")
    op.drop_table("run_grant")
    op.drop_index("ix_staff_session_token_hash", table_name="staff_session")
    op.drop_index("ix_staff_session_staff_id", table_name="staff_session")
    op.drop_table("staff_session")
    op.drop_index("ix_login_challenge_created_at", table_name="login_challenge")
    op.drop_index("ix_login_challenge_staff_id", table_name="login_challenge")
    op.drop_table("login_challenge")

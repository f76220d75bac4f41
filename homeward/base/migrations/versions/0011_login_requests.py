"""login requests: the hourly limit on sign-in codes counts every address alike

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 10:00:00

``login_request`` keeps one row per sign-in code asked for in the last hour: a keyed hash of
the address (HMAC under a key derived from the keyring) and when. It is counted for staff
addresses and any other address alike, so the limit's answer does not tell who is staff; it
holds no address, no staff id and no case data, and no row security (read before anyone acts).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address_tag", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_request_address_tag", "login_request", ["address_tag"])
    op.create_index("ix_login_request_at", "login_request", ["at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON login_request TO homeward_app")
        op.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO homeward_app")


def downgrade() -> None:
    op.drop_index("ix_login_request_at", table_name="login_request")
    op.drop_index("ix_login_request_address_tag", table_name="login_request")
    op.drop_table("login_request")

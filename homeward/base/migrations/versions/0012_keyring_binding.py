"""keyring binding: the database records the fingerprint of the keyring it is sealed with

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 10:00:00

``keyring_binding`` holds one row: the keyring's fingerprint (HKDF of keys rotation never
changes; it reveals no key) and when it was recorded. A database that already holds data is
bound here, to the keyring ``homeward db upgrade`` runs with; an empty one is bound by its
first write. From then on every write path refuses another keyring. The app role may read and
insert the row, never change or delete it.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "keyring_binding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("bound_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("GRANT SELECT, INSERT ON keyring_binding TO homeward_app")
    held = sum(
        bind.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one()
        for name in ("audit_entry", "case_key")
    )
    if held:  # sealed data exists: bind it to the keyring the operator upgrades with
        from homeward.crypt.keys import load_keyring  # noqa: PLC0415 (needs keys only here)

        fingerprint = load_keyring().fingerprint
        op.bulk_insert(table, [{"id": 1, "fingerprint": fingerprint, "bound_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("keyring_binding")

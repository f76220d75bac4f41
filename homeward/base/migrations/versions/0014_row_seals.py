"""row seals: a keyed MAC over every case-data row, summed up under the audit head's own MAC

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-06 07:00:00

``row_seal`` holds one seal per row of the case-data tables (``homeward.records.seals``);
``audit_head`` gains the seals' count and XOR sum and a MAC over itself. A database that
already holds data is sealed here as it stands (the baseline), with the keyring ``homeward db
upgrade`` runs with, so it verifies clean afterwards; an empty one is sealed by its writes.
A later migration that changes a sealed table's columns must reseal (``reseal_all``) too.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlmodel import Session

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "row_seal",
        sa.Column("tbl", sa.String(length=32), nullable=False),
        sa.Column("row_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("tbl", "row_id"),
    )
    op.create_index("ix_row_seal_case_id", "row_seal", ["case_id"])
    op.add_column("audit_head", sa.Column("seal_count", sa.Integer(), nullable=False, server_default="0"))
    op.add_column(
        "audit_head",
        sa.Column("seal_state", sa.String(length=64), nullable=False, server_default="0" * 64),
    )
    op.add_column("audit_head", sa.Column("mac", sa.String(length=64), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON row_seal TO homeward_app")
        # Seals are the system's: read and written only while acting for it (resealing at
        # commit, checking before a decryption, verifying), never by an organisation's scope.
        op.execute("ALTER TABLE row_seal ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE row_seal FORCE ROW LEVEL SECURITY")
        system = "coalesce(current_setting('homeward.system', true), '') = 'on'"
        op.execute(f"CREATE POLICY homeward_scope ON row_seal USING ({system}) WITH CHECK ({system})")
    held = sum(
        bind.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one()
        for name in ("audit_entry", "return_case")
    )
    # Data written before seals existed is sealed as it stands (needs the keyring), by the last
    # migration of the upgrade: seals cover today's columns, which later migrations add (0017).
    if held and context.get_revision_argument() == revision:
        from homeward.records.seals import reseal_all  # noqa: PLC0415 (needs keys only here)

        with Session(bind=bind) as session:
            reseal_all(session)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY IF EXISTS homeward_scope ON row_seal")
    with op.batch_alter_table("audit_head") as batch:
        for column in ("mac", "seal_state", "seal_count"):
            batch.drop_column(column)
    op.drop_index("ix_row_seal_case_id", table_name="row_seal")
    op.drop_table("row_seal")

"""reporting: programmes, targets, enrolments, import bookkeeping, encrypted exploitation form

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 10:00:00

``beneficiary.exploitation_form`` is encrypted like every other personal field. On PostgreSQL
the new tables get forced row-security policies: a programme is its organisation's (or the
system's); enrolments and import bookkeeping follow their case (``homeward_case_visible``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORG = "nullif(current_setting('homeward.org_id', true), '')::integer"
SYSTEM = "coalesce(current_setting('homeward.system', true), '') = 'on'"
POLICIES = {
    "programme": f"({SYSTEM}) OR org_id = {ORG}",
    "enrolment": "homeward_case_visible(case_id)",
    "imported_case": f"({SYSTEM}) OR (org_id = {ORG} AND homeward_case_visible(case_id))",
}


def upgrade() -> None:
    with op.batch_alter_table("beneficiary") as batch_op:
        batch_op.add_column(sa.Column("exploitation_form", sa.Text(), nullable=True))
    op.create_table(
        "programme",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("donor", sa.String(length=200), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisation.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_programme_code", "programme", ["code"], unique=True)
    op.create_index("ix_programme_org_id", "programme", ["org_id"])
    op.create_table(
        "programme_target",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("indicator", sa.String(length=32), nullable=False),
        sa.Column("target", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["programme_id"], ["programme.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("programme_id", "indicator"),
    )
    op.create_index("ix_programme_target_programme_id", "programme_target", ["programme_id"])
    op.create_table(
        "enrolment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("enrolled_on", sa.Date(), nullable=False),
        sa.Column("enrolled_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["programme_id"], ["programme.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["return_case.id"]),
        sa.ForeignKeyConstraint(["enrolled_by_id"], ["staff_member.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("programme_id", "case_id"),
    )
    op.create_index("ix_enrolment_programme_id", "enrolment", ["programme_id"])
    op.create_index("ix_enrolment_case_id", "enrolment", ["case_id"])
    op.create_table(
        "imported_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisation.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["return_case.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "external_id"),
    )
    op.create_index("ix_imported_case_org_id", "imported_case", ["org_id"])
    op.create_index("ix_imported_case_case_id", "imported_case", ["case_id"])
    if op.get_bind().dialect.name == "postgresql":
        _secure()


def _secure() -> None:
    for table, rule in POLICIES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY homeward_scope ON {table} USING ({rule}) WITH CHECK ({rule})")
    # 0005's default privileges cover new tables; say it again in case they were revoked.
    op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON programme, programme_target, enrolment, "
               "imported_case TO homeward_app")
    op.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO homeward_app")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in POLICIES:
            op.execute(f"DROP POLICY IF EXISTS homeward_scope ON {table}")
    op.drop_table("imported_case")
    op.drop_table("enrolment")
    op.drop_table("programme_target")
    op.drop_table("programme")
    with op.batch_alter_table("beneficiary") as batch_op:
        batch_op.drop_column("exploitation_form")

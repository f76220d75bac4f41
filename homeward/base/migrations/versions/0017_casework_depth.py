"""casework depth: plan, services, visits, journal, documents, family, NRM referral, assessments

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 15:15:00

Issue 16. Nine case tables (``reintegration_plan``, ``plan_goal``, ``plan_service``, ``visit``,
``case_note``, ``case_document``, ``case_person``, ``nrm_referral``, ``assessment``): codes,
dates, amounts and staff ids in the clear, every free text and every answer encrypted under
the case's data key. On PostgreSQL each is a case table like ``item_change``: row security
shows a row to whoever sees its case (policy as in migration 0015). ``provider_service`` is
directory data (who offers which service in which county), read by every organisation.
``return_case`` gains ``route`` (return, internal) and ``destination_county``;
``checklist_item`` gains an ad-hoc item's encrypted ``title`` and its ``starts_at``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlmodel import Session

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CASE_TABLES = (
    "reintegration_plan",
    "plan_goal",
    "plan_service",
    "visit",
    "case_note",
    "case_document",
    "case_person",
    "nrm_referral",
    "assessment",
)
SEEN = "(SELECT homeward_is_system()) OR homeward_case_visible(case_id)"


def _secure() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in CASE_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY homeward_scope ON {table} USING ({SEEN}) WITH CHECK ({SEEN})")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO homeward_app")
        op.execute(f"GRANT SELECT ON {table} TO homeward_definer")
    # The directory: every organisation reads it; each keeps only its own offers.
    own = "(SELECT homeward_is_system()) OR org_id = (SELECT homeward_current_org())"
    op.execute("ALTER TABLE provider_service ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE provider_service FORCE ROW LEVEL SECURITY")
    op.execute("CREATE POLICY homeward_read ON provider_service FOR SELECT USING (true)")
    for verb in ("INSERT", "UPDATE", "DELETE"):
        check = "" if verb == "DELETE" else f" WITH CHECK ({own})"
        using = "" if verb == "INSERT" else f" USING ({own})"
        op.execute(
            f"CREATE POLICY homeward_{verb.lower()} ON provider_service FOR {verb}{using}{check}"
        )
    op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON provider_service TO homeward_app")
    op.execute("GRANT SELECT ON provider_service TO homeward_definer")
    op.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO homeward_app")


def upgrade() -> None:
    op.create_table(
        "provider_service",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("service_type", sa.String(length=32), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisation.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "service_type", "county"),
    )
    with op.batch_alter_table("provider_service", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_provider_service_county"), ["county"], unique=False)
        batch_op.create_index(batch_op.f("ix_provider_service_org_id"), ["org_id"], unique=False)

    op.create_table(
        "assessment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=True),
        sa.Column("needs", sa.JSON(), nullable=False),
        sa.Column("answers", sa.Text(), nullable=True),
        sa.Column("assessed_on", sa.Date(), nullable=False),
        sa.Column("assessed_by_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_by_id", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["assessed_by_id"],
            ["staff_member.id"],
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["return_case.id"],
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_id"],
            ["staff_member.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("assessment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assessment_case_id"), ["case_id"], unique=False)

    op.create_table(
        "case_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["return_case.id"],
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisation.id"],
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"],
            ["staff_member.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("case_document", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_document_case_id"), ["case_id"], unique=False)

    op.create_table(
        "case_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["staff_member.id"],
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["return_case.id"],
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisation.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("case_note", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_note_case_id"), ["case_id"], unique=False)

    op.create_table(
        "case_person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("relation", sa.String(length=16), nullable=False),
        sa.Column("is_minor", sa.Boolean(), nullable=False),
        sa.Column("given_name", sa.Text(), nullable=True),
        sa.Column("family_name", sa.Text(), nullable=True),
        sa.Column("birth_date", sa.Text(), nullable=True),
        sa.Column("sex", sa.Text(), nullable=True),
        sa.Column("match_index", sa.String(length=64), nullable=True),
        sa.Column("name_index", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["return_case.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("case_person", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_person_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_case_person_match_index"), ["match_index"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_case_person_name_index"), ["name_index"], unique=False)

    op.create_table(
        "nrm_referral",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("record_no", sa.Text(), nullable=True),
        sa.Column("referred_on", sa.Date(), nullable=False),
        sa.Column("referring_body", sa.String(length=32), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["return_case.id"],
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["staff_member.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id"),
    )
    op.create_table(
        "reintegration_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("review_due_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["return_case.id"],
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["staff_member.id"],
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["staff_member.id"],
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"],
            ["staff_member.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "version"),
    )
    with op.batch_alter_table("reintegration_plan", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reintegration_plan_case_id"), ["case_id"], unique=False
        )

    op.create_table(
        "plan_goal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["return_case.id"],
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["reintegration_plan.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("plan_goal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_goal_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_plan_goal_plan_id"), ["plan_id"], unique=False)

    op.create_table(
        "visit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("visited_on", sa.Date(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("attended", sa.Text(), nullable=True),
        sa.Column("safety_concern", sa.Boolean(), nullable=False),
        sa.Column("safety_note", sa.Text(), nullable=True),
        sa.Column("plan_progress", sa.String(length=16), nullable=True),
        sa.Column("progress_note", sa.Text(), nullable=True),
        sa.Column("answers", sa.Text(), nullable=True),
        sa.Column("economic_score", sa.Float(), nullable=True),
        sa.Column("social_score", sa.Float(), nullable=True),
        sa.Column("psychosocial_score", sa.Float(), nullable=True),
        sa.Column("composite_score", sa.Float(), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["return_case.id"],
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["checklist_item.id"],
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisation.id"],
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["staff_member.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("visit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visit_case_id"), ["case_id"], unique=False)

    op.create_table(
        "plan_service",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("goal_id", sa.Integer(), nullable=True),
        sa.Column("service_type", sa.String(length=32), nullable=False),
        sa.Column("provider_org_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("planned_start_on", sa.Date(), nullable=True),
        sa.Column("planned_end_on", sa.Date(), nullable=True),
        sa.Column("actual_start_on", sa.Date(), nullable=True),
        sa.Column("actual_end_on", sa.Date(), nullable=True),
        sa.Column("budget_minor", sa.Integer(), nullable=True),
        sa.Column("cost_minor", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["return_case.id"],
        ),
        sa.ForeignKeyConstraint(
            ["goal_id"],
            ["plan_goal.id"],
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["checklist_item.id"],
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["reintegration_plan.id"],
        ),
        sa.ForeignKeyConstraint(
            ["provider_org_id"],
            ["organisation.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("plan_service", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_service_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_plan_service_plan_id"), ["plan_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_plan_service_provider_org_id"), ["provider_org_id"], unique=False
        )

    op.add_column("checklist_item", sa.Column("title", sa.Text(), nullable=True))
    op.add_column(
        "checklist_item", sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True)
    )
    # No foreign key: on SQLite one would rebuild the whole table (``case_person.id``).
    op.add_column("checklist_item", sa.Column("person_id", sa.Integer(), nullable=True))

    op.add_column("beneficiary", sa.Column("name_index", sa.String(length=64), nullable=True))
    op.create_index("ix_beneficiary_name_index", "beneficiary", ["name_index"], unique=False)

    op.add_column(
        "return_case",
        sa.Column("route", sa.String(length=16), server_default="return", nullable=False),
    )
    op.add_column(
        "return_case", sa.Column("destination_county", sa.String(length=6), nullable=True)
    )
    _secure()
    _reseal()


def _reseal() -> None:
    """Seals cover every column of a row: rows of ``return_case``, ``checklist_item`` and
    ``beneficiary`` written before this migration are sealed again as they now stand (and,
    coming from before 0014, sealed for the first time). Needs the keyring, as 0014 did.
    Only when this is the upgrade's last step: seals cover today's columns, which 0018 changes
    (it reseals in turn)."""
    bind = op.get_bind()
    if context.get_revision_argument() != revision:
        return
    held = sum(
        bind.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one()
        for name in ("audit_entry", "return_case")
    )
    if held:
        from homeward.records.seals import reseal_all  # noqa: PLC0415 (needs keys only here)

        with Session(bind=bind) as session:
            reseal_all(session)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in CASE_TABLES:
            op.execute(f"DROP POLICY IF EXISTS homeward_scope ON {table}")
        for name in ("read", "insert", "update", "delete"):
            op.execute(f"DROP POLICY IF EXISTS homeward_{name} ON provider_service")
    op.drop_column("return_case", "destination_county")
    op.drop_column("return_case", "route")

    op.drop_index("ix_beneficiary_name_index", table_name="beneficiary")
    op.drop_column("beneficiary", "name_index")

    op.drop_column("checklist_item", "person_id")
    op.drop_column("checklist_item", "starts_at")
    op.drop_column("checklist_item", "title")

    with op.batch_alter_table("plan_service", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_service_provider_org_id"))
        batch_op.drop_index(batch_op.f("ix_plan_service_plan_id"))
        batch_op.drop_index(batch_op.f("ix_plan_service_case_id"))

    op.drop_table("plan_service")
    with op.batch_alter_table("visit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visit_case_id"))

    op.drop_table("visit")
    with op.batch_alter_table("plan_goal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_goal_plan_id"))
        batch_op.drop_index(batch_op.f("ix_plan_goal_case_id"))

    op.drop_table("plan_goal")
    with op.batch_alter_table("reintegration_plan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reintegration_plan_case_id"))

    op.drop_table("reintegration_plan")
    op.drop_table("nrm_referral")
    with op.batch_alter_table("case_person", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_person_name_index"))
        batch_op.drop_index(batch_op.f("ix_case_person_match_index"))
        batch_op.drop_index(batch_op.f("ix_case_person_case_id"))

    op.drop_table("case_person")
    with op.batch_alter_table("case_note", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_note_case_id"))

    op.drop_table("case_note")
    with op.batch_alter_table("case_document", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_document_case_id"))

    op.drop_table("case_document")
    with op.batch_alter_table("assessment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assessment_case_id"))

    op.drop_table("assessment")
    with op.batch_alter_table("provider_service", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provider_service_org_id"))
        batch_op.drop_index(batch_op.f("ix_provider_service_county"))

    op.drop_table("provider_service")

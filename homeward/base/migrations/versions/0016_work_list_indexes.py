"""indexes for the workspace's My work: an organisation's and a person's open items by due date

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 11:30:00

My work (``homeward.commands.mywork``) lists the open items an organisation owns or a person
is assigned, soonest due first. With 100,000 cases (2.2 million items) neither side of that
``OR`` had an index of its own to start from: ``assignee_id`` none at all, ``owner_org_id``
one that reads every item the organisation ever owned, done or not; the planner fell back to
every open item in the database in due order (``bench/web_bench.py``, bench/RESULTS.md).
``(owner_org_id, status, due_at)`` and ``(assignee_id, status, due_at)`` give each side its
open items directly, already in due order. A supervisor's closures waiting look for cases with
a ``closure_requested`` event: ``case_event (trigger, case_id)`` finds them without reading a
history of millions of events. Both tables are ANALYZEd afterwards so SQLite's
planner (which gathers no statistics by itself) weighs them right away.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_checklist_item_owner_open": ("checklist_item", ["owner_org_id", "status", "due_at"]),
    "ix_checklist_item_assignee_open": ("checklist_item", ["assignee_id", "status", "due_at"]),
    "ix_case_event_trigger": ("case_event", ["trigger", "case_id"]),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)
    for table in ("checklist_item", "case_event"):
        op.execute(f"ANALYZE {table}")  # the planner learns the new indexes' worth now


def downgrade() -> None:
    for name, (table, _columns) in INDEXES.items():
        op.drop_index(name, table_name=table)

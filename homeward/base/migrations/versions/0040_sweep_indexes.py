"""the sweep's indexes: the open items' window read from the index alone; no second reminder index

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-07 12:00:00

The reminder sweep (``notifications.reminders``) cuts each page of open items from the index
``(status, due_at)``: first the page's due dates (the first item that may fire and the
``limit``-th), then the page itself between them. Which items may fire depends on
``escalated_at`` too (an item escalated within the cadence's gap is not read), which the index
did not hold, so the window fetched every item's row from the table to decide, and the page
then fetched the same rows again: at 20,000 cases the windows took as long as the rows
themselves (bench/RESULTS.md, issue 19 point 7). The index now holds, after ``(status,
due_at)``: ``id``, the page's order (SQLite had it as the rowid every index ends with;
PostgreSQL sorted each page), then ``escalated_at`` and ``case_id`` (what row security asks
of an item), so the window is read from the index alone (SQLite: a covering index;
PostgreSQL: an index-only scan, once vacuum has marked the pages visible). The index keeps its
name and its first two columns, so every query that used it still does. The price: an
escalation mark now updates the index (PostgreSQL: no heap-only update), a few hundred rows on
a day's sweep.

Every rule fired is a ``reminder`` row, the sweep's largest write (1,836 rows on a 20,000-case
day). Besides its unique key ``(item_id, rule, due_on)``, which starts with ``item_id``, it kept
an index on ``item_id`` alone: a second index to write for each row, which no query needs
(lookups by item, and the cascade from a deleted item, use the unique key's). It is dropped.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0040"
down_revision: str | Sequence[str] | None = "0039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME, TABLE = "ix_checklist_item_open_due", "checklist_item"
COLUMNS = ["status", "due_at", "id", "escalated_at", "case_id"]
BY_ITEM = "ix_reminder_item_id"


def upgrade() -> None:
    op.drop_index(NAME, table_name=TABLE)
    op.create_index(NAME, TABLE, COLUMNS)
    op.drop_index(BY_ITEM, table_name="reminder")
    op.execute(f"ANALYZE {TABLE}")  # the planner weighs the new index now


def downgrade() -> None:
    op.create_index(BY_ITEM, "reminder", ["item_id"])
    op.drop_index(NAME, table_name=TABLE)
    op.create_index(NAME, TABLE, ["status", "due_at"])

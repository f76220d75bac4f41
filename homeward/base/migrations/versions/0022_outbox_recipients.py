"""outbox recipients: each recipient's delivery, refusal or retry, on its own row

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-08 10:00:00

Issue 17 point 2. A message refused for one of its recipients was marked sent and the refusal
was visible nowhere: the outbox kept ``delivered_to`` and ``refused`` as JSON beside the
message, and nothing listed them. ``outbox_recipient`` holds one row per address of a message,
with the server's last answer (code and text), its own attempts and next attempt, and where a
dead recipient was redirected. Existing messages get their rows from the two JSON columns,
which are then dropped. Staff addresses only: no row security (no case, no person).
"""

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CODE = re.compile(r"^([245]\d\d)\b")


def upgrade() -> None:
    old = _old_recipients()  # read first: SQLite drops the columns by copying the table, and
    with op.batch_alter_table("outbox_message") as batch_op:  # dropping the old copy would
        batch_op.drop_column("delivered_to")  # cascade to recipient rows already written
        batch_op.drop_column("refused")
    op.create_table(
        "outbox_recipient",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("code", sa.Integer(), nullable=True),
        sa.Column("reply", sa.String(length=500), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("redirected_to", sa.String(length=254), nullable=True),
        sa.ForeignKeyConstraint(["message_id"], ["outbox_message.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id", "address"),
    )
    op.create_index("ix_outbox_recipient_status", "outbox_recipient", ["status", "message_id"])
    recipient = sa.table(
        "outbox_recipient",
        *(sa.column(name) for name in ("message_id", "address", "status", "code", "reply")),
        *(sa.column(name) for name in ("attempts", "next_attempt_at", "updated_at")),
    )
    for start in range(0, len(old), 1_000):
        op.get_bind().execute(recipient.insert(), old[start : start + 1_000])


def _old_recipients() -> list[dict[str, Any]]:
    """One row per address of every message, from ``delivered_to`` and ``refused``."""
    message = sa.table(
        "outbox_message",
        sa.column("id", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("attempts", sa.Integer()),
        sa.column("to_addrs", sa.JSON()),
        sa.column("delivered_to", sa.JSON()),
        sa.column("refused", sa.JSON()),
        sa.column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("sent_at", sa.DateTime(timezone=True)),
        sa.column("last_error", sa.String()),
    )
    found = op.get_bind().execute(sa.select(message)).mappings()
    return [new for old in found for new in _recipients(dict(old))]


def _recipients(old: dict[str, Any]) -> list[dict[str, Any]]:
    delivered, refused = set(old["delivered_to"] or []), dict(old["refused"] or {})
    rows = []
    for address in dict.fromkeys(old["to_addrs"] or []):
        status, reply = "pending", None
        if address in delivered:
            status = "delivered"
        elif address in refused:
            reply = str(refused[address])[:500]
            status = "dropped" if reply.startswith("dropped") else "dead"
        elif old["status"] == "dropped":
            status, reply = "dropped", old["last_error"]
        elif old["status"] == "dead":
            status, reply = "dead", old["last_error"]
        code = CODE.match(reply or "")
        rows.append(
            {
                "message_id": old["id"],
                "address": address,
                "status": status,
                "code": int(code.group(1)) if code else None,
                "reply": reply,
                "attempts": old["attempts"] if status != "pending" else 0,
                "next_attempt_at": old["next_attempt_at"],
                "updated_at": old["sent_at"] or old["created_at"],
            }
        )
    return rows


def downgrade() -> None:
    with op.batch_alter_table("outbox_message") as batch_op:
        batch_op.add_column(sa.Column("delivered_to", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("refused", sa.JSON(), nullable=False, server_default="{}"))
    op.drop_index("ix_outbox_recipient_status", table_name="outbox_recipient")
    op.drop_table("outbox_recipient")

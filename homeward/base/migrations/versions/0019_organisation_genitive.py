"""organisation.name_genitive: the Romanian genitive-dative form of an organisation's name

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-14 10:00:00

Romanian emails say whose items they list ("punctele Asociației ADPARE", not "ale Asociația
ADPARE"); a name is declined by hand, so its administrator stores the form once. Nullable: an
organisation without it is named in the nominative after a declined noun ("ale organizației
ADPARE"). A directory column, shared by every organisation like the rest of the table: no row
security to add and nothing personal.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("organisation", sa.Column("name_genitive", sa.String(length=200), nullable=True))


def downgrade() -> None:
    # in place (SQLite 3.35+): a batch copy would drop a table every case row points at
    op.drop_column("organisation", "name_genitive")

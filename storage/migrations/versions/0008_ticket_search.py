"""ticket search text: code, topic and message without diacritics, for the dashboard search

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 09:00:00

The column starts empty; storage.inbox fills it for every ticket that has none before it
searches, so no Python runs inside the migration.
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("search_text", sqlmodel.sql.sqltypes.AutoString(length=4200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.drop_column("search_text")

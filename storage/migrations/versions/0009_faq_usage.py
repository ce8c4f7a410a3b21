"""faq usage per hour and commune, so FAQ figures follow the period and area filters

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 15:50:00

Counts made before this revision exist only as totals in faq_stat (which has no dates) and are
not copied: they cannot be placed in a period or a commune.
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "faq_usage",
        sa.Column("hour", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("area_code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("faq_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("shown", sa.Integer(), nullable=False),
        sa.Column("helpful", sa.Integer(), nullable=False),
        sa.Column("unhelpful", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "area_code", "faq_id"),
    )


def downgrade() -> None:
    op.drop_table("faq_usage")

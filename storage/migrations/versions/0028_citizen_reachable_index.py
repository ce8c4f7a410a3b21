"""an index to count the citizens who receive notices, per commune, without reading the table

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 20:05:00
"""

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_citizen_reachable", "citizen", ["area_code", "subscribed", "consent_at", "unreachable_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_citizen_reachable", table_name="citizen")

"""telegram inbox: updates stored before Telegram is told they arrived, until handled

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 16:30:00
"""

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "telegram_inbox",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("received_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_until", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("update_id"),
    )
    op.create_index(op.f("ix_telegram_inbox_done_at"), "telegram_inbox", ["done_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_telegram_inbox_done_at"), table_name="telegram_inbox")
    op.drop_table("telegram_inbox")

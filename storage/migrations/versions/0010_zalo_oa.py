"""zalo official account: the token pair and the webhook events already received

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 10:00:00
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "zalo_oa_token",
        sa.Column("app_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("access_token", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("refresh_token", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("expires_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("seed_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("lease_until", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("app_id"),
    )
    op.create_table(
        "zalo_oa_event",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("received_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("handled_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index(op.f("ix_zalo_oa_event_received_at"), "zalo_oa_event", ["received_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_zalo_oa_event_received_at"), table_name="zalo_oa_event")
    op.drop_table("zalo_oa_event")
    op.drop_table("zalo_oa_token")

"""web chat identities issued by the server; per-address limits

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 16:00:00

address_count holds, per keyed hash of a client address, what the web chat's per-address limits count
(new identities, reports, poll answers, supports) in hourly and daily periods; rows are pruned once
their period has passed. The identities themselves need no table: the cookie is signed, and the
stored identity (citizen.channel_user_id) stays the keyed hash of its token.
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "address_count",
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("address", "action", "period"),
    )
    op.create_index("ix_address_count_expires_at", "address_count", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_address_count_expires_at", table_name="address_count")
    op.drop_table("address_count")

"""zalo inbox: Zalo webhook events stored before Zalo is answered, handled from the record

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-10 10:00:00

Replaces zalo_oa_event, which only remembered the keys of events already received (Zalo was
answered after handling). Its keys move over as handled rows, so that an event received just
before the upgrade is still recognised when Zalo delivers it again; going back moves them back.
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "zalo_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("chat_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("received_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_until", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("holder", sa.BigInteger(), nullable=True),
        sa.Column("done_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", name="uq_zalo_inbox_key"),
    )
    op.create_index(op.f("ix_zalo_inbox_done_at"), "zalo_inbox", ["done_at"], unique=False)
    op.execute(
        "INSERT INTO zalo_inbox (key, channel, chat_id, received_at, done_at) "
        "SELECT key, CASE WHEN key LIKE 'zalo_bot:%' THEN 'zalo_bot' ELSE 'zalo_oa' END, '', received_at, "
        "COALESCE(handled_at, received_at) FROM zalo_oa_event ORDER BY received_at"
    )
    op.drop_index(op.f("ix_zalo_oa_event_received_at"), table_name="zalo_oa_event")
    op.drop_table("zalo_oa_event")


def downgrade() -> None:
    op.create_table(
        "zalo_oa_event",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("received_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("handled_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index(op.f("ix_zalo_oa_event_received_at"), "zalo_oa_event", ["received_at"], unique=False)
    # Events received and not handled yet cannot be handled by the older release: they are dropped
    # with their content (they hold what citizens wrote), and only their keys are kept.
    op.execute(
        "INSERT INTO zalo_oa_event (key, received_at, handled_at) "
        "SELECT key, received_at, COALESCE(done_at, received_at) FROM zalo_inbox"
    )
    op.drop_index(op.f("ix_zalo_inbox_done_at"), table_name="zalo_inbox")
    op.drop_table("zalo_inbox")

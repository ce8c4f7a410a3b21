"""retention: what the nightly prune needs to find its rows without scanning

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 18:30:00

outbox.payload_dropped_at is when the prune replaced a finished message's payload by an empty
object (NULL: the payload is still there). A partial index holds only the rows whose payload is
still there, by status and finish time, so that each night's prune finds the payloads to drop
among the last weeks' messages instead of scanning every message ever sent. conversation gets an
index on expires_at (expired states are deleted) and ticket one on (status, updated_at) (the media
of closed and rejected tickets are deleted some months after their last change).
"""

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

KEPT = sa.text("payload_dropped_at IS NULL")


def upgrade() -> None:
    op.add_column("outbox", sa.Column("payload_dropped_at", storage.types.UTCDateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_outbox_payload_kept",
        "outbox",
        ["status", "sent_at", "next_attempt_at"],
        unique=False,
        sqlite_where=KEPT,
        postgresql_where=KEPT,
    )
    op.create_index(op.f("ix_conversation_expires_at"), "conversation", ["expires_at"], unique=False)
    op.create_index("ix_ticket_status_updated", "ticket", ["status", "updated_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_ticket_status_updated", table_name="ticket")
    op.drop_index(op.f("ix_conversation_expires_at"), table_name="conversation")
    op.drop_index("ix_outbox_payload_kept", table_name="outbox")
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("payload_dropped_at")

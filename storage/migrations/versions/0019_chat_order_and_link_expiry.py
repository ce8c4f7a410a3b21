"""one chat's Zalo events in order across processes; officer chat links that expire

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 16:00:00

zalo_inbox gets an index on (channel, chat_id, id): before handling an event, a process looks for the
chat's earlier events not done yet (another process may hold them). staff.chat_linked_at and
chat_link_seen_at are when the chat account was linked and last used: a link made from the web chat
ends like a staff session.
"""

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_zalo_inbox_chat", "zalo_inbox", ["channel", "chat_id", "id"], unique=False)
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("chat_linked_at", storage.types.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("chat_link_seen_at", storage.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("chat_link_seen_at")
        batch.drop_column("chat_linked_at")
    op.drop_index("ix_zalo_inbox_chat", table_name="zalo_inbox")

"""lease holders: the process holding an inbox row, an outbox message in flight or the token lease

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 10:00:00

On PostgreSQL each process holds an advisory lock on a random number while it runs and writes that
number on the leases it takes (storage/holders.py): a lease whose holder is gone is taken up at once
instead of when it runs out. Existing rows have no holder and keep waiting for their lease to end.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TABLES = ("telegram_inbox", "outbox", "zalo_oa_token")


def upgrade() -> None:
    for name in TABLES:
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.add_column(sa.Column("holder", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    for name in reversed(TABLES):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_column("holder")

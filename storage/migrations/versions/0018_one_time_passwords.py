"""one-time passwords: staff.must_change_password

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 13:40:00

A password an admin resets is a one-time password: its owner must change it at the next sign-in.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("must_change_password")

"""login failures: failed dashboard sign-ins per account name and client address

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 13:30:00

Login throttling counts failures of the pair (account, address) and of the address instead of
locking an account for everyone; the counts live in the database so that every web process
sees the same ones.
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_login_failure_at"), "login_failure", ["at"], unique=False)
    op.create_index(op.f("ix_login_failure_username"), "login_failure", ["username"], unique=False)
    op.create_index(op.f("ix_login_failure_address"), "login_failure", ["address"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_login_failure_address"), table_name="login_failure")
    op.drop_index(op.f("ix_login_failure_username"), table_name="login_failure")
    op.drop_index(op.f("ix_login_failure_at"), table_name="login_failure")
    op.drop_table("login_failure")

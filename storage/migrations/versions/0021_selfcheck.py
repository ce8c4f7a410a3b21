"""household self-check counts and review requests

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 16:00:00

selfcheck_question holds the indicator questions of content/selfcheck.yaml as staff confirm them;
selfcheck_count counts self-checks by day, commune and outcome with no identity; selfcheck_request
keeps the answers and result of a self-check the household sent to the commune as a ticket.
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "selfcheck_question",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("edited_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "selfcheck_count",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("area_code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "area_code", "outcome"),
    )
    op.create_table(
        "selfcheck_request",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("area_code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("ticket_id"),
    )
    with op.batch_alter_table("selfcheck_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_selfcheck_request_area_code"), ["area_code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("selfcheck_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_selfcheck_request_area_code"))
    op.drop_table("selfcheck_request")
    op.drop_table("selfcheck_count")
    op.drop_table("selfcheck_question")

"""content and faq statistics

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 12:34:24.073734
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "faq_entry",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("texts", sa.JSON(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("replaced_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("reviewed_on", sa.Date(), nullable=True),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("image", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("audio", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("faq_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_faq_entry_topic"), ["topic"], unique=False)

    op.create_table(
        "faq_stat",
        sa.Column("faq_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("shown", sa.Integer(), nullable=False),
        sa.Column("helpful", sa.Integer(), nullable=False),
        sa.Column("unhelpful", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("faq_id"),
    )
    op.create_table(
        "story",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("texts", sa.JSON(), nullable=False),
        sa.Column("commune", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("image", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("illustrative", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "topic",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("titles", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "unanswered_question",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("locale", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("forwarded", sa.Integer(), nullable=False),
        sa.Column("first_asked_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_asked_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", name="uq_unanswered_key"),
    )
    with op.batch_alter_table("unanswered_question", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_unanswered_question_last_asked_at"), ["last_asked_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("unanswered_question", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unanswered_question_last_asked_at"))

    op.drop_table("unanswered_question")
    op.drop_table("topic")
    op.drop_table("story")
    op.drop_table("faq_stat")
    with op.batch_alter_table("faq_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_faq_entry_topic"))

    op.drop_table("faq_entry")

"""nominations of real stories: model households and initiatives sent in from the chat

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 16:00:00

nomination keeps what a citizen sent (photos and voice stay private files under DATA_DIR/media);
story gains the consent line and the published photos of a real story made from one.
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nomination",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("citizen_id", sa.Integer(), nullable=True),
        sa.Column("nominee", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("area_code", sa.String(length=16), nullable=True),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(length=4096), nullable=False),
        sa.Column("consent", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("nominator_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("locale", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("story_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["area_code"],
            ["area.code"],
        ),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizen.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    with op.batch_alter_table("nomination", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_nomination_area_code"), ["area_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_nomination_citizen_id"), ["citizen_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_nomination_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_nomination_status"), ["status"], unique=False)
    with op.batch_alter_table("story", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consent", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True))
        batch_op.add_column(sa.Column("photos", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("story", schema=None) as batch_op:
        batch_op.drop_column("photos")
        batch_op.drop_column("consent")
    with op.batch_alter_table("nomination", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nomination_status"))
        batch_op.drop_index(batch_op.f("ix_nomination_created_at"))
        batch_op.drop_index(batch_op.f("ix_nomination_citizen_id"))
        batch_op.drop_index(batch_op.f("ix_nomination_area_code"))
    op.drop_table("nomination")

"""engagement: quizzes, polls, policy dialogues

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 16:22:08
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quiz_question",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("texts", sa.JSON(), nullable=False),
        sa.Column("answer", sa.Integer(), nullable=False),
        sa.Column("faq_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "dialogue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("officials", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("place", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("online_url", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("area_code", sa.String(length=16), nullable=True),
        sa.Column("held_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("questions_close_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("summary", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.Column("author_staff_id", sa.Integer(), nullable=True),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["area_code"],
            ["area.code"],
        ),
        sa.ForeignKeyConstraint(
            ["author_staff_id"],
            ["staff.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dialogue", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dialogue_area_code"), ["area_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_dialogue_held_at"), ["held_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_dialogue_status"), ["status"], unique=False)

    op.create_table(
        "poll",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("texts", sa.JSON(), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("free_text", sa.Boolean(), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("opens_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closes_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("author_staff_id", sa.Integer(), nullable=True),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("opened_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("results_sent_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_staff_id"],
            ["staff.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("poll", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_poll_closes_at"), ["closes_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_poll_opens_at"), ["opens_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_poll_status"), ["status"], unique=False)

    op.create_table(
        "dialogue_question",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("dialogue_id", sa.Integer(), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("answer", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=True),
        sa.Column("answered_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["dialogue_id"], ["dialogue.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("ticket_id"),
    )
    with op.batch_alter_table("dialogue_question", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dialogue_question_dialogue_id"), ["dialogue_id"], unique=False)

    op.create_table(
        "poll_answer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("citizen_id", sa.Integer(), nullable=True),
        sa.Column("choice", sa.Integer(), nullable=True),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("area_code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("household_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("answered_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizen.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["poll_id"], ["poll.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("poll_id", "citizen_id", name="uq_poll_answer_citizen"),
    )
    with op.batch_alter_table("poll_answer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_poll_answer_area_code"), ["area_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_poll_answer_citizen_id"), ["citizen_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_poll_answer_poll_id"), ["poll_id"], unique=False)

    op.create_table(
        "quiz_contest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("titles", sa.JSON(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("announce_broadcast_id", sa.Integer(), nullable=True),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["announce_broadcast_id"],
            ["broadcast.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "dialogue_vote",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("citizen_id", sa.Integer(), nullable=False),
        sa.Column("voted_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizen.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["dialogue_question.ticket_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("ticket_id", "citizen_id"),
    )
    op.create_table(
        "quiz_play",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("citizen_id", sa.Integer(), nullable=True),
        sa.Column("area_code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("contest_id", sa.Integer(), nullable=True),
        sa.Column("question_ids", sa.JSON(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("public_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("started_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizen.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["contest_id"],
            ["quiz_contest.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("quiz_play", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quiz_play_area_code"), ["area_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_quiz_play_citizen_id"), ["citizen_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_quiz_play_contest_id"), ["contest_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_quiz_play_finished_at"), ["finished_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_quiz_play_started_at"), ["started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("quiz_play", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quiz_play_started_at"))
        batch_op.drop_index(batch_op.f("ix_quiz_play_finished_at"))
        batch_op.drop_index(batch_op.f("ix_quiz_play_contest_id"))
        batch_op.drop_index(batch_op.f("ix_quiz_play_citizen_id"))
        batch_op.drop_index(batch_op.f("ix_quiz_play_area_code"))

    op.drop_table("quiz_play")
    op.drop_table("dialogue_vote")
    op.drop_table("quiz_contest")
    with op.batch_alter_table("poll_answer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_poll_answer_poll_id"))
        batch_op.drop_index(batch_op.f("ix_poll_answer_citizen_id"))
        batch_op.drop_index(batch_op.f("ix_poll_answer_area_code"))

    op.drop_table("poll_answer")
    with op.batch_alter_table("dialogue_question", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dialogue_question_dialogue_id"))

    op.drop_table("dialogue_question")
    with op.batch_alter_table("poll", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_poll_status"))
        batch_op.drop_index(batch_op.f("ix_poll_opens_at"))
        batch_op.drop_index(batch_op.f("ix_poll_closes_at"))

    op.drop_table("poll")
    with op.batch_alter_table("dialogue", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dialogue_status"))
        batch_op.drop_index(batch_op.f("ix_dialogue_held_at"))
        batch_op.drop_index(batch_op.f("ix_dialogue_area_code"))

    op.drop_table("dialogue")
    op.drop_table("quiz_question")

"""faq usage summed per local day and month; quiz answers counted per question and choice

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 18:30:00

faq_usage_span lists the local days and months already summed and their bounds in UTC;
faq_usage_summary holds their sums per commune and entry, and per entry for every commune and
per commune for every entry ("*"). Both start empty: the scheduler sums the
days that have ended (storage/faq_summary.py), and until then figures come from the hourly rows as
before. quiz_answer_count is filled here from the rounds stored so far (read in batches, counted
in Python, the same on SQLite and PostgreSQL); from now on each answer adds to it as it is recorded.
"""

from collections import Counter

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

BATCH = 5000

quiz_play = sa.table(
    "quiz_play", sa.column("id", sa.Integer), sa.column("question_ids", sa.JSON), sa.column("answers", sa.JSON)
)
quiz_answer_count = sa.table(
    "quiz_answer_count",
    sa.column("question_id", sa.String),
    sa.column("choice", sa.Integer),
    sa.column("answers", sa.Integer),
)


def _count_answers(connection: sa.Connection) -> Counter:
    """(question, choice) → answers over every stored round, reading BATCH rounds at a time."""
    counts: Counter = Counter()
    last = 0
    while True:
        rows = connection.execute(
            sa.select(quiz_play.c.id, quiz_play.c.question_ids, quiz_play.c.answers)
            .where(quiz_play.c.id > last)
            .order_by(quiz_play.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return counts
        for _, question_ids, answers in rows:
            counts.update(
                (str(question), int(choice))
                for question, choice in zip(question_ids or [], answers or [], strict=False)
            )
        last = rows[-1][0]


def upgrade() -> None:
    op.create_table(
        "faq_usage_span",
        sa.Column("span", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("starts_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("made_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("span", "day"),
    )
    op.create_table(
        "faq_usage_summary",
        sa.Column("span", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("area_code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("faq_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("shown", sa.Integer(), nullable=False),
        sa.Column("helpful", sa.Integer(), nullable=False),
        sa.Column("unhelpful", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("span", "area_code", "day", "faq_id"),
    )
    with op.batch_alter_table("faq_usage_summary", schema=None) as batch_op:
        batch_op.create_index("ix_faq_usage_summary_entry", ["span", "faq_id", "day"], unique=False)
    op.create_table(
        "quiz_answer_count",
        sa.Column("question_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("choice", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("question_id", "choice"),
    )
    counts = _count_answers(op.get_bind())
    if counts:
        op.bulk_insert(
            quiz_answer_count,
            [
                {"question_id": question, "choice": choice, "answers": answers}
                for (question, choice), answers in sorted(counts.items())
            ],
        )


def downgrade() -> None:
    op.drop_table("quiz_answer_count")
    with op.batch_alter_table("faq_usage_summary", schema=None) as batch_op:
        batch_op.drop_index("ix_faq_usage_summary_entry")
    op.drop_table("faq_usage_summary")
    op.drop_table("faq_usage_span")

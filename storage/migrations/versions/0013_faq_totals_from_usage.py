"""faq totals come from faq_usage: faq_stat is dropped

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 18:30:00

Since 0009 every count is kept per hour and commune in faq_usage, and an entry's totals are the
sums of its rows; faq_stat repeated them and cost one more write per answer. Counts made before 0009
exist only in faq_stat: what its totals hold beyond faq_usage's sums is kept in faq_usage under the
hour 1970-01-01 00:00 UTC (date unknown) and no commune: nothing is lost, and figures for a period
or a commune leave them out, as before. Downgrading rebuilds faq_stat from the sums.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

UNDATED = datetime(1970, 1, 1, tzinfo=UTC)
COUNTERS = ("shown", "helpful", "unhelpful")

faq_stat = sa.table("faq_stat", sa.column("faq_id", sa.String), *(sa.column(name, sa.Integer) for name in COUNTERS))
faq_usage = sa.table(
    "faq_usage",
    sa.column("hour", storage.types.UTCDateTime(timezone=True)),
    sa.column("area_code", sa.String),
    sa.column("faq_id", sa.String),
    *(sa.column(name, sa.Integer) for name in COUNTERS),
)


def _usage_sums(connection: sa.Connection) -> dict[str, tuple[int, ...]]:
    sums = sa.select(faq_usage.c.faq_id, *(sa.func.sum(faq_usage.c[name]) for name in COUNTERS)).group_by(
        faq_usage.c.faq_id
    )
    return {faq_id: tuple(int(value or 0) for value in values) for faq_id, *values in connection.execute(sums)}


def upgrade() -> None:
    connection = op.get_bind()
    counted = _usage_sums(connection)
    undated = []
    for faq_id, *totals in connection.execute(sa.select(faq_stat.c.faq_id, *(faq_stat.c[name] for name in COUNTERS))):
        rest = [
            max(0, int(total or 0) - used) for total, used in zip(totals, counted.get(faq_id, (0, 0, 0)), strict=True)
        ]
        if any(rest):
            undated.append(
                {"hour": UNDATED, "area_code": "", "faq_id": faq_id, **dict(zip(COUNTERS, rest, strict=True))}
            )
    if undated:
        op.bulk_insert(faq_usage, undated)
    op.drop_table("faq_stat")


def downgrade() -> None:
    op.create_table(
        "faq_stat",
        sa.Column("faq_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("shown", sa.Integer(), nullable=False),
        sa.Column("helpful", sa.Integer(), nullable=False),
        sa.Column("unhelpful", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("faq_id"),
    )
    totals = [
        {"faq_id": faq_id, **dict(zip(COUNTERS, sums, strict=True))}
        for faq_id, sums in _usage_sums(op.get_bind()).items()
    ]
    if totals:
        op.bulk_insert(faq_stat, totals)

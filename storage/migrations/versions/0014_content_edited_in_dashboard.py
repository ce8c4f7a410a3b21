"""content edited in the dashboard: edited_at on FAQ entries, stories and quiz questions

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 10:00:00

`content import` leaves rows with `edited_at` as staff saved them. Edits made before this revision
are found in the audit log: a row whose latest dashboard action on it is not older than its
`updated_at` (a second's leeway: the dashboard stamps the row and the log entry from separate clock
readings) was last written by the dashboard, not by an import, and gets that action's time. Without
this, the `content import` that follows `db upgrade` would write the files over them one last time.
"""

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TABLES = {"faq_entry": "faq", "story": "story", "quiz_question": "quiz_question"}  # table: audit object_type
LEEWAY_SECONDS = 1

audit_log = sa.table(
    "audit_log",
    sa.column("at", storage.types.UTCDateTime(timezone=True)),
    sa.column("object_type", sa.String),
    sa.column("object_id", sa.String),
)


def _content(name: str) -> sa.TableClause:
    return sa.table(
        name,
        sa.column("id", sa.String),
        sa.column("updated_at", storage.types.UTCDateTime(timezone=True)),
        sa.column("edited_at", storage.types.UTCDateTime(timezone=True)),
    )


def _mark_dashboard_edits(connection: sa.Connection, name: str, object_type: str) -> None:
    table = _content(name)
    latest = dict(
        connection.execute(
            sa.select(audit_log.c.object_id, sa.func.max(audit_log.c.at))
            .where(audit_log.c.object_type == object_type)
            .group_by(audit_log.c.object_id)
        ).all()
    )
    for row_id, updated_at in connection.execute(sa.select(table.c.id, table.c.updated_at)).all():
        edited_at = latest.get(row_id)
        if edited_at is not None and edited_at.timestamp() >= updated_at.timestamp() - LEEWAY_SECONDS:
            connection.execute(sa.update(table).where(table.c.id == row_id).values(edited_at=edited_at))


def upgrade() -> None:
    for name, object_type in TABLES.items():
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.add_column(sa.Column("edited_at", storage.types.UTCDateTime(timezone=True), nullable=True))
        _mark_dashboard_edits(op.get_bind(), name, object_type)


def downgrade() -> None:
    for name in reversed(TABLES):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_column("edited_at")

"""notice delivery counters kept by the database: notice_tally and its change journal

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 18:30:00

outbox gains area_code (the recipient's commune when a notice was queued) and an index that reads
the citizens a notice reached without touching the table. Triggers on outbox journal every notice
message queued, changing status or reason, or deleted in notice_tally_change, in the writer's own
transaction; the scheduler folds the journal into notice_tally (storage/tally.py). Existing notice
messages are counted into notice_tally here.
"""

from string import Template

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

SQLITE_HOUR = "substr({row}.created_at, 1, 13) || ':00:00.000000'"
POSTGRES_HOUR = "date_trunc('hour', {row}.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
CHANGE_COLUMNS = "broadcast_id, area_code, hour, old_status, old_reason, new_status, new_reason"

SQLITE_TRIGGERS = [
    # The recipient's commune, kept on the row so that later changes count in the same place.
    """CREATE TRIGGER outbox_notice_area AFTER INSERT ON outbox
    WHEN NEW.broadcast_id IS NOT NULL AND NEW.area_code IS NULL BEGIN
        UPDATE outbox SET area_code = coalesce((SELECT c.area_code FROM citizen c WHERE c.id = NEW.citizen_id), '')
        WHERE id = NEW.id;
    END""",
    """CREATE TRIGGER outbox_notice_queued AFTER INSERT ON outbox
    WHEN NEW.broadcast_id IS NOT NULL BEGIN
        INSERT INTO notice_tally_change ($columns) VALUES (
            NEW.broadcast_id,
            coalesce(NEW.area_code, (SELECT c.area_code FROM citizen c WHERE c.id = NEW.citizen_id), ''),
            $new_hour, NULL, NULL, NEW.status, coalesce(NEW.reason, ''));
    END""",
    """CREATE TRIGGER outbox_notice_changed AFTER UPDATE OF status, reason ON outbox
    WHEN NEW.broadcast_id IS NOT NULL
        AND (OLD.status IS NOT NEW.status OR coalesce(OLD.reason, '') IS NOT coalesce(NEW.reason, '')) BEGIN
        INSERT INTO notice_tally_change ($columns) VALUES (
            NEW.broadcast_id, coalesce(NEW.area_code, ''), $new_hour,
            OLD.status, coalesce(OLD.reason, ''), NEW.status, coalesce(NEW.reason, ''));
    END""",
    """CREATE TRIGGER outbox_notice_deleted AFTER DELETE ON outbox
    WHEN OLD.broadcast_id IS NOT NULL BEGIN
        INSERT INTO notice_tally_change ($columns) VALUES (
            OLD.broadcast_id, coalesce(OLD.area_code, ''), $old_hour,
            OLD.status, coalesce(OLD.reason, ''), NULL, NULL);
    END""",
]

# Templates (string.Template: "$$" is one "$", so PL/pgSQL's "$$" quotes are written "$$$$").
POSTGRES_FUNCTIONS = [
    """CREATE FUNCTION outbox_notice_area() RETURNS trigger LANGUAGE plpgsql AS $$$$
    BEGIN
        IF NEW.broadcast_id IS NOT NULL AND NEW.area_code IS NULL THEN
            NEW.area_code := coalesce((SELECT c.area_code FROM citizen c WHERE c.id = NEW.citizen_id), '');
        END IF;
        RETURN NEW;
    END $$$$""",
    """CREATE FUNCTION outbox_notice_journal() RETURNS trigger LANGUAGE plpgsql AS $$$$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO notice_tally_change ($columns) VALUES (
                NEW.broadcast_id, coalesce(NEW.area_code, ''), $new_hour,
                NULL, NULL, NEW.status, coalesce(NEW.reason, ''));
        ELSIF TG_OP = 'UPDATE' THEN
            INSERT INTO notice_tally_change ($columns) VALUES (
                NEW.broadcast_id, coalesce(NEW.area_code, ''), $new_hour,
                OLD.status, coalesce(OLD.reason, ''), NEW.status, coalesce(NEW.reason, ''));
        ELSE
            INSERT INTO notice_tally_change ($columns) VALUES (
                OLD.broadcast_id, coalesce(OLD.area_code, ''), $old_hour,
                OLD.status, coalesce(OLD.reason, ''), NULL, NULL);
        END IF;
        RETURN NULL;
    END $$$$""",
]
POSTGRES_TRIGGERS = [
    """CREATE TRIGGER outbox_notice_area BEFORE INSERT ON outbox
    FOR EACH ROW WHEN (NEW.broadcast_id IS NOT NULL) EXECUTE FUNCTION outbox_notice_area()""",
    """CREATE TRIGGER outbox_notice_queued AFTER INSERT ON outbox
    FOR EACH ROW WHEN (NEW.broadcast_id IS NOT NULL) EXECUTE FUNCTION outbox_notice_journal()""",
    """CREATE TRIGGER outbox_notice_changed AFTER UPDATE OF status, reason ON outbox
    FOR EACH ROW WHEN (NEW.broadcast_id IS NOT NULL AND (OLD.status IS DISTINCT FROM NEW.status
        OR coalesce(OLD.reason, '') IS DISTINCT FROM coalesce(NEW.reason, '')))
    EXECUTE FUNCTION outbox_notice_journal()""",
    """CREATE TRIGGER outbox_notice_deleted AFTER DELETE ON outbox
    FOR EACH ROW WHEN (OLD.broadcast_id IS NOT NULL) EXECUTE FUNCTION outbox_notice_journal()""",
]
TRIGGER_NAMES = ("outbox_notice_area", "outbox_notice_queued", "outbox_notice_changed", "outbox_notice_deleted")


def upgrade() -> None:
    op.add_column("outbox", sa.Column("area_code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
    op.create_table(
        "notice_tally",
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("area_code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("hour", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["broadcast_id"], ["broadcast.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("broadcast_id", "area_code", "hour", "status", "reason"),
    )
    op.create_index(op.f("ix_notice_tally_hour"), "notice_tally", ["hour"], unique=False)
    op.create_table(
        "notice_tally_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("area_code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("hour", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("old_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("old_reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("new_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("new_reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_notice_tally_change_broadcast_id"), "notice_tally_change", ["broadcast_id"], unique=False)

    # Notice messages queued before: their commune now, and their counts.
    op.execute(
        "UPDATE outbox SET area_code = coalesce((SELECT c.area_code FROM citizen c WHERE c.id = outbox.citizen_id), '') "
        "WHERE broadcast_id IS NOT NULL"
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    hour = (POSTGRES_HOUR if postgres else SQLITE_HOUR).format(row="outbox")
    op.execute(
        Template(
            "INSERT INTO notice_tally (broadcast_id, area_code, hour, status, reason, count) "
            "SELECT broadcast_id, area_code, $hour, status, coalesce(reason, ''), count(*) FROM outbox "
            "WHERE broadcast_id IS NOT NULL GROUP BY broadcast_id, area_code, $hour, status, coalesce(reason, '')"
        ).substitute(hour=hour)
    )
    op.create_index(
        "ix_outbox_notice_reach", "outbox", ["broadcast_id", "area_code", "status", "citizen_id"], unique=False
    )
    hours = POSTGRES_HOUR if postgres else SQLITE_HOUR
    for statement in POSTGRES_FUNCTIONS + POSTGRES_TRIGGERS if postgres else SQLITE_TRIGGERS:
        op.execute(
            Template(statement).substitute(
                columns=CHANGE_COLUMNS, new_hour=hours.format(row="NEW"), old_hour=hours.format(row="OLD")
            )
        )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in TRIGGER_NAMES:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON outbox" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS outbox_notice_journal()")
        op.execute("DROP FUNCTION IF EXISTS outbox_notice_area()")
    op.drop_index("ix_outbox_notice_reach", table_name="outbox")
    op.drop_index(op.f("ix_notice_tally_change_broadcast_id"), table_name="notice_tally_change")
    op.drop_table("notice_tally_change")
    op.drop_index(op.f("ix_notice_tally_hour"), table_name="notice_tally")
    op.drop_table("notice_tally")
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("area_code")

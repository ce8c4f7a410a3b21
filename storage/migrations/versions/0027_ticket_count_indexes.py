"""indexes for the ticket figures, counting open and overdue tickets, and finding tickets without search text

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 19:30:00

ix_ticket_figures holds every column the period's ticket figures read, after created_at, so
they are read from the index alone; ticket (status, due_at) lets the overview and the overdue inbox count from the index alone; a
partial index of the tickets whose search_text is still NULL (nearly always empty) answers "is any
ticket still to index?" without reading the table.
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ticket_status_due", "ticket", ["status", "due_at"], unique=False)
    op.create_index(
        "ix_ticket_figures",
        "ticket",
        ["created_at", "kind", "area_code", "status", "due_at", "answered_at", "rating", "resolved"],
        unique=False,
    )
    op.create_index(
        "ix_ticket_search_pending",
        "ticket",
        ["id"],
        unique=False,
        sqlite_where=sa.text("search_text IS NULL"),
        postgresql_where=sa.text("search_text IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_ticket_search_pending",
        table_name="ticket",
        sqlite_where=sa.text("search_text IS NULL"),
        postgresql_where=sa.text("search_text IS NULL"),
    )
    op.drop_index("ix_ticket_figures", table_name="ticket")
    op.drop_index("ix_ticket_status_due", table_name="ticket")

"""retention (placeholder: nothing yet)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 18:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

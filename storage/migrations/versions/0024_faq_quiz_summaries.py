"""faq_quiz_summaries (placeholder: nothing yet)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 18:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

"""web chat identities issued by the server; per-address limits

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 16:00:00
"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

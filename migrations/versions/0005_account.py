"""user.deleted_at: when a member erased their account (GDPR art. 17).

Written by hand. A nullable timestamptz, so no server default is needed and both databases add
it in place (SQLite's ALTER TABLE ADD COLUMN, no table rebuild: rebuilding "user" would touch
every table that points at it). A deleted account keeps its row as an anonymous stub so
bookings and payments, which are kept for accounting, still add up per account.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 03:15:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('user', sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # SQLite 3.35+ drops a plain column in place; no index or constraint refers to it.
    op.drop_column('user', 'deleted_at')

"""Membership requests for tiers with a monthly fee: staff confirm, the member then sets up
the monthly payment; the day staff chose is kept on the request.

Written by hand.

- membership_request.starts_on (DATE, NULL): the start day staff chose when confirming;
  existing confirmed rows get their membership's start day.

Revision ID: 0013_reqpay
Revises: 0012_desk
Create Date: 2026-12-08 02:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0013_reqpay'
down_revision = '0012_desk'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('membership_request') as batch:
        batch.add_column(sa.Column('starts_on', sa.Date(), nullable=True))
    op.execute(
        "UPDATE membership_request SET starts_on = (SELECT membership.valid_from FROM "
        "membership WHERE membership.id = membership_request.membership_id) "
        "WHERE membership_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table('membership_request') as batch:
        batch.drop_column('starts_on')

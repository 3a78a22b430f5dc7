"""Tier changes on a monthly subscription (issue 19): subscription_change.

One row per change (an upgrade applied at once, a downgrade planned for the 1st). The partial
unique index allows one unfinished change (pending or planned) per subscription, so a double
submit makes one change on SQLite and PostgreSQL alike (the status list matches
``billing.change_models.UNFINISHED``).

Revision ID: 0011_billing_changes
Revises: 0010_billing
Create Date: 2026-12-08 00:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0011_billing_changes'
down_revision = '0010_billing'
branch_labels = None
depends_on = None

UNFINISHED = sa.text("status IN ('pending', 'planned')")


def upgrade() -> None:
    op.create_table('subscription_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('upgrade', 'downgrade', name='subscription_change_kind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('status', sa.Enum('pending', 'planned', 'applied', 'withdrawn', name='subscription_change_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('from_tier_id', sa.Integer(), nullable=False),
    sa.Column('to_tier_id', sa.Integer(), nullable=False),
    sa.Column('from_amount_cents', sa.Integer(), nullable=False),
    sa.Column('to_amount_cents', sa.Integer(), nullable=False),
    sa.Column('effective_on', sa.Date(), nullable=False),
    sa.Column('proration_cents', sa.Integer(), nullable=True),
    sa.Column('period_id', sa.Integer(), nullable=True),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('idempotency_key', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['from_tier_id'], ['tier.id'], name=op.f('fk_subscription_change_from_tier_id_tier'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['period_id'], ['billing_period.id'], name=op.f('fk_subscription_change_period_id_billing_period'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user.id'], name=op.f('fk_subscription_change_requested_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscription.id'], name=op.f('fk_subscription_change_subscription_id_subscription'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['to_tier_id'], ['tier.id'], name=op.f('fk_subscription_change_to_tier_id_tier'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_change')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_subscription_change_idempotency_key'))
    )
    with op.batch_alter_table('subscription_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscription_change_subscription_id'), ['subscription_id'], unique=False)
        batch_op.create_index('ix_subscription_change_status_effective', ['status', 'effective_on'], unique=False)
        batch_op.create_index('uq_subscription_change_unfinished', ['subscription_id'], unique=True, sqlite_where=UNFINISHED, postgresql_where=UNFINISHED)


def downgrade() -> None:
    with op.batch_alter_table('subscription_change', schema=None) as batch_op:
        batch_op.drop_index('uq_subscription_change_unfinished', sqlite_where=UNFINISHED, postgresql_where=UNFINISHED)
        batch_op.drop_index('ix_subscription_change_status_effective')
        batch_op.drop_index(batch_op.f('ix_subscription_change_subscription_id'))
    op.drop_table('subscription_change')

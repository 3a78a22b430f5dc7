"""Monthly fees (issue 19): subscriptions, their billed periods, the simulated gateway's
subscriptions, and the link from a membership to the subscription that pays for it.

Written by hand (from autogenerate's draft, reviewed). The two partial unique indexes allow
at most one open subscription (incomplete, active, past_due, suspended) per paying member and
per paying company: a double submit of the sign-up makes one subscription, on SQLite and on
PostgreSQL alike (both support partial indexes; the status list matches
``billing.models.OPEN_STATUSES``). Enums are VARCHAR with a CHECK, as everywhere here.

membership gets two nullable columns (subscription_id with its foreign key, paid_through):
SQLite cannot add a foreign key in place, so membership is rebuilt in batch mode (it has no
triggers; booking's overlap triggers are on another table and stay untouched).

Revision ID: 0008_billing
Revises: 0007
Create Date: 2026-12-08 00:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0008_billing'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('simulated_subscription',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('payment_method', sa.String(length=16), nullable=False),
    sa.Column('payment_method_label', sa.String(length=64), nullable=False),
    sa.Column('mandate_reference', sa.String(length=35), nullable=True),
    sa.Column('failing', sa.Boolean(), nullable=False),
    sa.Column('unit_amount_cents', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('current_period_start', sa.String(length=10), nullable=False),
    sa.Column('current_period_end', sa.String(length=10), nullable=False),
    sa.Column('cancel_at', sa.String(length=10), nullable=True),
    sa.Column('invoices', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_simulated_subscription')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_simulated_subscription_idempotency_key'))
    )
    op.create_table('subscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('company_id', sa.Integer(), nullable=True),
    sa.Column('tier_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('monthly_amount_cents', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('status', sa.Enum('incomplete', 'active', 'past_due', 'suspended', 'ended', 'cancelled', name='subscription_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('customer_ref', sa.String(length=255), nullable=True),
    sa.Column('gateway_subscription_id', sa.String(length=255), nullable=True),
    sa.Column('checkout_id', sa.String(length=255), nullable=True),
    sa.Column('checkout_url', sa.Text(), nullable=True),
    sa.Column('payment_method', sa.Enum('card', 'sepa_debit', name='payment_method_kind', native_enum=False, create_constraint=True, length=16), nullable=True),
    sa.Column('payment_method_label', sa.String(length=64), nullable=True),
    sa.Column('mandate_reference', sa.String(length=35), nullable=True),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('current_period_start', sa.Date(), nullable=True),
    sa.Column('current_period_end', sa.Date(), nullable=True),
    sa.Column('paid_through', sa.Date(), nullable=True),
    sa.Column('cancel_at', sa.Date(), nullable=True),
    sa.Column('cancel_requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('past_due_since', sa.Date(), nullable=True),
    sa.Column('suspended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('idempotency_key', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("user_id IS NOT NULL OR company_id IS NOT NULL OR status IN ('ended', 'cancelled')", name=op.f('ck_subscription_has_payer')),
    sa.CheckConstraint('current_period_end IS NULL OR current_period_end >= current_period_start', name=op.f('ck_subscription_period_order')),
    sa.CheckConstraint('monthly_amount_cents >= 0', name=op.f('ck_subscription_monthly_amount_nonnegative')),
    sa.CheckConstraint('quantity >= 1', name=op.f('ck_subscription_quantity_positive')),
    sa.ForeignKeyConstraint(['company_id'], ['company.id'], name=op.f('fk_subscription_company_id_company'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tier_id'], ['tier.id'], name=op.f('fk_subscription_tier_id_tier'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_subscription_user_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription')),
    sa.UniqueConstraint('checkout_id', name=op.f('uq_subscription_checkout_id')),
    sa.UniqueConstraint('gateway_subscription_id', name=op.f('uq_subscription_gateway_subscription_id')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_subscription_idempotency_key'))
    )
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.create_index('ix_subscription_status_period', ['status', 'current_period_end'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscription_tier_id'), ['tier_id'], unique=False)
        batch_op.create_index('uq_subscription_open_company', ['company_id'], unique=True, sqlite_where=sa.text("status IN ('incomplete', 'active', 'past_due', 'suspended')"), postgresql_where=sa.text("status IN ('incomplete', 'active', 'past_due', 'suspended')"))
        batch_op.create_index('uq_subscription_open_user', ['user_id'], unique=True, sqlite_where=sa.text("status IN ('incomplete', 'active', 'past_due', 'suspended')"), postgresql_where=sa.text("status IN ('incomplete', 'active', 'past_due', 'suspended')"))

    op.create_table('billing_period',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('first', 'renewal', 'proration', name='billing_period_kind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('unit_amount_cents', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('days_billed', sa.Integer(), nullable=False),
    sa.Column('days_in_month', sa.Integer(), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('net_cents', sa.Integer(), nullable=False),
    sa.Column('tax_cents', sa.Integer(), nullable=False),
    sa.Column('vat_percent', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.Enum('open', 'paid', 'failed', 'void', name='billing_period_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('gateway_invoice_id', sa.String(length=255), nullable=True),
    sa.Column('gateway_charge_id', sa.String(length=255), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_attempt_on', sa.Date(), nullable=True),
    sa.Column('failure_message', sa.String(length=500), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('idempotency_key', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_cents >= 0', name=op.f('ck_billing_period_amount_nonnegative')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_billing_period_attempts_nonnegative')),
    sa.CheckConstraint('net_cents + tax_cents = amount_cents', name=op.f('ck_billing_period_net_plus_tax')),
    sa.CheckConstraint('period_end >= period_start', name=op.f('ck_billing_period_period_order')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscription.id'], name=op.f('fk_billing_period_subscription_id_subscription'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_period')),
    sa.UniqueConstraint('gateway_invoice_id', name=op.f('uq_billing_period_gateway_invoice_id')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_billing_period_idempotency_key')),
    sa.UniqueConstraint('subscription_id', 'kind', 'period_start', name=op.f('uq_billing_period_subscription_id_kind_period_start'))
    )
    with op.batch_alter_table('billing_period', schema=None) as batch_op:
        batch_op.create_index('ix_billing_period_status_retry', ['status', 'next_attempt_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_period_subscription_id'), ['subscription_id'], unique=False)

    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subscription_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('paid_through', sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f('ix_membership_subscription_id'), ['subscription_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_membership_subscription_id_subscription'), 'subscription', ['subscription_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_membership_subscription_id_subscription'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_membership_subscription_id'))
        batch_op.drop_column('paid_through')
        batch_op.drop_column('subscription_id')

    with op.batch_alter_table('billing_period', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_billing_period_subscription_id'))
        batch_op.drop_index('ix_billing_period_status_retry')

    op.drop_table('billing_period')
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.drop_index('uq_subscription_open_user', sqlite_where=sa.text("status IN ('incomplete', 'active', 'past_due', 'suspended')"), postgresql_where=sa.text("status IN ('incomplete', 'active', 'past_due', 'suspended')"))
        batch_op.drop_index('uq_subscription_open_company', sqlite_where=sa.text("status IN ('incomplete', 'active', 'past_due', 'suspended')"), postgresql_where=sa.text("status IN ('incomplete', 'active', 'past_due', 'suspended')"))
        batch_op.drop_index(batch_op.f('ix_subscription_tier_id'))
        batch_op.drop_index('ix_subscription_status_period')

    op.drop_table('subscription')
    op.drop_table('simulated_subscription')

"""The front desk's payments: how a payment is paid and who recorded it, manual charges, and
who may pay on invoice.

Written by hand.

- payment.method (VARCHAR + CHECK, NOT NULL): 'online' (the gateway's checkout) for every
  existing row, through the server default; 'desk_cash', 'desk_card', 'invoice' for what
  staff record. payment.recorded_by_id, settled_by_id (staff, SET NULL), company_id (billed
  to the member's company, SET NULL), settled_at and transfer_reference (NOT NULL, '').
  Added in batch mode, which rebuilds the table on SQLite (foreign keys are switched off
  around it by env.py) and is a plain ALTER TABLE on PostgreSQL.
- manual_charge: one line staff charge by hand, with its VAT rate and exact net/tax, and
  the payment that settles it.
- user.may_pay_on_invoice, company.may_pay_on_invoice (NOT NULL, default false).

Revision ID: 0012_desk
Revises: 0011_billing_changes
Create Date: 2026-12-08 00:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0012_desk'
down_revision = '0011_billing_changes'
branch_labels = None
depends_on = None

METHODS = ('online', 'desk_cash', 'desk_card', 'invoice')


def upgrade() -> None:
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'method', sa.Enum(*METHODS, name='payment_method', native_enum=False,
                              create_constraint=True, length=16),
            nullable=False, server_default='online',
        ))
        batch_op.add_column(sa.Column('recorded_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('company_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('settled_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column(
            'transfer_reference', sa.String(length=140), nullable=False, server_default='',
        ))
        batch_op.create_foreign_key(
            batch_op.f('fk_payment_recorded_by_id_user'), 'user', ['recorded_by_id'], ['id'],
            ondelete='SET NULL')
        batch_op.create_foreign_key(
            batch_op.f('fk_payment_company_id_company'), 'company', ['company_id'], ['id'],
            ondelete='SET NULL')
        batch_op.create_foreign_key(
            batch_op.f('fk_payment_settled_by_id_user'), 'user', ['settled_by_id'], ['id'],
            ondelete='SET NULL')
        batch_op.create_index(batch_op.f('ix_payment_company_id'), ['company_id'], unique=False)

    op.create_table(
        'manual_charge',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('payment_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('company_id', sa.Integer(), nullable=True),
        sa.Column('description', sa.String(length=200), nullable=False),
        sa.Column('vat_percent', sa.Integer(), nullable=False),
        sa.Column('gross_cents', sa.Integer(), nullable=False),
        sa.Column('net_cents', sa.Integer(), nullable=False),
        sa.Column('tax_cents', sa.Integer(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('gross_cents > 0', name=op.f('ck_manual_charge_gross_positive')),
        sa.CheckConstraint('net_cents >= 0 AND tax_cents >= 0',
                           name=op.f('ck_manual_charge_parts_nonnegative')),
        sa.CheckConstraint('gross_cents = net_cents + tax_cents',
                           name=op.f('ck_manual_charge_gross_is_net_plus_tax')),
        sa.CheckConstraint('vat_percent >= 0 AND vat_percent <= 100',
                           name=op.f('ck_manual_charge_vat_percent_range')),
        sa.ForeignKeyConstraint(['payment_id'], ['payment.id'],
                                name=op.f('fk_manual_charge_payment_id_payment'),
                                ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'],
                                name=op.f('fk_manual_charge_user_id_user'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['company_id'], ['company.id'],
                                name=op.f('fk_manual_charge_company_id_company'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['created_by_id'], ['user.id'],
                                name=op.f('fk_manual_charge_created_by_id_user'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_manual_charge')),
    )
    with op.batch_alter_table('manual_charge', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_manual_charge_payment_id'), ['payment_id'])
        batch_op.create_index(batch_op.f('ix_manual_charge_user_id'), ['user_id'])
        batch_op.create_index(batch_op.f('ix_manual_charge_company_id'), ['company_id'])

    # In place on both databases: plain columns with a default for the rows already there.
    op.add_column('user', sa.Column('may_pay_on_invoice', sa.Boolean(), nullable=False,
                                    server_default=sa.false()))
    op.add_column('company', sa.Column('may_pay_on_invoice', sa.Boolean(), nullable=False,
                                       server_default=sa.false()))


def downgrade() -> None:
    op.drop_column('company', 'may_pay_on_invoice')
    op.drop_column('user', 'may_pay_on_invoice')
    op.drop_table('manual_charge')
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_company_id'))
        batch_op.drop_constraint(batch_op.f('fk_payment_settled_by_id_user'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_payment_company_id_company'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_payment_recorded_by_id_user'),
                                 type_='foreignkey')
        # The enum's CHECK names the column: dropped first, or the rebuilt table keeps it.
        batch_op.drop_constraint(op.f('ck_payment_payment_method'), type_='check')
        batch_op.drop_column('transfer_reference')
        batch_op.drop_column('settled_by_id')
        batch_op.drop_column('settled_at')
        batch_op.drop_column('company_id')
        batch_op.drop_column('recorded_by_id')
        batch_op.drop_column('method')

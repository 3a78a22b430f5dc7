"""Company accounts: billing data, managers, per-member caps, invitations.

Written by hand.

- ``company`` gets its billing data: ``legal_name`` (NOT NULL; every existing company's is
  its name), address, ``country`` (NOT NULL, server default 'DE'), VAT ID, invoice address
  and Leitweg-ID, all others nullable: a company from before keeps working and is completed
  later. SQLite cannot make a column NOT NULL in place, so ``legal_name`` is added nullable,
  filled, then tightened in a batch (a rebuild of ``company``; migrations/env.py has foreign
  keys off meanwhile, so the users pointing at it keep their company).
- ``user`` gets the member's place in the company: ``company_manager`` (NOT NULL, server
  default false: nobody manages a company until staff or its founder says so) and the
  member's own monthly caps, nullable (None: the company's default, as before). Their CHECKs
  are column constraints, so both databases add the columns in place.
- ``company_invitation``: who was invited to which company, the random nonce and the
  digest of the link's token (never the token), and what became of it.

Revision ID: 0009_company
Revises: 0008_signup
Create Date: 2026-12-08 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0009_company'
down_revision = '0008_signup'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('company', schema=None) as batch_op:
        batch_op.add_column(sa.Column('legal_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('street', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('postal_code', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('city', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('country', sa.String(length=2), nullable=False,
                                      server_default='DE'))
        batch_op.add_column(sa.Column('vat_id', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('invoice_email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('leitweg_id', sa.String(length=46), nullable=True))
    op.execute("UPDATE company SET legal_name = name")
    with op.batch_alter_table('company', schema=None) as batch_op:
        batch_op.alter_column('legal_name', existing_type=sa.String(length=200), nullable=False)

    op.add_column('user', sa.Column('company_manager', sa.Boolean(), nullable=False,
                                    server_default=sa.false()))
    op.add_column('user', sa.Column(
        'company_cap_desk_days', sa.Integer(),
        sa.CheckConstraint('company_cap_desk_days >= 0',
                           name=op.f('ck_user_company_cap_desk_days')),
        nullable=True,
    ))
    op.add_column('user', sa.Column(
        'company_cap_studio_hours', sa.Integer(),
        sa.CheckConstraint('company_cap_studio_hours >= 0',
                           name=op.f('ck_user_company_cap_studio_hours')),
        nullable=True,
    ))

    op.create_table('company_invitation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('nonce', sa.String(length=32), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('invited_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accepted_by_id', sa.Integer(), nullable=True),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['company_id'], ['company.id'],
                            name=op.f('fk_company_invitation_company_id_company'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['invited_by_id'], ['user.id'],
                            name=op.f('fk_company_invitation_invited_by_id_user'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['accepted_by_id'], ['user.id'],
                            name=op.f('fk_company_invitation_accepted_by_id_user'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_company_invitation')),
    sa.UniqueConstraint('digest', name=op.f('uq_company_invitation_digest')),
    )
    with op.batch_alter_table('company_invitation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_company_invitation_company_id'), ['company_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('company_invitation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_company_invitation_company_id'))
    op.drop_table('company_invitation')
    op.drop_column('user', 'company_cap_studio_hours')
    op.drop_column('user', 'company_cap_desk_days')
    op.drop_column('user', 'company_manager')
    with op.batch_alter_table('company', schema=None) as batch_op:
        for column in ('leitweg_id', 'invoice_email', 'vat_id', 'country', 'city',
                       'postal_code', 'street', 'legal_name'):
            batch_op.drop_column(column)

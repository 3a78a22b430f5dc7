"""Members sign up themselves: a tier's sign-up mode and notice period; membership requests.

Written by hand.

``tier.signup_mode`` says who may give a member the tier: ``self_service`` (the member
chooses it online), ``on_request`` (the member asks, staff confirm) or ``staff_only``. Every
tier that exists gets ``staff_only``, the way things worked until now: nothing becomes
bookable online by an upgrade; staff open tiers one by one in the tier form.
``tier.notice_days`` (whole days, 0 or more) is the notice a member gives to cancel at the end
of a calendar month; existing tiers get 0. Both are NOT NULL with a server default, so app
servers still on the previous release keep inserting tiers while the others are upgraded.
Their CHECKs are part of the columns (as in 0007), so both databases add them in place and
SQLite drops them in place again on downgrade.

``membership_request``: an on-request tier asked for by a member, open until staff confirm or
decline it. A partial unique index (``WHERE status = 'open'``, which both databases support)
keeps a member to one open request, however often the form is sent.

Revision ID: 0008_signup
Revises: 0007
Create Date: 2026-12-08 00:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0008_signup'
down_revision = '0007'
branch_labels = None
depends_on = None

MODES = ('self_service', 'on_request', 'staff_only')
REQUEST_STATUSES = ('open', 'confirmed', 'declined')


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    op.add_column('tier', sa.Column(
        'signup_mode', sa.String(length=16),
        sa.CheckConstraint(f"signup_mode IN ({_in(MODES)})",
                           name=op.f('ck_tier_signup_mode')),
        nullable=False, server_default='staff_only',
    ))
    op.add_column('tier', sa.Column(
        'notice_days', sa.Integer(),
        sa.CheckConstraint('notice_days >= 0', name=op.f('ck_tier_notice_days_nonnegative')),
        nullable=False, server_default='0',
    ))
    op.create_table(
        'membership_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('tier_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.Enum(*REQUEST_STATUSES, name='membership_request_status',
                                    native_enum=False, create_constraint=True, length=16),
                  nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
        sa.Column('decline_reason', sa.Text(), nullable=False),
        sa.Column('membership_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'],
                                name=op.f('fk_membership_request_user_id_user'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tier_id'], ['tier.id'],
                                name=op.f('fk_membership_request_tier_id_tier'),
                                ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'],
                                name=op.f('fk_membership_request_decided_by_id_user'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['membership_id'], ['membership.id'],
                                name=op.f('fk_membership_request_membership_id_membership'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_membership_request')),
    )
    op.create_index('ix_membership_request_tier_id', 'membership_request', ['tier_id'])
    op.create_index('ix_membership_request_status_created', 'membership_request',
                    ['status', 'created_at'])
    op.create_index('uq_membership_request_user_id', 'membership_request', ['user_id'],
                    unique=True, postgresql_where=sa.text("status = 'open'"),
                    sqlite_where=sa.text("status = 'open'"))


def downgrade() -> None:
    op.drop_table('membership_request')  # its indexes go with it
    # In place on both databases (SQLite 3.35+); each column's CHECK is dropped with it.
    op.drop_column('tier', 'notice_days')
    op.drop_column('tier', 'signup_mode')

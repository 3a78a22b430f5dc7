"""The outbox (mail and deferred work for the worker), desk check-in and no-show, verified
e-mail addresses.

Written by hand. outbox.key is UNIQUE and nullable: a keyed entry (a reminder per booking and
start, a periodic job per hour) can be queued only once, by however many workers, while
unkeyed messages (NULLs) never collide. ix_outbox_due serves the claim query (status, then
time). The status is a VARCHAR with a CHECK, like every enum here. The three new columns on
"booking" and "user" are nullable timestamps, added in place on both databases: no table
rebuild, so SQLite keeps booking's overlap-guard triggers untouched. Existing accounts start
unverified; the account page asks them to confirm their address.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 06:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

STATUSES = ('pending', 'sending', 'sent', 'failed')


def upgrade() -> None:
    op.create_table(
        'outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('topic', sa.String(length=64), nullable=False),
        sa.Column('payload', sa.JSON().with_variant(
            postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
        sa.Column('key', sa.String(length=160), nullable=True),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('status', sa.Enum(*STATUSES, name='outbox_status', native_enum=False,
                                    create_constraint=True, length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('claimed_by', sa.String(length=120), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_outbox_user_id_user'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
        sa.UniqueConstraint('key', name=op.f('uq_outbox_key')),
    )
    op.create_index('ix_outbox_due', 'outbox', ['status', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_outbox_topic'), 'outbox', ['topic'], unique=False)
    op.create_index(op.f('ix_outbox_user_id'), 'outbox', ['user_id'], unique=False)
    op.add_column('booking', sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('booking', sa.Column('no_show_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('user', sa.Column('email_verified_at', sa.DateTime(timezone=True),
                                    nullable=True))


def downgrade() -> None:
    # Plain nullable columns without index or constraint: dropped in place (SQLite 3.35+),
    # so the booking triggers stay.
    op.drop_column('user', 'email_verified_at')
    op.drop_column('booking', 'no_show_at')
    op.drop_column('booking', 'checked_in_at')
    op.drop_index(op.f('ix_outbox_user_id'), table_name='outbox')
    op.drop_index(op.f('ix_outbox_topic'), table_name='outbox')
    op.drop_index('ix_outbox_due', table_name='outbox')
    op.drop_table('outbox')

"""Initial schema, with the booking overlap guard on both databases.

Reviewed by hand. Autogenerate wrote the tables; the guard section at the end of upgrade() is
hand-written because Alembic cannot see it: a btree_gist exclusion constraint on PostgreSQL and
BEFORE INSERT/UPDATE triggers on SQLite. Both refuse a held or confirmed booking whose buffered
range [block_start, block_end) overlaps another held or confirmed booking of the same resource,
whoever writes it. Keep the status list in step with booking.models.ACTIVE_STATUSES.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-21 22:24:06.200523
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('company',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_company')),
    sa.UniqueConstraint('name', name=op.f('uq_company_name'))
    )
    op.create_table('location',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('street', sa.String(length=200), nullable=False),
    sa.Column('postal_code', sa.String(length=16), nullable=False),
    sa.Column('city', sa.String(length=100), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('holiday_country', sa.String(length=2), nullable=False),
    sa.Column('holiday_subdivision', sa.String(length=8), nullable=True),
    sa.Column('half_day_split', sa.Time(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_location')),
    sa.UniqueConstraint('slug', name=op.f('uq_location_slug'))
    )
    op.create_table('tier',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('monthly_price_cents', sa.Integer(), nullable=False),
    sa.Column('booking_horizon_days', sa.Integer(), nullable=False),
    sa.Column('max_future_bookings', sa.Integer(), nullable=False),
    sa.Column('included_desk_days', sa.Integer(), nullable=False),
    sa.Column('included_studio_hours', sa.Integer(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.CheckConstraint('booking_horizon_days >= 0', name=op.f('ck_tier_horizon_nonnegative')),
    sa.CheckConstraint('included_desk_days >= 0', name=op.f('ck_tier_desk_days_nonnegative')),
    sa.CheckConstraint('included_studio_hours >= 0', name=op.f('ck_tier_studio_hours_nonnegative')),
    sa.CheckConstraint('max_future_bookings >= 0', name=op.f('ck_tier_max_future_nonnegative')),
    sa.CheckConstraint('monthly_price_cents >= 0', name=op.f('ck_tier_monthly_price_nonnegative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tier')),
    sa.UniqueConstraint('slug', name=op.f('uq_tier_slug'))
    )
    op.create_table('closure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('first_day', sa.Date(), nullable=False),
    sa.Column('last_day', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.CheckConstraint('last_day >= first_day', name=op.f('ck_closure_last_after_first')),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_closure_location_id_location'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_closure'))
    )
    with op.batch_alter_table('closure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_closure_location_id'), ['location_id'], unique=False)

    op.create_table('opening_hours',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('opens', sa.Time(), nullable=False),
    sa.Column('closes', sa.Time(), nullable=False),
    sa.CheckConstraint('closes > opens', name=op.f('ck_opening_hours_closes_after_opens')),
    sa.CheckConstraint('weekday BETWEEN 0 AND 6', name=op.f('ck_opening_hours_weekday_range')),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_opening_hours_location_id_location'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opening_hours')),
    sa.UniqueConstraint('location_id', 'weekday', 'opens', name=op.f('uq_opening_hours_location_id_weekday_opens'))
    )
    op.create_table('resource',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.Enum('desk', 'studio', 'room', name='resource_kind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('zone', sa.String(length=100), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('booking_unit', sa.Enum('half_day', 'day', 'slot_30', name='booking_unit', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('min_duration_minutes', sa.Integer(), nullable=False),
    sa.Column('max_duration_minutes', sa.Integer(), nullable=False),
    sa.Column('buffer_before_minutes', sa.Integer(), nullable=False),
    sa.Column('buffer_after_minutes', sa.Integer(), nullable=False),
    sa.Column('induction', sa.String(length=64), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.CheckConstraint('buffer_after_minutes >= 0', name=op.f('ck_resource_buffer_after_nonnegative')),
    sa.CheckConstraint('buffer_before_minutes >= 0', name=op.f('ck_resource_buffer_before_nonnegative')),
    sa.CheckConstraint('capacity >= 1', name=op.f('ck_resource_capacity_positive')),
    sa.CheckConstraint('max_duration_minutes >= min_duration_minutes', name=op.f('ck_resource_max_ge_min')),
    sa.CheckConstraint('min_duration_minutes > 0', name=op.f('ck_resource_min_duration_positive')),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_resource_location_id_location'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_resource')),
    sa.UniqueConstraint('slug', name=op.f('uq_resource_slug'))
    )
    with op.batch_alter_table('resource', schema=None) as batch_op:
        batch_op.create_index('ix_resource_location_kind', ['location_id', 'kind'], unique=False)

    op.create_table('tier_kind_price',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tier_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('desk', 'studio', 'room', name='tier_kind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('price_hour_cents', sa.Integer(), nullable=True),
    sa.Column('price_half_day_cents', sa.Integer(), nullable=True),
    sa.Column('price_day_cents', sa.Integer(), nullable=True),
    sa.CheckConstraint('(price_hour_cents IS NULL OR price_hour_cents >= 0) AND (price_half_day_cents IS NULL OR price_half_day_cents >= 0) AND (price_day_cents IS NULL OR price_day_cents >= 0)', name=op.f('ck_tier_kind_price_prices_nonnegative')),
    sa.ForeignKeyConstraint(['tier_id'], ['tier.id'], name=op.f('fk_tier_kind_price_tier_id_tier'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tier_kind_price')),
    sa.UniqueConstraint('tier_id', 'kind', name=op.f('uq_tier_kind_price_tier_id_kind'))
    )
    op.create_table('user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.Enum('member', 'staff', 'admin', name='user_role', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=True),
    sa.Column('is_active_account', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('email = lower(email)', name=op.f('ck_user_email_lowercase')),
    sa.ForeignKeyConstraint(['company_id'], ['company.id'], name=op.f('fk_user_company_id_company'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user')),
    sa.UniqueConstraint('email', name=op.f('uq_user_email'))
    )
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_company_id'), ['company_id'], unique=False)

    op.create_table('audit_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=False),
    sa.Column('object_id', sa.Integer(), nullable=True),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], name=op.f('fk_audit_entry_actor_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entry'))
    )
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entry_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entry_actor_id'), ['actor_id'], unique=False)
        batch_op.create_index('ix_audit_entry_at', ['at'], unique=False)
        batch_op.create_index('ix_audit_entry_object', ['object_type', 'object_id'], unique=False)

    op.create_table('block',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('resource_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.Enum('maintenance', 'closure', 'event', name='block_kind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_block_ends_after_starts')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_block_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_block_location_id_location'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['resource_id'], ['resource.id'], name=op.f('fk_block_resource_id_resource'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_block'))
    )
    with op.batch_alter_table('block', schema=None) as batch_op:
        batch_op.create_index('ix_block_location_range', ['location_id', 'starts_at', 'ends_at'], unique=False)
        batch_op.create_index('ix_block_resource_range', ['resource_id', 'starts_at', 'ends_at'], unique=False)

    op.create_table('booking',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=36), nullable=False),
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('block_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('block_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('held', 'confirmed', 'cancelled', 'expired', name='booking_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('hold_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('price_gross_cents', sa.Integer(), nullable=False),
    sa.Column('price_net_cents', sa.Integer(), nullable=False),
    sa.Column('price_tax_cents', sa.Integer(), nullable=False),
    sa.Column('credit_half_days', sa.Integer(), nullable=False),
    sa.Column('credit_minutes', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('series_uid', sa.String(length=36), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_by_id', sa.Integer(), nullable=True),
    sa.Column('cancel_reason', sa.String(length=500), nullable=True),
    sa.CheckConstraint("status <> 'held' OR hold_expires_at IS NOT NULL", name=op.f('ck_booking_held_has_expiry')),
    sa.CheckConstraint('block_start <= starts_at AND block_end >= ends_at', name=op.f('ck_booking_block_covers_booking')),
    sa.CheckConstraint('credit_half_days >= 0 AND credit_minutes >= 0', name=op.f('ck_booking_credit_nonneg')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_booking_ends_after_starts')),
    sa.CheckConstraint('price_gross_cents = price_net_cents + price_tax_cents', name=op.f('ck_booking_price_adds_up')),
    sa.CheckConstraint('price_net_cents >= 0 AND price_tax_cents >= 0', name=op.f('ck_booking_price_nonnegative')),
    sa.CheckConstraint('sequence >= 0', name=op.f('ck_booking_sequence_nonnegative')),
    sa.ForeignKeyConstraint(['cancelled_by_id'], ['user.id'], name=op.f('fk_booking_cancelled_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_booking_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['resource_id'], ['resource.id'], name=op.f('fk_booking_resource_id_resource'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_booking_user_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_booking')),
    sa.UniqueConstraint('uid', name=op.f('uq_booking_uid'))
    )
    with op.batch_alter_table('booking', schema=None) as batch_op:
        batch_op.create_index('ix_booking_resource_block', ['resource_id', 'block_start', 'block_end'], unique=False)
        batch_op.create_index(batch_op.f('ix_booking_series_uid'), ['series_uid'], unique=False)
        batch_op.create_index('ix_booking_status_hold', ['status', 'hold_expires_at'], unique=False)
        batch_op.create_index('ix_booking_user_starts', ['user_id', 'starts_at'], unique=False)

    op.create_table('induction',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=False),
    sa.Column('granted_by_id', sa.Integer(), nullable=True),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['granted_by_id'], ['user.id'], name=op.f('fk_induction_granted_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_induction_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_induction')),
    sa.UniqueConstraint('user_id', 'topic', name=op.f('uq_induction_user_id_topic'))
    )
    op.create_table('membership',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('tier_id', sa.Integer(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('status', sa.Enum('active', 'paused', 'cancelled', name='membership_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('valid_until IS NULL OR valid_until >= valid_from', name=op.f('ck_membership_until_after_from')),
    sa.ForeignKeyConstraint(['tier_id'], ['tier.id'], name=op.f('fk_membership_tier_id_tier'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_membership_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_membership'))
    )
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_membership_tier_id'), ['tier_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_membership_user_id'), ['user_id'], unique=False)

    create_booking_overlap_guard()


ACTIVE = "('held', 'confirmed')"


def create_booking_overlap_guard() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # btree_gist lets a GiST index compare the integer resource_id with "=" next to the
        # range "&&". It is a trusted extension (PostgreSQL 13+): a database owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            f"""
            ALTER TABLE booking ADD CONSTRAINT booking_no_overlap
            EXCLUDE USING gist (
                resource_id WITH =,
                tstzrange(block_start, block_end, '[)') WITH &&
            ) WHERE (status IN {ACTIVE})
            """
        )
    elif bind.dialect.name == "sqlite":
        # Timestamps are stored as naive UTC text in one fixed format
        # ('YYYY-MM-DD HH:MM:SS.ffffff'), so text comparison orders them correctly.
        overlap = f"""
            SELECT RAISE(ABORT, 'booking_overlap')
            WHERE EXISTS (
                SELECT 1 FROM booking AS other
                WHERE other.resource_id = NEW.resource_id
                  AND other.status IN {ACTIVE}
                  AND other.block_start < NEW.block_end
                  AND NEW.block_start < other.block_end
                  AND other.id IS NOT NEW.id
            );
        """
        op.execute(
            f"""
            CREATE TRIGGER booking_no_overlap_insert
            BEFORE INSERT ON booking
            WHEN NEW.status IN {ACTIVE}
            BEGIN {overlap} END
            """
        )
        op.execute(
            f"""
            CREATE TRIGGER booking_no_overlap_update
            BEFORE UPDATE OF resource_id, block_start, block_end, status ON booking
            WHEN NEW.status IN {ACTIVE}
            BEGIN {overlap} END
            """
        )
    else:  # pragma: no cover - we support exactly these two
        raise RuntimeError(f"no booking overlap guard for {bind.dialect.name}")


def drop_booking_overlap_guard() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE booking DROP CONSTRAINT IF EXISTS booking_no_overlap")
    elif bind.dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS booking_no_overlap_insert")
        op.execute("DROP TRIGGER IF EXISTS booking_no_overlap_update")


def downgrade() -> None:
    drop_booking_overlap_guard()
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_membership_user_id'))
        batch_op.drop_index(batch_op.f('ix_membership_tier_id'))

    op.drop_table('membership')
    op.drop_table('induction')
    with op.batch_alter_table('booking', schema=None) as batch_op:
        batch_op.drop_index('ix_booking_user_starts')
        batch_op.drop_index('ix_booking_status_hold')
        batch_op.drop_index(batch_op.f('ix_booking_series_uid'))
        batch_op.drop_index('ix_booking_resource_block')

    op.drop_table('booking')
    with op.batch_alter_table('block', schema=None) as batch_op:
        batch_op.drop_index('ix_block_resource_range')
        batch_op.drop_index('ix_block_location_range')

    op.drop_table('block')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entry_object')
        batch_op.drop_index('ix_audit_entry_at')
        batch_op.drop_index(batch_op.f('ix_audit_entry_actor_id'))
        batch_op.drop_index(batch_op.f('ix_audit_entry_action'))

    op.drop_table('audit_entry')
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_company_id'))

    op.drop_table('user')
    op.drop_table('tier_kind_price')
    with op.batch_alter_table('resource', schema=None) as batch_op:
        batch_op.drop_index('ix_resource_location_kind')

    op.drop_table('resource')
    op.drop_table('opening_hours')
    with op.batch_alter_table('closure', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_closure_location_id'))

    op.drop_table('closure')
    op.drop_table('tier')
    op.drop_table('location')
    op.drop_table('company')

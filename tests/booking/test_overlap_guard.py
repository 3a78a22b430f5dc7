"""The database itself refuses overlapping active bookings, whoever writes them.

These tests bypass every service on purpose: they write rows through the ORM and through raw
SQL, as a buggy code path or an operator with psql might, and expect each database's guard
(exclusion constraint on PostgreSQL, triggers on SQLite) to say no.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from schiller40.extensions import db
from schiller40.models import Booking, BookingStatus, ResourceKind

T10 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # 10:00 in Wolfsburg
H = timedelta(hours=1)


def assert_refused_by_guard(exc_info: pytest.ExceptionInfo[IntegrityError], backend: str) -> None:
    """The error must come from the overlap guard, not from some other constraint."""
    orig = exc_info.value.orig
    if backend == "postgresql":
        assert getattr(orig, "sqlstate", None) == "23P01", orig  # exclusion_violation
        assert "booking_no_overlap" in str(orig)
    else:
        assert "booking_overlap" in str(orig)


def active_count(resource_id: int) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Booking).where(
            Booking.resource_id == resource_id,
            Booking.status.in_([BookingStatus.HELD, BookingStatus.CONFIRMED]),
        )
    )


@pytest.fixture
def room(factory):
    """A resource without buffers, so ranges meet exactly."""
    return factory.resource(kind=ResourceKind.ROOM, buffer_after_minutes=0)


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        pytest.param(timedelta(0), 2 * H, id="identical"),
        pytest.param(H, 2 * H, id="overlaps-the-end"),
        pytest.param(-H, 2 * H, id="overlaps-the-start"),
        pytest.param(timedelta(minutes=30), timedelta(minutes=30), id="inside"),
        pytest.param(-H, 4 * H, id="surrounds"),
    ],
)
def test_overlapping_insert_is_refused(factory, room, backend, offset, length):
    factory.booking(resource=room, starts_at=T10, duration=2 * H)
    db.session.commit()
    with pytest.raises(IntegrityError) as exc_info:
        factory.booking(resource=room, starts_at=T10 + offset, duration=length)
    assert_refused_by_guard(exc_info, backend)
    db.session.rollback()
    assert active_count(room.id) == 1


def test_raw_sql_insert_is_refused(factory, room, backend):
    existing = factory.booking(resource=room, starts_at=T10, duration=2 * H)
    db.session.commit()
    insert = text(
        """
        INSERT INTO booking (uid, resource_id, user_id, starts_at, ends_at, block_start,
            block_end, status, price_gross_cents, price_net_cents, price_tax_cents,
            credit_half_days, credit_minutes, sequence, note, created_at, updated_at)
        VALUES (:uid, :rid, :uid_user, :s, :e, :s, :e, 'confirmed', 0, 0, 0, 0, 0, 0, '', :s, :s)
        """
    )
    start, end = T10 + H, T10 + 3 * H
    params = {"uid": "raw-1", "rid": room.id, "uid_user": existing.user_id}
    if backend == "sqlite":  # what UTCDateTime would write: naive UTC text
        params |= {"s": start.replace(tzinfo=None), "e": end.replace(tzinfo=None)}
    else:
        params |= {"s": start, "e": end}
    with pytest.raises(IntegrityError) as exc_info:
        db.session.execute(insert, params)
    assert_refused_by_guard(exc_info, backend)
    db.session.rollback()
    assert active_count(room.id) == 1


def test_adjacent_bookings_are_allowed(factory, room):
    factory.booking(resource=room, starts_at=T10, duration=2 * H)
    factory.booking(resource=room, starts_at=T10 + 2 * H, duration=H)
    factory.booking(resource=room, starts_at=T10 - H, duration=H)
    db.session.commit()
    assert active_count(room.id) == 3


def test_buffer_after_blocks_the_next_start(factory, backend):
    studio = factory.resource(kind=ResourceKind.STUDIO, buffer_after_minutes=30)
    factory.booking(resource=studio, starts_at=T10, duration=2 * H)  # blocks until 12:30
    db.session.commit()
    with pytest.raises(IntegrityError) as exc_info:
        factory.booking(resource=studio, starts_at=T10 + 2 * H, duration=H)
    assert_refused_by_guard(exc_info, backend)
    db.session.rollback()
    factory.booking(resource=studio, starts_at=T10 + 2 * H + timedelta(minutes=30), duration=H)
    db.session.commit()
    assert active_count(studio.id) == 2


def test_other_resources_and_inactive_bookings_do_not_block(factory, room):
    other = factory.resource(kind=ResourceKind.ROOM, location=room.location)
    factory.booking(resource=room, starts_at=T10, duration=2 * H)
    factory.booking(resource=other, starts_at=T10, duration=2 * H)
    factory.booking(resource=room, starts_at=T10, duration=2 * H, status=BookingStatus.CANCELLED)
    factory.booking(resource=room, starts_at=T10, duration=2 * H, status=BookingStatus.EXPIRED)
    db.session.commit()
    assert active_count(room.id) == 1
    assert active_count(other.id) == 1


def test_a_hold_blocks_like_a_confirmed_booking(factory, room, backend):
    factory.booking(resource=room, starts_at=T10, duration=2 * H, status=BookingStatus.HELD)
    db.session.commit()
    with pytest.raises(IntegrityError) as exc_info:
        factory.booking(resource=room, starts_at=T10, duration=H)
    assert_refused_by_guard(exc_info, backend)


def test_cancelling_frees_the_slot(factory, room):
    first = factory.booking(resource=room, starts_at=T10, duration=2 * H)
    db.session.commit()
    first.status = BookingStatus.CANCELLED
    db.session.commit()
    factory.booking(resource=room, starts_at=T10, duration=2 * H)
    db.session.commit()
    assert active_count(room.id) == 1


def test_moving_onto_another_booking_is_refused(factory, room, backend):
    factory.booking(resource=room, starts_at=T10, duration=2 * H)
    later = factory.booking(resource=room, starts_at=T10 + 4 * H, duration=H)
    db.session.commit()
    later.set_range(T10 + H, T10 + 2 * H, room)
    with pytest.raises(IntegrityError) as exc_info:
        db.session.commit()
    assert_refused_by_guard(exc_info, backend)


def test_moving_to_another_resource_that_is_taken_is_refused(factory, room, backend):
    other = factory.resource(kind=ResourceKind.ROOM, location=room.location)
    factory.booking(resource=other, starts_at=T10, duration=2 * H)
    mine = factory.booking(resource=room, starts_at=T10, duration=2 * H)
    db.session.commit()
    mine.resource = other
    with pytest.raises(IntegrityError) as exc_info:
        db.session.commit()
    assert_refused_by_guard(exc_info, backend)


def test_reactivating_a_cancelled_booking_on_a_taken_slot_is_refused(factory, room, backend):
    old = factory.booking(
        resource=room, starts_at=T10, duration=2 * H, status=BookingStatus.CANCELLED
    )
    factory.booking(resource=room, starts_at=T10, duration=2 * H)
    db.session.commit()
    old.status = BookingStatus.CONFIRMED
    with pytest.raises(IntegrityError) as exc_info:
        db.session.commit()
    assert_refused_by_guard(exc_info, backend)


def test_a_booking_may_be_shortened_in_place(factory, room):
    """The update trigger must not see a booking as overlapping itself."""
    mine = factory.booking(resource=room, starts_at=T10, duration=2 * H)
    db.session.commit()
    mine.set_range(T10, T10 + H, room)
    mine.sequence += 1
    db.session.commit()
    assert active_count(room.id) == 1

"""UTC storage on both databases and local-time helpers across clock changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError

from schiller40.core.time import BERLIN, FrozenClock, local_datetime, to_local
from schiller40.extensions import db
from schiller40.models import Booking


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "wall", "expected_utc"),
    [
        pytest.param(date(2026, 1, 15), time(9), utc(2026, 1, 15, 8), id="winter"),
        pytest.param(date(2026, 7, 15), time(9), utc(2026, 7, 15, 7), id="summer"),
        # Clock changes: 29 March 2026 (02:00 -> 03:00), 25 October 2026 (03:00 -> 02:00),
        # 28 March 2027.
        pytest.param(date(2026, 3, 29), time(9), utc(2026, 3, 29, 7), id="spring-day"),
        pytest.param(date(2026, 3, 29), time(1, 30), utc(2026, 3, 29, 0, 30), id="spring-before"),
        pytest.param(date(2026, 10, 25), time(9), utc(2026, 10, 25, 8), id="autumn-day"),
        # 02:30 happens twice on 25 October: the first (summer time) one is meant.
        pytest.param(date(2026, 10, 25), time(2, 30), utc(2026, 10, 25, 0, 30), id="autumn-twice"),
        pytest.param(date(2027, 3, 28), time(11), utc(2027, 3, 28, 9), id="spring-2027"),
    ],
)
def test_local_datetime_maps_wall_time_to_the_right_instant(day, wall, expected_utc):
    assert local_datetime(day, wall) == expected_utc


@pytest.mark.parametrize("day", [date(2026, 3, 29), date(2026, 10, 25), date(2027, 3, 28)])
def test_nine_to_eleven_on_a_clock_change_day_lasts_two_hours(day):
    start, end = local_datetime(day, time(9)), local_datetime(day, time(11))
    assert end - start == timedelta(hours=2)


def test_the_spring_gap_is_normalised_forward():
    # 02:30 does not exist on 29 March 2026; it is read as 03:30 summer time.
    instant = local_datetime(date(2026, 3, 29), time(2, 30))
    assert instant.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_to_local_refuses_naive_values():
    with pytest.raises(ValueError, match="aware"):
        to_local(datetime(2026, 1, 1, 12))  # noqa: DTZ001


def test_frozen_clock_moves_only_when_told():
    clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    assert clock() == clock()
    clock.advance(timedelta(minutes=5))
    assert clock() == datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        FrozenClock(datetime(2026, 1, 1))  # noqa: DTZ001


def test_instants_round_trip_as_aware_utc(factory, backend):
    summer_local = datetime(2026, 7, 1, 10, 0, tzinfo=BERLIN)
    booking = factory.booking(starts_at=summer_local)
    db.session.commit()
    booking_id = booking.id
    db.session.expunge_all()
    loaded = db.session.get(Booking, booking_id)
    assert loaded.starts_at.tzinfo is not None
    assert loaded.starts_at.utcoffset() == timedelta(0)
    assert loaded.starts_at == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    # What the database holds is UTC too, not the local wall time.
    raw = db.session.execute(
        text("SELECT starts_at FROM booking WHERE id = :id"), {"id": booking_id}
    ).scalar_one()
    raw_text = str(raw)
    assert raw_text.startswith("2026-07-01 08:00:00"), raw_text


def test_other_offsets_are_converted_not_reinterpreted(factory):
    plus_five = timezone(timedelta(hours=5))
    booking_id = factory.booking(starts_at=datetime(2026, 7, 1, 13, 0, tzinfo=plus_five)).id
    db.session.commit()
    db.session.expunge_all()
    found = db.session.scalar(select(Booking.starts_at).where(Booking.id == booking_id))
    assert found == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def test_naive_datetimes_are_refused(factory):
    booking = factory.booking()
    db.session.commit()
    booking.cancelled_at = datetime(2026, 7, 1, 8, 0)  # noqa: DTZ001
    with pytest.raises(StatementError, match="naive datetime"):
        db.session.commit()
    db.session.rollback()
